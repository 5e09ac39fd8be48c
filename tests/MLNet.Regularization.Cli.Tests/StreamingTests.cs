using System.Buffers.Binary;
using System.Text.Json;
using MLNet.Regularization.Data;
using Xunit;

namespace MLNet.Regularization.Cli.Tests;

/// <summary>Issue 18: train --stream reads CSV and IDX files a mini-batch at a time, to the same model as loading them
/// whole; data larger than the process's memory trains when streamed, and is refused with the size it needs and the
/// option that streams it when loaded whole.</summary>
public sealed class StreamingTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private JsonDocument Train(string name, params string[] args)
    {
        var r = Tool.Run(["train", .. args, "--output", _folder.File(name + ".onnx"), "--json"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return JsonDocument.Parse(r.Out);
    }

    private static double[] Losses(JsonDocument json) =>
        json.RootElement.GetProperty("epochs").EnumerateArray().Select(e => e.GetProperty("trainLoss").GetDouble()).ToArray();

    private static double TestAccuracy(JsonDocument json) =>
        json.RootElement.GetProperty("metrics").GetProperty("test").GetProperty("accuracy").GetDouble();

    [Fact]
    public void Streamed_csv_trains_as_loaded_csv_and_writes_its_cache_once()
    {
        string cache = _folder.File("train.cache");
        string[] args = [Tool.TrainCsv, .. Tool.Quick, "--epochs", "3", "--validation", "0.2", "--test", Tool.TestCsv];
        using var loaded = Train("loaded", [.. args, "--in-memory"]);
        using var streamed = Train("streamed", [.. args, "--stream", "--cache", cache]);
        Assert.True(File.Exists(cache));
        Assert.Contains("streamed", streamed.RootElement.GetProperty("data").GetString());
        Assert.Equal(Losses(loaded), Losses(streamed));
        Assert.Equal(TestAccuracy(loaded), TestAccuracy(streamed));

        // The second run reads the cache: it is not rewritten.
        var written = File.GetLastWriteTimeUtc(cache);
        using var again = Train("again", [.. args, "--stream", "--cache", cache]);
        Assert.Equal(written, File.GetLastWriteTimeUtc(cache));
        Assert.Equal(Losses(loaded), Losses(again));
    }

    [Fact]
    public void Streamed_idx_trains_as_loaded_idx()
    {
        string[] args = [Tool.Idx("train-images-idx3-ubyte.gz"), "--labels", Tool.Idx("train-labels-idx1-ubyte.gz"), "--hidden", "32", "--epochs", "2",
            "--test", Tool.Idx("t10k-images-idx3-ubyte.gz"), "--test-labels", Tool.Idx("t10k-labels-idx1-ubyte.gz")];
        using var loaded = Train("loaded", [.. args, "--in-memory"]);
        using var streamed = Train("streamed", [.. args, "--stream"]);
        Assert.Equal(Losses(loaded), Losses(streamed));
        Assert.Equal(TestAccuracy(loaded), TestAccuracy(streamed));
        Assert.InRange(TestAccuracy(streamed), 0.6, 1.0);
    }

    [Theory]
    [InlineData("--in-memory", "exclude each other")]
    [InlineData("--input-shape", "--input-shape")]
    public void Streaming_options_that_cannot_apply_are_named(string option, string expected)
    {
        string[] extra = option == "--input-shape" ? ["--input-shape", "1,7,7"] : [option];
        var r = Tool.Run(["train", Tool.TrainCsv, .. Tool.Quick, "--epochs", "1", "--stream", .. extra, "--output", _folder.File("m.onnx")]);
        Assert.Equal(Program.UsageError, r.ExitCode);
        Assert.Contains(expected, r.Err);
    }

    /// <summary>320,000 generated 28×28 images (239 MiB as bytes, 957 MiB as floats: just under the readers' 1 GiB cap on
    /// data loaded whole, so that loading it runs out of memory) whose class is a bright band.</summary>
    private (string Images, string Labels) LargeIdx()
    {
        const int count = 320_000, side = 28, pixels = side * side;
        string images = _folder.File("large-images.idx"), labels = _folder.File("large-labels.idx");
        var classes = new byte[count];
        var rng = new Random(5);
        using (var file = new FileStream(images, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            Span<byte> header = stackalloc byte[16];
            BinaryPrimitives.WriteInt32BigEndian(header, 0x0803);
            BinaryPrimitives.WriteInt32BigEndian(header[4..], count);
            BinaryPrimitives.WriteInt32BigEndian(header[8..], side);
            BinaryPrimitives.WriteInt32BigEndian(header[12..], side);
            file.Write(header);
            var row = new byte[pixels];
            for (int i = 0; i < count; i++)
            {
                classes[i] = (byte)rng.Next(10);
                rng.NextBytes(row);
                for (int p = 0; p < pixels; p++)
                {
                    row[p] = (byte)((row[p] >> 2) + (p / side / 3 == classes[i] ? 160 : 0));
                }

                file.Write(row);
            }
        }

        IdxWriter.WriteLabels(labels, classes, gzip: false);
        return (images, labels);
    }

    [Fact]
    public void Data_nearly_four_times_the_heap_trains_streamed_and_is_refused_with_its_size_when_loaded_whole()
    {
        var (images, labels) = LargeIdx();
        var heap256 = new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "0x10000000" };

        // Loaded whole it cannot fit: the error says how much it needs and which option streams it.
        var whole = Tool.RunChild(["train", images, "--labels", labels, "--in-memory", "--epochs", "1", "--output", _folder.File("whole.onnx")], environment: heap256);
        Assert.True(whole.ExitCode == Program.DataError, whole.ToString());
        Assert.Contains("957 MB", whole.Err); // 320,000 × 784 × 4 bytes
        Assert.Contains("--stream", whole.Err);
        Assert.DoesNotContain("this is a bug", whole.Err);

        // Without an option it streams by itself (the floats would not fit a quarter of the heap) and completes.
        var streamed = Tool.RunChild(["train", images, "--labels", labels, "--epochs", "1", "--hidden", "32", "--batch-size", "256", "--output", _folder.File("streamed.onnx"), "--json"], environment: heap256);
        Assert.True(streamed.ExitCode == Program.Success, streamed.ToString());
        using var json = JsonDocument.Parse(streamed.Out.Trim());
        Assert.Contains("streamed", json.RootElement.GetProperty("data").GetString());
        var metrics = json.RootElement.GetProperty("metrics");
        Assert.Equal(320_000, metrics.GetProperty("train").GetProperty("count").GetInt32() + metrics.GetProperty("validation").GetProperty("count").GetInt32());
        Assert.InRange(metrics.GetProperty("validation").GetProperty("accuracy").GetDouble(), 0.9, 1.0);
        Assert.True(File.Exists(_folder.File("streamed.onnx")));
    }
}
