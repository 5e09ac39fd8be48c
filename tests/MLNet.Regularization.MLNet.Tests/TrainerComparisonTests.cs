using Microsoft.ML;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.MLNet.Tests;

public sealed class TrainerComparisonTests
{
    [Fact]
    public void Networks_and_mlnet_trainers_share_one_leaderboard()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1));
        var test = ml.Data.LoadFromEnumerable(Rows.Blobs(150, 2));
        var options = new RegularizedNetworkOptions { HiddenLayers = { 16 }, Epochs = 20, BatchSize = 32, LearningRate = 0.01f, Seed = 7 };
        var reports = new List<string>();
        var result = new TrainerComparison(ml) { Metric = RankingMetric.LogLoss }.Run(
            [
                ("network", ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(options))),
                ("lbfgs", ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy())),
            ],
            train, test, "same rows for both.", new PipelineTests.SyncProgress<MeasuredTrial>(t => reports.Add(t.Name)));

        Assert.Equal(["network", "lbfgs"], reports);
        Assert.Equal(2, result.Leaderboard.Count);
        Assert.Equal(150, result.ValidationCount);
        Assert.Equal(300, result.TrainCount);
        Assert.Equal(Rows.ClassNames, result.ClassNames);
        var network = result.Trials.Single(t => t.Name == "network");
        Assert.Equal(20, network.BestRun!.History.Epochs.Count);
        Assert.NotNull(network.Model);
        Assert.Empty(result.Trials.Single(t => t.Name == "lbfgs").BestRun!.History.Epochs);

        // The metrics are those of ML.NET's evaluator on the same scored rows.
        var fitted = ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy()).Fit(train);
        var evaluated = ml.MulticlassClassification.Evaluate(fitted.Transform(test));
        var lbfgs = result.Trials.Single(t => t.Name == "lbfgs");
        Assert.Equal(evaluated.MicroAccuracy, lbfgs.Accuracy.Mean, 6);
        Assert.Equal(evaluated.LogLoss, lbfgs.LogLoss.Mean, 4);
    }

    [Fact]
    public void A_pipeline_without_a_key_label_is_named()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Rows.Blobs(60, 1));
        var e = Assert.Throws<ArgumentException>(() => new TrainerComparison(ml).Run(
            [("copy", ml.Transforms.CopyColumns("Score", "Features"))], data, data, "p"));
        Assert.Contains("'copy': label column 'Label' of the scored rows is String, not a key: start each pipeline with MapValueToKey(\"Label\")", e.Message);
    }
}
