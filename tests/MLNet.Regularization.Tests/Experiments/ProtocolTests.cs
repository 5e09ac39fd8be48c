using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Experiments;

/// <summary>The protocol of honest comparisons: defaults that converge, repeated k-fold, early stopping held out of
/// the ranked rows, and differences within noise marked as such.</summary>
public class ProtocolTests
{
    private static readonly Dataset Data = TestData.Blobs(150, 5, 3, seed: 8, spread: 2f);

    [Fact]
    public void Spec_defaults_train_to_convergence_with_early_stopping()
    {
        var t = new TrainingSpec();
        Assert.Equal(200, t.Epochs);
        Assert.Equal(10, t.EarlyStoppingPatience);
        Assert.Equal(0.1, t.ValidationFraction);
        Assert.Equal(1e-4f, t.EarlyStoppingMinDelta);
        var o = t.ToTrainerOptions();
        Assert.Equal((200, 10, 0.1, 1e-4f), (o.Epochs, o.EarlyStoppingPatience, o.ValidationFraction, o.EarlyStoppingMinDelta));
    }

    [Theory]
    [InlineData(100, 16)]
    [InlineData(133, 16)]
    [InlineData(1211, 32)]
    [InlineData(2500, 64)]
    [InlineData(5000, 128)]
    [InlineData(60000, 128)]
    public void The_batch_size_scales_with_small_data(int rows, int batch) => Assert.Equal(batch, TrainingSpec.BatchSizeFor(rows));

    [Fact]
    public void Data_defaults_fill_only_what_the_spec_leaves_out()
    {
        var unset = new TrainingSpec();
        Assert.False(unset.IsBatchSizeSet);
        Assert.Equal(TrainingSpec.DefaultBatchSize, unset.BatchSize);
        unset.ApplyDataDefaults(133, images: true);
        Assert.Equal((16, "channel"), (unset.BatchSize, unset.Normalization));
        Assert.Equal(NormalizationKind.PerChannel, unset.ToTrainerOptions().Normalization);

        var tabular = new TrainingSpec();
        tabular.ApplyDataDefaults(5000, images: false);
        Assert.Equal((128, "standard"), (tabular.BatchSize, tabular.Normalization));

        var given = ModelSpec.FromJson("""{ "training": { "batchSize": 64, "normalization": "minmax" } }""").Training;
        Assert.True(given.IsBatchSizeSet && given.IsNormalizationSet);
        given.ApplyDataDefaults(133, images: true);
        Assert.Equal((64, "minmax"), (given.BatchSize, given.Normalization));
    }

    [Theory]
    [InlineData(500, ValidationMethod.KFold, 2)]
    [InlineData(2000, ValidationMethod.KFold, 2)]
    [InlineData(5000, ValidationMethod.KFold, 1)]
    [InlineData(20000, ValidationMethod.Holdout, 1)]
    public void Small_data_is_compared_by_repeated_k_fold(int rows, ValidationMethod method, int repeats)
    {
        var o = ComparisonOptions.ForData(rows);
        Assert.Equal((method, repeats), (o.Validation, o.Repeats));
        o.Validate();
    }

    [Fact]
    public void Repeated_k_fold_draws_new_folds_for_each_repeat_and_early_stops_on_the_training_side()
    {
        var spec = new ModelSpec { Hidden = [8], Training = new TrainingSpec { Epochs = 30, BatchSize = 16, EarlyStoppingPatience = 3 } };
        var options = new ComparisonOptions { Validation = ValidationMethod.KFold, Folds = 3, Repeats = 2, Seed = 2 };
        var result = new Comparison(options).RunGrid([spec], Data);
        var runs = result.Best!.Runs;
        Assert.Equal(6, runs.Count);
        Assert.Equal([0, 0, 0, 1, 1, 1], runs.Select(r => r.Repeat));
        Assert.Equal([0, 1, 2, 0, 1, 2], runs.Select(r => r.Fold));
        Assert.Equal(6, result.Best.Accuracy.Count);

        // Each repeat's folds are DataSplit's with seed + repeat: the second repeat's first fold validates other rows.
        var firstRepeat = DataSplit.StratifiedKFold(Data, 3, 2);
        var secondRepeat = DataSplit.StratifiedKFold(Data, 3, 3);
        Assert.NotEqual(firstRepeat[0].Validation.Features.Data, secondRepeat[0].Validation.Features.Data);
        var bestSplit = (result.BestRun!.Repeat == 0 ? firstRepeat : secondRepeat)[result.BestRun.Fold];
        Assert.Equal(result.BestRun.Validation.Accuracy, Metrics.Evaluate(result.BestModel!, bestSplit.Validation).Accuracy);

        // Early stopping watched 10% of the training fold, not the validation fold: the first run is exactly the
        // trainer's own run on the training fold with its internal split, and not the run that watches the fold.
        var (train, validation) = firstRepeat[0];
        var trainerOptions = spec.Training.ToTrainerOptions();
        trainerOptions.Seed = 2;
        var inner = new Trainer(trainerOptions).Fit(spec.CreateNetwork(train), train);
        Assert.Equal(inner.History.Epochs.Select(e => e.ValidationLoss), runs[0].History.Epochs.Select(e => e.ValidationLoss));
        trainerOptions.ValidationFraction = 0;
        var watchingTheFold = new Trainer(trainerOptions).Fit(spec.CreateNetwork(train), train, validation);
        Assert.NotEqual(watchingTheFold.History.Epochs.Select(e => e.ValidationLoss), runs[0].History.Epochs.Select(e => e.ValidationLoss));
    }

