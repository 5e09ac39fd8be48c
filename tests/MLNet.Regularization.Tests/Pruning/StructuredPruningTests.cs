using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Pruning;

public class StructuredPruningTests
{
    /// <summary>Networks covering every layer structured pruning passes through.</summary>
    public static TheoryData<string> Cases => ["mlp", "mlp-bn-scale", "mlp-masked", "conv-flatten", "conv-global-pool"];

    internal static (Network Net, Dataset Data, Dataset Test) Case(string name)
    {
        if (name.StartsWith("conv", StringComparison.Ordinal))
        {
            static Dataset Images(int n, int seed)
            {
                var blobs = TestData.Blobs(n, 64, 3, seed);
                return Dataset.ForClassification(blobs.Features.Data, [1, 8, 8], blobs.Labels!, 3);
            }

            Layer[] tail = name.EndsWith("flatten", StringComparison.Ordinal)
                ? [new Flatten(), new Dense(12), new ReLU(), new Dense(3)]
                : [new GlobalAveragePool(), new Dense(3)];
            return (Network.Sequential([new Conv2D(6, 3), new BatchNorm(), new ReLU(), new MaxPool2D(2), new DropConnectConv2D(8, 3, 0.2f, padding: "same"), new ReLU(), new SpatialDropout2D(0.1f), .. tail]), Images(120, 1), Images(40, 2));
        }

        var net = Network.Sequential(
            new Dense(32), new BatchNorm(), new ReLU(), new Dropout(0.2f), new DropConnectDense(24, 0.3f), new BatchNorm(), new Tanh(),
            new Dense(16, useBias: false), new BatchNorm(), new Sigmoid(), new GaussianDropout(0.1f), new Dense(3));
        return (net, TestData.Blobs(200, 12, 3, 3), TestData.Blobs(60, 12, 3, 4));
    }

    internal static TrainedModel Train(Network net, Dataset data, int epochs = 3, float slimming = 0) => new Trainer(new TrainerOptions
    {
        Epochs = epochs, BatchSize = 20, Seed = 2, MaxThreads = 2, Normalization = NormalizationKind.Standard,
        Optimizer = new Adam { LearningRate = 0.01f }, BatchNormScaleL1 = slimming,
    }).Fit(net, data);

    internal static StructuredPruningOptions OptionsFor(string name) => new()
    {
        Fraction = 0.5,
        Score = name == "mlp-bn-scale" ? UnitScore.BatchNormScale : name == "conv-flatten" ? UnitScore.L2 : UnitScore.L1,
        Scope = name == "mlp-bn-scale" ? PruningScope.Global : PruningScope.LayerWise,
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_smaller_network_computes_what_the_masked_one_does(string name)
    {
        var (net, data, test) = Case(name);
        var model = Train(net, data);
        var trained = model.Network;
        if (name == "mlp-masked")
        {
            MagnitudePruning.Prune(trained, new MagnitudePruningOptions { Rate = 0.4 });
        }

        var result = StructuredPruning.Prune(trained, OptionsFor(name));
        var masked = StructuredPruning.MaskedEquivalent(trained, result.Layers);
        var small = Model(result.Network, model);
        var reference = Model(masked, model);

        // Genuinely smaller: every hidden layer lost half its units, the parameters and the GEMMs shrank.
        Assert.Equal(Math.Round(result.HiddenUnitsBefore * 0.5), result.HiddenUnitsBefore - result.HiddenUnitsAfter, 0);
        Assert.True(result.Network.ParameterCount < trained.ParameterCount * 0.6, $"{result.Network.ParameterCount} of {trained.ParameterCount} parameters left");
        foreach (var selection in result.Layers)
        {
            Assert.Equal(selection.Kept.Length, result.Network.Layers[selection.LayerIndex].OutputShape[0]);
            Assert.True(selection.Removed > 0 || name == "mlp-bn-scale");
        }

        // The outputs agree to float rounding (shorter sums). They are not trivially equal: they vary from example to
        // example, and the removed units mattered (the unpruned model predicts otherwise).
        var expected = reference.PredictProbabilities(test.Features);
        var actual = small.PredictProbabilities(test.Features);
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= 1e-5, $"{name}: max |Δ probability| = {worst:E2}");
        Assert.True(actual.Where((_, i) => i % 3 == 0).Max() - actual.Where((_, i) => i % 3 == 0).Min() > 1e-3, $"{name}: the same probabilities for every example");
        double change = model.PredictProbabilities(test.Features).Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(change > 1e-3, $"{name}: removing half the units changed no probability by more than {change:E2}");

        // Unstructured masks survive the slicing: as many pruned weights in the kept rows and columns as before.
        if (name == "mlp-masked")
        {
            var before = NetworkSparsity.PrunableWeights(masked).Sum(w => (long)w.Weight.Mask!.KeptCount);
            var after = NetworkSparsity.PrunableWeights(result.Network).Sum(w => (long)w.Weight.Mask!.KeptCount);
            Assert.Equal(before, after);
        }

        // And it fine-tunes like any built network (the masks hold).
        var tuned = Train(result.Network, data, epochs: 1);
        Assert.Equal(result.Network.ParameterCount, tuned.Network.ParameterCount);
    }

