using System.Diagnostics;
using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace MLNet.Regularization.Tests.Experiments;

public class ComparisonTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly Dataset Data = TestData.Blobs(240, 6, 3, seed: 4, spread: 2.5f);

    private static ModelSpec Base(int epochs = 4) => new() { Hidden = [16], Training = new TrainingSpec { Epochs = epochs, BatchSize = 32 } };

    [Theory]
    [InlineData(RankingMetric.Accuracy)]
    [InlineData(RankingMetric.LogLoss)]
    [InlineData(RankingMetric.MacroF1)]
    public void The_leaderboard_ranks_by_the_chosen_metric(RankingMetric metric)
    {
        var result = new Comparison(new ComparisonOptions { Metric = metric, Seed = 3 }).RunGrid(SearchSpace.RegularizerGrid(Base()).Take(4), Data);
        Assert.Equal(4, result.Leaderboard.Count);
        Assert.Equal([1, 2, 3, 4], result.Leaderboard.Select(t => t.Rank));
        var scores = result.Leaderboard.Select(t => t.Get(metric).Mean).ToList();
        var sorted = metric == RankingMetric.LogLoss ? scores.Order().ToList() : scores.OrderDescending().ToList();
        Assert.Equal(sorted, scores);
        Assert.Same(result.Leaderboard[0], result.Best);
        Assert.False(result.Cancelled);
        Assert.False(result.BudgetExhausted);
    }

    [Fact]
    public void The_best_model_reproduces_its_reported_validation_metrics()
    {
        var options = new ComparisonOptions { Seeds = 2, Seed = 5, HoldoutFraction = 0.25 };
        var result = new Comparison(options).RunGrid(SearchSpace.RegularizerGrid(Base()).Take(3), Data);
        var best = result.Best!;
        Assert.Equal(2, best.Runs.Count);
        Assert.Contains(best.BestRun!, best.Runs);
        Assert.True(best.BestRun!.Validation.Accuracy >= best.Runs.Max(r => r.Validation.Accuracy));

        // The holdout split is DataSplit's, seeded with the comparison's seed: score the model on it again.
        var (_, validation) = DataSplit.StratifiedSplit(Data, 0.25, 5);
        var again = Metrics.Evaluate(result.BestModel!, validation);
        Assert.Equal(best.BestRun.Validation.Accuracy, again.Accuracy);
        Assert.Equal(best.BestRun.Validation.LogLoss, again.LogLoss, 10);
        Assert.Equal(result.ValidationCount, validation.Count);

        // Mean and sample standard deviation over the two seeds.
        var accuracies = best.Runs.Select(r => r.Validation.Accuracy).ToArray();
        Assert.Equal(accuracies.Average(), best.Accuracy.Mean, 12);
        Assert.Equal(Math.Abs(accuracies[0] - accuracies[1]) / Math.Sqrt(2), best.Accuracy.StdDev, 12);
    }

    [Fact]
    public void K_fold_trains_every_seed_on_every_fold()
    {
        var result = new Comparison(new ComparisonOptions { Validation = ValidationMethod.KFold, Folds = 3, Seeds = 2 })
            .RunGrid([Base(2)], Data);
        var trial = Assert.Single(result.Leaderboard);
        Assert.Equal(6, trial.Runs.Count);
        Assert.Equal([0, 1, 2, 0, 1, 2], trial.Runs.Select(r => r.Fold));
        Assert.Equal(2, trial.Runs.Select(r => r.Seed).Distinct().Count());
        Assert.All(trial.Runs, r => Assert.Equal(2, r.History.Epochs.Count));
        Assert.All(trial.Runs, r => Assert.NotNull(r.History.Epochs[^1].ValidationLoss));
    }

    [Fact]
    public void Random_search_stops_at_the_trial_limit_with_distinct_configurations()
    {
        var reports = new List<ComparisonProgress>();
        var result = new Comparison(new ComparisonOptions { MaxTrials = 3 })
            .RunRandomSearch(Base(2), new SearchSpace(), Data, new SyncProgress(reports.Add));
        Assert.Equal(3, result.Trials.Count);
        Assert.Equal(["random 1: ", "random 2: ", "random 3: "], result.Trials.Select(t => t.Name[..(t.Name.IndexOf(':') + 2)]));
        Assert.All(result.Trials, t => Assert.EndsWith(t.Spec!.DescribeRegularizers(), t.Name));
        Assert.Equal(3, result.Trials.Select(t => t.Spec!.Describe()).Distinct().Count());
        Assert.Equal(3, reports.Count(r => r.Kind == ComparisonProgressKind.TrialStarted));
        Assert.Equal(3, reports.Count(r => r.Kind == ComparisonProgressKind.TrialFinished));
        Assert.Equal(6, reports.Count(r => r.Kind == ComparisonProgressKind.Epoch));
        Assert.All(reports, r => Assert.Equal(3, r.MaxTrials));

        Assert.Throws<ArgumentException>(() => new Comparison().RunRandomSearch(Base(), new SearchSpace(), Data));
    }

    [Fact]
    public void A_cancelled_comparison_keeps_the_leaderboard_of_finished_trials()
    {
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p =>
        {
            if (p.Kind == ComparisonProgressKind.TrialStarted && p.Trial == 2)
            {
                cts.Cancel();
            }
        });
        var result = new Comparison().RunGrid(SearchSpace.RegularizerGrid(Base()), Data, progress, cts.Token);
        Assert.True(result.Cancelled);
        Assert.Equal(2, result.Trials.Count);
        Assert.Equal(TrialStatus.Cancelled, result.Trials[1].Status);
        Assert.Equal("none", Assert.Single(result.Leaderboard).Name);
        Assert.NotNull(result.BestModel);
    }

    /// <summary>The budget measured on a fake clock that the test moves by 0.2 s per epoch, so the outcome does not
    /// depend on how busy the machine is: the deadline of 4.5 s must interrupt the search within one epoch of it.</summary>
    [Fact]
    public void The_time_budget_stops_the_search_within_one_epoch_of_its_deadline()
    {
        var budget = TimeSpan.FromSeconds(4.5);
        var epoch = TimeSpan.FromSeconds(0.2);
        var time = new FakeTimeProvider();
        var progress = new SyncProgress(p =>
        {
            if (p.Kind == ComparisonProgressKind.Epoch)
            {
                time.Advance(epoch);
            }
        });
        var result = new Comparison(new ComparisonOptions { TimeBudget = budget, TimeProvider = time })
            .RunRandomSearch(new ModelSpec { Hidden = [16], Training = new TrainingSpec { Epochs = 5, BatchSize = 32 } }, new SearchSpace(), Data, progress);
        output.WriteLine($"elapsed {result.Elapsed.TotalSeconds:F3} s on the fake clock; trials: {string.Join("; ", result.Trials.Select(t => $"{t.Name} {t.Status}, {t.Runs.Sum(r => r.History.Epochs.Count)} epochs"))}");
        Assert.True(result.BudgetExhausted);
        Assert.InRange(result.Elapsed, budget, budget + epoch);
        Assert.True(result.Trials.Take(result.Trials.Count - 1).All(t => t.Status == TrialStatus.Completed));
        Assert.Contains(result.Trials[^1].Status, new[] { TrialStatus.Completed, TrialStatus.OutOfBudget });
        Assert.All(result.Leaderboard, t => Assert.Equal(TrialStatus.Completed, t.Status));
    }

    /// <summary>On the system clock the deadline is watched by a thread of its own; how punctually it wakes depends on
    /// the machine's load (the benchmarks measure that), so this only checks that it fires and never early.</summary>
    [Fact]
    public void The_system_clock_budget_stops_the_search_and_not_before_its_deadline()
    {
        var budget = TimeSpan.FromSeconds(2);
        var clock = Stopwatch.StartNew();
        var result = new Comparison(new ComparisonOptions { TimeBudget = budget })
            .RunRandomSearch(new ModelSpec { Hidden = [64], Training = new TrainingSpec { Epochs = 30, BatchSize = 16 } }, new SearchSpace(), Data);
        double seconds = clock.Elapsed.TotalSeconds;
        output.WriteLine($"elapsed {seconds:F3} s, result {result.Elapsed.TotalSeconds:F3} s");
        Assert.True(result.BudgetExhausted);
        Assert.True(result.Elapsed >= budget, $"the comparison stopped after {result.Elapsed.TotalSeconds:F2} s, before its budget");
        Assert.True(result.Trials.Take(result.Trials.Count - 1).All(t => t.Status == TrialStatus.Completed));
    }

    [Fact]
    public void A_diverging_configuration_fails_without_stopping_the_others()
    {
        var configurations = new[]
        {
            new ComparisonConfiguration("diverges", () => Network.Sequential(new Dense(16), new ReLU(), new Dense(3)), new TrainerOptions { Epochs = 3, Optimizer = new Sgd { LearningRate = 1e12f } }),
            ComparisonConfiguration.FromSpec(Base(2), "fine"),
        };
        var result = new Comparison().Run(configurations, Data);
        Assert.Equal(TrialStatus.Failed, result.Trials[0].Status);
        Assert.Contains("diverged", result.Trials[0].Error);
        Assert.Equal("fine", Assert.Single(result.Leaderboard).Name);
    }

    [Fact]
    public void Configuration_errors_are_argument_errors()
    {
        var wrongOutput = new ComparisonConfiguration("wrong", () => Network.Sequential(new Dense(5)), new TrainerOptions { Epochs = 1 });
        var e = Assert.Throws<ArgumentException>(() => new Comparison().Run([wrongOutput], Data));
        Assert.StartsWith("configuration 'wrong': ", e.Message);
        Assert.Throws<ArgumentException>(() => new Comparison().RunGrid([Base(), Base()], Data));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Comparison(new ComparisonOptions { Seeds = 0 }));
    }

    private sealed class SyncProgress(Action<ComparisonProgress> action) : IProgress<ComparisonProgress>
    {
        public void Report(ComparisonProgress value) => action(value);
    }
}