    [Fact]
    public void An_identical_configuration_is_within_noise_of_the_best()
    {
        var good = new ModelSpec { Name = "good", Hidden = [16], Training = new TrainingSpec { Epochs = 20, BatchSize = 16 } };
        var twin = good.Clone();
        twin.Name = "twin";
        var result = new Comparison(new ComparisonOptions { Validation = ValidationMethod.KFold, Folds = 3, Repeats = 2 }).RunGrid([good, twin], Data);

        Assert.Null(result.Best!.VersusBest);
        Assert.True(result.Best.TiedWithBest);
        var second = result.Leaderboard[1];
        Assert.Equal(0, second.VersusBest!.Difference, 12);
        Assert.True(second.TiedWithBest);
        Assert.Contains("Nadeau", second.VersusBest.Method);
    }

    [Fact]
    public void The_noise_test_follows_its_formulas()
    {
        // Six paired k-fold runs (3 folds × 2 repeats) of 100 validation rows and 200 training rows each.
        var options = new ComparisonOptions { Validation = ValidationMethod.KFold, Folds = 3, Repeats = 2 };
        var best = Trial(1, [0.90, 0.92, 0.88, 0.90, 0.91, 0.89]);
        var close = Trial(2, [0.89, 0.90, 0.88, 0.88, 0.91, 0.88]);
        var far = Trial(3, [0.70, 0.72, 0.69, 0.71, 0.70, 0.70]);

        // d = 0.01, 0.02, 0, 0.02, 0, 0.01: mean 0.01, s² = 0.00008; corrected SE² = (1/6 + 100/200)·s².
        var c = ScoreDifference.Between(best, close, options, trainCount: 200, validationCount: 100)!;
        Assert.Equal(0.01, c.Difference, 10);
        Assert.Equal(Math.Sqrt(((1.0 / 6) + 0.5) * 0.00008), c.StandardError, 10);
        Assert.Equal(2.571, c.CriticalValue);
        Assert.True(c.WithinNoise);
        Assert.False(ScoreDifference.Between(best, far, options, 200, 100)!.WithinNoise);

        // One holdout run: the binomial error of two accuracies on the 100 rows, against 1.96.
        var holdout = new ComparisonOptions();
        var one = ScoreDifference.Between(Trial(1, [0.90]), Trial(2, [0.85]), holdout, 400, 100)!;
        Assert.Equal(Math.Sqrt(((0.9 * 0.1) + (0.85 * 0.15)) / 100), one.StandardError, 10);
        Assert.True(one.WithinNoise); // 0.05 < 1.96 × 0.0466
        Assert.Null(ScoreDifference.Between(Trial(1, [0.90], RankingMetric.LogLoss), Trial(2, [0.85], RankingMetric.LogLoss), new ComparisonOptions { Metric = RankingMetric.LogLoss }, 400, 100));
    }

    /// <summary>A completed trial whose runs have the given validation accuracies on 100 two-class rows.</summary>
    private static TrialResult Trial(int index, double[] accuracies, RankingMetric metric = RankingMetric.Accuracy)
    {
        var runs = accuracies.Select((a, i) =>
        {
            int correct = (int)Math.Round(a * 100);
            var labels = new int[100];
            var probabilities = new float[200];
            for (int r = 0; r < 100; r++)
            {
                probabilities[(r * 2) + (r < correct ? 0 : 1)] = 0.9f;
                probabilities[(r * 2) + (r < correct ? 1 : 0)] = 0.1f;
            }

            return new RunResult(1, i, Metrics.Compute(probabilities, labels, 2), 1.0, 0.0, TrainingHistory.Empty, 1.0);
        }).ToList();
        return new TrialResult(index, ComparisonConfiguration.FromSpec(new ModelSpec(), $"trial {index}"), TrialStatus.Completed, runs, null, runs[0], null, 1.0, metric);
    }

    [Fact]
    public void The_corrected_test_is_wider_than_the_plain_paired_one()
    {
        // Paired differences 0.02 ± 0.02 over 10 runs of 5-fold (validation 1/4 of training): the corrected standard
        // error sqrt((1/10 + 1/4)·s²) is larger than the plain sqrt(s²/10), so a difference the plain test would call
        // significant stays within noise.
        double s = 0.02, mean = 0.02;
        double plain = s / Math.Sqrt(10), corrected = Math.Sqrt(((1.0 / 10) + 0.25) * s * s);
        double t = ScoreDifference.StudentT975(9);
        Assert.Equal(2.262, t, 3);
        Assert.True(mean > t * plain);
        Assert.False(mean > t * corrected);
        Assert.Equal(1.96 + (((1.96 * 1.96 * 1.96) + 1.96) / 200), ScoreDifference.StudentT975(50), 2);
    }

    [Fact]
    public void One_run_shows_no_spread()
    {
        var one = MetricSummary.Of([0.9]);
        Assert.Equal("0.9000", one.Format());
        Assert.Equal("0.8500 ± 0.0707", MetricSummary.Of([0.8, 0.9]).Format());
    }
}