    [Fact]
    public void Layer_wise_and_global_selections_remove_the_lowest_scores()
    {
        var net = Network.Sequential(new Dense(10), new BatchNorm(), new ReLU(), new Dense(6), new BatchNorm(), new ReLU(), new Dense(2)).Build([4], 1);
        var bn1 = (BatchNorm)net.Layers[1];
        var bn2 = (BatchNorm)net.Layers[4];
        float[] g1 = [0.9f, -0.01f, 0.5f, 0.02f, -0.7f, 0.3f, 0.001f, 0.8f, -0.6f, 0.4f];
        float[] g2 = [0.05f, 0.06f, -0.04f, 0.07f, 0.03f, 0.9f];
        g1.CopyTo(bn1.Gamma.Value.Span);
        g2.CopyTo(bn2.Gamma.Value.Span);

        var global = StructuredPruning.Select(net, new StructuredPruningOptions { Fraction = 0.5, Score = UnitScore.BatchNormScale, Scope = PruningScope.Global });
        Assert.Equal([0, 2, 4, 5, 7, 8, 9], global[0].Kept); // the 8 smallest |γ| of all 16 go: 3 here, 5 there
        Assert.Equal([5], global[1].Kept);

        var layerWise = StructuredPruning.Select(net, new StructuredPruningOptions { Fraction = 0.5, Score = UnitScore.BatchNormScale });
        Assert.Equal([0, 2, 4, 7, 8], layerWise[0].Kept);
        Assert.Equal([1, 3, 5], layerWise[1].Kept);

        var floor = StructuredPruning.Select(net, new StructuredPruningOptions { Fraction = 0.9, Score = UnitScore.BatchNormScale, Scope = PruningScope.Global, MinUnits = 2 });
        Assert.Equal(2, floor[1].Kept.Length);

        // L1: the unit whose incoming weights were zeroed is the first to go.
        var dense = (Dense)net.Layers[0];
        dense.Weight.Value.Span.Slice(3 * 4, 4).Clear();
        Assert.DoesNotContain(3, StructuredPruning.Select(net, new StructuredPruningOptions { Fraction = 0.1 })[0].Kept);
    }

    [Fact]
    public void Network_slimming_adds_the_sign_of_each_scale_to_its_gradient()
    {
        // One SGD step with and without the penalty from the same state and batch: γ differs by exactly lr·λ·sign(γ)
        // (up to the rounding of the subtraction), and nothing else differs.
        var data = TestData.Blobs(40, 6, 2, 1);
        var net = Network.Sequential(new Dense(5), new BatchNorm(), new ReLU(), new Dense(2)).Build([6], 3);
        float[] gamma = [0.5f, -0.3f, 0f, 1.2f, -0.01f];
        gamma.CopyTo(((BatchNorm)net.Layers[1]).Gamma.Value.Span);
        TrainedModel Step(float lambda) => new Trainer(new TrainerOptions { Epochs = 1, BatchSize = 40, Optimizer = new Sgd { LearningRate = 0.1f }, BatchNormScaleL1 = lambda }).Fit(net, data);
        var plain = ((BatchNorm)Step(0).Network.Layers[1]).Gamma.Value.Data;
        var slim = ((BatchNorm)Step(0.05f).Network.Layers[1]).Gamma.Value.Data;
        for (int i = 0; i < gamma.Length; i++)
        {
            Assert.Equal(plain[i] - (0.1f * 0.05f * MathF.Sign(gamma[i])), slim[i], 6);
        }

        Assert.Equal(
            Step(0).Network.Layers[0].Parameters.SelectMany(p => p.Value.Data),
            Step(0.05f).Network.Layers[0].Parameters.SelectMany(p => p.Value.Data));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TrainerOptions { BatchNormScaleL1 = -1 }.Validate());
    }

    [Fact]
    public void What_cannot_be_pruned_is_refused_with_the_reason()
    {
        var noBatchNorm = Network.Sequential(new Dense(8), new ReLU(), new Dense(2)).Build([3], 1);
        var error = Assert.Throws<ArgumentException>(() => StructuredPruning.Prune(noBatchNorm, new StructuredPruningOptions { Score = UnitScore.BatchNormScale }));
        Assert.Contains("has no BatchNorm before the next layer with weights", error.Message, StringComparison.Ordinal);
        Assert.Contains("not built", Assert.Throws<ArgumentException>(() => StructuredPruning.Prune(Network.Sequential(new Dense(2)))).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => StructuredPruning.Prune(noBatchNorm, new StructuredPruningOptions { Fraction = 1 }));
        var bad = Assert.Throws<ArgumentException>(() => StructuredPruning.MaskedEquivalent(noBatchNorm, [new UnitSelection(0, "Dense", 8, [9])]));
        Assert.Contains("does not fit its 8 units", bad.Message, StringComparison.Ordinal);
        var output = Assert.Throws<ArgumentException>(() => StructuredPruning.MaskedEquivalent(noBatchNorm, [new UnitSelection(2, "Dense", 2, [0])]));
        Assert.Contains("not a hidden layer", output.Message, StringComparison.Ordinal);
    }

    /// <summary>A model around <paramref name="network"/> with the trained model's normalization.</summary>
    internal static TrainedModel Model(Network network, TrainedModel like) =>
        new(network, like.Normalizer, like.History, like.Task, like.ClassCount, like.TargetSize, like.ClassNames, like.Seed, like.TrainingSettings);
}
