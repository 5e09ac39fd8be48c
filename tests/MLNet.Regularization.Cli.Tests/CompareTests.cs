using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using MLNet.Regularization.Cli;
using MLNet.Regularization.Experiments;
using Xunit;

namespace MLNet.Regularization.Cli.Tests;

public sealed class CompareTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData("log-loss")]
    [InlineData("macro-f1")]
    public void The_leaderboard_ranks_by_the_chosen_metric(string metric)
    {
        var r = Tool.Run(["compare", Tool.TrainCsv, .. Tool.Quick, "--epochs", "6", "--metric", metric, "--json", "--output", _folder.File("best.onnx")]);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        string property = metric == "log-loss" ? "logLoss" : "macroF1";
        var ranked = doc.RootElement.GetProperty("trials").EnumerateArray().Where(t => t.GetProperty("status").GetString() == "completed").ToList();
        Assert.Equal(8, ranked.Count);
        Assert.Equal(Enumerable.Range(1, 8), ranked.Select(t => t.GetProperty("rank").GetInt32()));
        var scores = ranked.Select(t => t.GetProperty(property).GetProperty("mean").GetDouble()).ToList();
        Assert.Equal(metric == "log-loss" ? scores.Order() : scores.OrderDescending(), scores);
        Assert.Equal(ranked[0].GetProperty("name").GetString(), doc.RootElement.GetProperty("best").GetProperty("name").GetString());
    }

    [Fact]
    public void The_exported_best_model_reproduces_its_reported_test_accuracy()
    {
        string model = _folder.File("best.onnx"), report = _folder.File("report.html"), board = _folder.File("leaderboard.csv");
        var r = Tool.Run(["compare", Tool.TrainCsv, .. Tool.Quick, "--epochs", "12", "--test", Tool.TestCsv, "--seeds", "2", "--output", model, "--report", report, "--leaderboard", board, "--json"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(File.Exists(model) && File.Exists(report) && File.Exists(board));
        using var doc = JsonDocument.Parse(r.Out);
        var best = doc.RootElement.GetProperty("best");
        double reported = best.GetProperty("test").GetProperty("accuracy").GetDouble();
        Assert.InRange(reported, 0.5, 1.0);

        var evaluated = Tool.Run("evaluate", model, Tool.TestCsv, "--label", "label", "--json");
        Assert.True(evaluated.ExitCode == 0, evaluated.ToString());
        using var eval = JsonDocument.Parse(evaluated.Out);
        Assert.Equal(reported, eval.RootElement.GetProperty("metrics").GetProperty("accuracy").GetDouble());

        // The leaderboard CSV lists the eight standard configurations, ranked.
        var rows = File.ReadAllLines(board);
        Assert.Equal(9, rows.Length);
        Assert.StartsWith("rank,configuration,status,accuracy", rows[0]);
        Assert.StartsWith("1,", rows[1]);
    }

    [Fact]
    public void K_fold_with_seeds_trains_every_fold_for_every_seed_and_prints_a_table()
    {
        string configs = _folder.Write("grid.json", """
            [ { "name": "small", "hidden": [16], "training": { "epochs": 4, "batchSize": 32 } },
              { "name": "small + dropout", "hidden": [16], "dropout": 0.3, "training": { "epochs": 4, "batchSize": 32 } } ]
            """);
        var r = Tool.Run("compare", Tool.TrainCsv, "--label", "label", "--configs", configs, "--folds", "3", "--seeds", "2", "--output", _folder.File("best.onnx"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("trial 1/2  small: validation accuracy", r.Out);
        Assert.Contains("Leaderboard (validation accuracy, 12 runs: 2 seed(s) × 3 folds × 2 repeats):", r.Out);
        Assert.Contains("small + dropout", r.Out);
        Assert.Contains("3-fold cross-validation repeated 2 times", r.Out);
        Assert.Empty(r.Err);
    }

    [Fact]
    public void A_cancelled_compare_still_writes_the_leaderboard_of_finished_trials()
    {
        string board = _folder.File("leaderboard.csv"), report = _folder.File("report.html"), model = _folder.File("best.onnx");
        using var cts = new CancellationTokenSource();
        var r = Tool.Run(
            p =>
            {
                if (p.Kind == ComparisonProgressKind.TrialStarted && p.Trial == 3)
                {
                    cts.Cancel();
                }
            },
            cts.Token,
            ["compare", Tool.TrainCsv, .. Tool.Quick, "--epochs", "4", "--leaderboard", board, "--report", report, "--output", model]);
        Assert.True(r.ExitCode == Program.Cancelled, r.ToString());
        Assert.Contains("mlnet-reg: cancelled: 2 trial(s) finished", r.Err);

        var rows = File.ReadAllLines(board).Skip(1).ToList();
        Assert.Equal(3, rows.Count);
        Assert.Equal(2, rows.Count(l => l.Contains(",completed,", StringComparison.Ordinal)));
        Assert.Contains(rows, l => l.StartsWith(",dropout + max-norm,cancelled,", StringComparison.Ordinal));
        Assert.Contains("class=\"series\" data-config=\"none\"", File.ReadAllText(report));
        Assert.True(File.Exists(model));
        Assert.Contains("Leaderboard", r.Out);
    }

    [Fact]
    public void Interactive_output_goes_through_Spectre_without_breaking()
    {
        var r = Tool.RunInteractive(["compare", Tool.TrainCsv, .. Tool.Quick, "--epochs", "2", "--configs", WriteTwoConfigs(), "--output", _folder.File("best.onnx")]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("leaderboard by validation accuracy", r.Out);
        Assert.Contains("\u001b[", r.Out);
    }

    [Fact]
    public void Quiet_and_json_print_no_progress()
    {
        var quiet = Tool.Run(["compare", Tool.TrainCsv, .. Tool.Quick, "--epochs", "2", "--configs", WriteTwoConfigs(), "--quiet", "--output", _folder.File("a.onnx")]);
        Assert.True(quiet.ExitCode == 0, quiet.ToString());
        Assert.DoesNotContain("trial 1", quiet.Out);
        Assert.Contains("Leaderboard", quiet.Out);
        Assert.DoesNotContain("\u001b[", quiet.Out);

        var json = Tool.Run(["compare", Tool.TrainCsv, .. Tool.Quick, "--epochs", "2", "--configs", WriteTwoConfigs(), "--json", "--output", _folder.File("b.onnx")]);
        Assert.True(json.ExitCode == 0, json.ToString());
        using var doc = JsonDocument.Parse(json.Out);
        Assert.Equal(2, doc.RootElement.GetProperty("trials").GetArrayLength());
    }

    private string WriteTwoConfigs() => _folder.Write("two.json", """[ { "name": "a", "hidden": [8] }, { "name": "b", "hidden": [8], "batchNorm": true } ]""");
}

/// <summary>Timing-sensitive: runs alone, so the other tests do not share its two cores.</summary>
[CollectionDefinition("timing", DisableParallelization = true)]
public sealed class TimingCollection;

[Collection("timing")]
public sealed class TimeBudgetTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>The budget is measured on a fake clock that the test moves by 0.2 s per epoch, so the outcome does not
    /// depend on how busy the machine is (a wall-clock version of this test failed under load with "the time budget
    /// ended during the first trial"). Trials of 5 epochs take 1 s each: four finish, the deadline of 4.5 s interrupts
    /// the fifth in its third epoch, and the comparison stops within that epoch. How long real epochs and the
    /// deadline's wake-up take is measured by the benchmarks, not here.</summary>
    [Fact]
    public void Compare_stops_within_one_epoch_of_its_time_budget()
    {
        var time = new FakeTimeProvider();
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var context = new CliContext(stdout, stderr, interactive: false, CancellationToken.None)
        {
            Time = time,
            ComparisonObserver = p =>
            {
                if (p.Kind == ComparisonProgressKind.Epoch)
                {
                    time.Advance(TimeSpan.FromSeconds(0.2));
                }
            },
        };
        int code = MLNet.Regularization.Cli.Cli.Run(
            ["compare", Tool.TrainCsv, "--label", "label", "--search", "random", "--hidden", "16", "--epochs", "5", "--batch-size", "64",
             "--holdout", "0.2", "--time-budget", "4.5", "--json", "--output", _folder.File("best.onnx")], context);   // one run per trial
        var r = new CliResult(code, stdout.ToString(), stderr.ToString());
        output.WriteLine(r.ToString());
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        Assert.True(doc.RootElement.GetProperty("budgetExhausted").GetBoolean());
        var statuses = doc.RootElement.GetProperty("trials").EnumerateArray().Select(t => t.GetProperty("status").GetString()).ToList();
        Assert.Equal(4, statuses.Count(s => s == "completed"));
        Assert.Equal(5, statuses.Count);
        double seconds = doc.RootElement.GetProperty("elapsedSeconds").GetDouble();
        Assert.InRange(seconds, 4.5, 4.5 + 0.2);
    }
}
