using System.Text.Json;
using MLNet.Regularization.Experiments;
using Xunit;

namespace MLNet.Regularization.Tests.Samples;

/// <summary>samples/LongRun, which produces the rows of docs/RESULTS.md, run as a child process on a hundred
/// images of the committed subset: every run lands in the results file, a rerun skips what is there, other settings
/// make rows of their own, and the summary is the mean ± standard deviation of what the file holds.</summary>
public class LongRunSampleTests
{
    [Fact]
    public void Runs_land_in_the_results_file_a_rerun_skips_them_and_the_summary_averages_the_seeds()
    {
        string folder = Directory.CreateTempSubdirectory("longrun-").FullName;
        try
        {
            string results = Path.Combine(folder, "runs.jsonl"), report = Path.Combine(folder, "report.html");
            string[] cnn = ["--family", "cnn", "--limit", "100", "--epochs", "2", "--patience", "1", "--seeds", "1,2", "--only", "none,bn-dropout-cutout", "--threads", "1", "--results", results, "--report", report];
            var first = Run(cnn);
            Assert.True(first.Exit == 0, first.Stderr);
            var runs = Read(results);
            Assert.Equal([("bn-dropout-cutout", 1), ("bn-dropout-cutout", 2), ("none", 1), ("none", 2)], runs.Select(r => (r.GetProperty("Key").GetString()!, r.GetProperty("Seed").GetInt32())).Order());
            foreach (var r in runs)
            {
                Assert.InRange(r.GetProperty("TestAccuracy").GetDouble(), 0.1, 1.0);
                Assert.Equal(r.GetProperty("TrainAccuracy").GetDouble() - r.GetProperty("TestAccuracy").GetDouble(), r.GetProperty("Gap").GetDouble(), 12);
                Assert.InRange(r.GetProperty("BestEpoch").GetInt32(), 1, r.GetProperty("EpochsRun").GetInt32());
                Assert.Equal(r.GetProperty("EpochsRun").GetInt32(), r.GetProperty("ValidationLoss").GetArrayLength());
                Assert.True(r.GetProperty("SamplesPerSecond").GetDouble() > 0);
            }

            // The summary row of a configuration is the mean ± sample standard deviation of its two seeds.
            var none = runs.Where(r => r.GetProperty("Key").GetString() == "none").Select(r => r.GetProperty("TestAccuracy").GetDouble() * 100).ToArray();
            string row = first.Stdout.Split('\n').Single(l => l.StartsWith("| none (`none`) |", StringComparison.Ordinal));
            Assert.StartsWith($"| none (`none`) | 1,2 | {MetricSummary.Of(none).Format("F2")} % |", row);
            Assert.Contains("data-config=\"BN + dropout 0.5 + Cutout 10px\"", File.ReadAllText(report));

            // The same command again trains nothing.
            var again = Run(cnn);
            Assert.True(again.Exit == 0, again.Stderr);
            Assert.Equal(4, again.Stdout.Split('\n').Count(l => l.Contains("already in", StringComparison.Ordinal)));
            Assert.Equal(4, Read(results).Count);

            // The MLP family in the same file, one epoch: max-norm and the dropout kind are part of a run's settings.
            var mlp = Run(["--family", "mlp", "--limit", "100", "--epochs", "1", "--patience", "1", "--seeds", "1", "--threads", "2", "--results", results, "--report", report,
                "--only", "dropout,dropout-maxnorm,gaussian"]);
            Assert.True(mlp.Exit == 0, mlp.Stderr);
            var mlpRuns = Read(results).Where(r => r.GetProperty("Family").GetString() == "mlp").ToList();
            Assert.Equal(3, mlpRuns.Count);
            Assert.Equal(7, Read(results).Count);
            Assert.Contains("max-norm=3", mlpRuns.Single(r => r.GetProperty("Key").GetString() == "dropout-maxnorm").GetProperty("Settings").GetString());
            Assert.Contains("max-norm=off", mlpRuns.Single(r => r.GetProperty("Key").GetString() == "dropout").GetProperty("Settings").GetString());
            Assert.Contains("GaussianDropout", mlpRuns.Single(r => r.GetProperty("Key").GetString() == "gaussian").GetProperty("Settings").GetString());

            // --summarize trains nothing and prints the same rows: a header, its rule and one row per CNN configuration.
            var summary = Run(["--family", "cnn", "--results", results, "--summarize"]);
            Assert.True(summary.Exit == 0, summary.Stderr);
            Assert.Contains(row, summary.Stdout);
            Assert.Equal(4, summary.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            Assert.Equal(7, Read(results).Count);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Unknown_configurations_and_a_missing_family_are_named()
    {
        var unknown = Run(["--family", "mlp", "--only", "none,dropblock", "--limit", "10"]);
        Assert.NotEqual(0, unknown.Exit);
        Assert.Contains("--only: no mlp configuration is called dropblock; the keys are none, dropout, dropout-0.2, dropout-maxnorm,", unknown.Stderr);
        var family = Run(["--epochs", "3"]);
        Assert.NotEqual(0, family.Exit);
        Assert.Contains("--family mlp or --family cnn is required", family.Stderr);
        var seeds = Run(["--family", "cnn", "--seeds", "1,x"]);
        Assert.Contains("option --seeds takes non-negative integers separated by commas, got 'x'", seeds.Stderr);
    }

    private static List<JsonElement> Read(string path) =>
        File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    private static (int Exit, string Stdout, string Stderr) Run(string[] arguments) => SampleProcess.Run("LongRun", SampleProcess.Repository, arguments);
}
