using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.Tests.Training;

/// <summary>
/// samples/BayesianDropout end to end on the committed subset, with one epoch so that it stays cheap: every requested
/// method gets its row, DropConnect is scored with both inferences, the HTML report has the learned-noise table and
/// the ONNX exports are written; bad options end the sample with an error that names them.
/// </summary>
public sealed class BayesianDropoutSampleTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("bayesian-dropout-sample-").FullName;

    /// <inheritdoc />
    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void The_sample_compares_the_methods_and_writes_the_report_and_the_models()
    {
        string report = Path.Combine(_folder, "report.html"), models = Path.Combine(_folder, "onnx");
        var (exit, stdout, stderr) = RunSample(
            ["--epochs", "1", "--mc-samples", "3", "--threads", "1", "--only", "dropout,sparse,sbp,dropconnect", "--report", report, "--export", models]);
        output.WriteLine(stdout);
        Assert.True(exit == 0, $"the sample failed (exit {exit}):\n{stderr}\n{stdout}");

        // One row per method: test accuracy, log-loss, MC accuracy, MC log-loss, MC ECE, ECE, weights kept.
        foreach (string method in new[] { "dropout 0.2/0.5", "sparse variational dropout", "structured Bayesian pruning", "DropConnect 0.5", "  same weights, Gaussian inference" })
        {
            var row = Regex.Match(stdout, "^" + Regex.Escape(method) + @" +(\d+\.\d\d)% +(\d+\.\d{4}) +(\d+\.\d\d)% +(\d+\.\d{4}) +(\d\.\d{4}) +(\d\.\d{4}) +([\d.]+)%", RegexOptions.Multiline);
            Assert.True(row.Success, $"no result row for '{method}' in:\n{stdout}");
            double accuracy = double.Parse(row.Groups[1].Value, CultureInfo.InvariantCulture), kept = double.Parse(row.Groups[7].Value, CultureInfo.InvariantCulture);
            Assert.InRange(accuracy, 30, 100); // ten classes: well above chance after one epoch
            Assert.InRange(kept, 0, 100);
            if (method == "sparse variational dropout")
            {
                // θ's smallest initial weights start over log α = 3 (log σ² starts at −10), so the mask removes some at once.
                Assert.True(kept < 100, row.Value);
            }
        }

        Assert.Matches(@"structured Bayesian pruning: input features \d+/784 kept \(masked\), hidden units 300-100 -> \d+-\d+", stdout);
        Assert.Matches(@"C# inference, batch 1000: full [\d,]+ samples/s, smaller [\d,]+ samples/s", stdout);

        string html = File.ReadAllText(report);
        Assert.Contains("<h2>Learned noise and sparsity per layer</h2>", html);
        foreach (string configuration in new[] { "sparse variational dropout", "structured Bayesian pruning" })
        {
            Assert.Contains($"class=\"learned-layer\" data-config=\"{configuration}\"", html);
        }

        foreach (string file in new[] { "sbp-full.onnx", "sbp-shrunk.onnx", "sparse-vd.onnx", "dropout.onnx" })
        {
            Assert.True(new FileInfo(Path.Combine(models, file)) is { Exists: true, Length: > 1000 }, $"{file} was not written");
        }
    }

    [Fact]
    public void Bad_options_end_the_sample_with_an_error_that_names_them()
    {
        var (exit, _, stderr) = RunSample(["--only", "dropout,magic"]);
        Assert.Equal(2, exit);
        Assert.Contains("--only takes none, dropout, fast, variational, sparse, concrete, standout, sbp, dropconnect, got 'magic'", stderr);

        (exit, _, stderr) = RunSample(["--epochs", "many"]);
        Assert.Equal(2, exit);
        Assert.Contains("option --epochs needs a non-negative integer, got 'many'", stderr);
    }

    private (int Exit, string Stdout, string Stderr) RunSample(IEnumerable<string> arguments) => Samples.SampleProcess.Run("BayesianDropout", _folder, arguments);
}
