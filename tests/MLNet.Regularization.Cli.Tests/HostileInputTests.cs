using Xunit;

namespace MLNet.Regularization.Cli.Tests;

/// <summary>Issue 15: hostile data files through the tool.</summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Idx_headers_claiming_two_billion_examples_are_a_data_error_even_under_a_512_MB_heap()
    {
        // The 19-byte image file and 11-byte label file of the issue: 2,000,000,000 examples promised, a few bytes held.
        string images = _folder.File("images.idx");
        string labels = _folder.File("labels.idx");
        File.WriteAllBytes(images, [0x00, 0x00, 0x08, 0x03, 0x77, 0x35, 0x94, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x03]);
        File.WriteAllBytes(labels, [0x00, 0x00, 0x08, 0x01, 0x77, 0x35, 0x94, 0x00, 0x09, 0x02, 0x01]);
        var r = Tool.RunChild(["train", images, "--labels", labels, "--output", _folder.File("m.onnx")], environment: new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "0x20000000" });
        Assert.True(r.ExitCode == Program.DataError, r.ToString());
        Assert.Contains("ReaderLimits.MaxSampleCount", r.Err);
        Assert.DoesNotContain("OutOfMemory", r.Err);
    }

    [Fact]
    public void A_name_among_integer_labels_is_an_error_not_an_eleventh_class()
    {
        // The committed CSV with its class names replaced by indices 0..9, and one label "abc".
        var lines = File.ReadAllLines(Tool.TrainCsv).ToList();
        Assert.EndsWith(",label", lines[0]);
        var names = lines.Skip(1).Select(l => l[(l.LastIndexOf(',') + 1)..]).Distinct().Order(StringComparer.Ordinal).ToList();
        for (int i = 1; i < lines.Count; i++)
        {
            int comma = lines[i].LastIndexOf(',');
            lines[i] = lines[i][..(comma + 1)] + (i == 5 ? "abc" : names.IndexOf(lines[i][(comma + 1)..]).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        string path = _folder.File("mixed.csv");
        File.WriteAllLines(path, lines);
        var r = Tool.Run(["train", path, .. Tool.Quick, "--epochs", "1", "--output", _folder.File("m.onnx")]);
        Assert.True(r.ExitCode == Program.DataError, r.ToString());
        Assert.Contains("line 6, column 'label': label 'abc' is not a class index", r.Err);
    }
}
