using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Training;

public class MonteCarloDropoutTests
{
    private static TrainedModel Train(float rate) => new Trainer(new TrainerOptions { Epochs = 3 }).Fit(
        Network.Sequential(new Dense(32), new BatchNorm(), new ReLU(), new Dropout(rate), new Dense(3)),
        TestData.Blobs(300, 6, 3, 1));

    [Fact]
    public void Variance_is_positive_with_dropout()
    {
        var model = Train(0.5f);
        var x = TestData.Blobs(20, 6, 3, 2).Features;
        var u = model.PredictWithUncertainty(x, samples: 30, seed: 1);
        Assert.Equal(20 * 3, u.Variance.Length);
        Assert.All(Enumerable.Range(0, 20), i => Assert.True(u.Variance.AsSpan(i * 3, 3).ToArray().Sum() > 0f));
        Assert.All(u.MutualInformation, m => Assert.True(m >= 0));

        // Mean probabilities are distributions, and the entropy is that of the mean.
        for (int i = 0; i < 20; i++)
        {
            var p = u.MeanProbabilities.AsSpan(i * 3, 3).ToArray();
            Assert.Equal(1.0, p.Sum(), 4);
            Assert.Equal(-p.Sum(v => v * Math.Log(v)), u.PredictiveEntropy[i], 4);
        }

        // Reproducible by seed, different across seeds; the deterministic prediction is unaffected.
        Assert.Equal(u.MeanProbabilities, model.PredictWithUncertainty(x, 30, 1).MeanProbabilities);
        Assert.NotEqual(u.MeanProbabilities, model.PredictWithUncertainty(x, 30, 2).MeanProbabilities);
        Assert.Equal(model.PredictProbabilities(x), model.PredictProbabilities(x));
    }

    [Fact]
    public void Variance_is_exactly_zero_without_dropout()
    {
        var model = Train(0f);
        var x = TestData.Blobs(20, 6, 3, 3).Features;
        var u = model.PredictWithUncertainty(x, samples: 10);
        Assert.All(u.Variance, v => Assert.Equal(0f, v));
        Assert.All(u.MutualInformation, v => Assert.InRange(v, 0f, 1e-6f));
        var deterministic = model.PredictProbabilities(x);
        for (int i = 0; i < deterministic.Length; i++)
        {
            Assert.Equal(deterministic[i], u.MeanProbabilities[i], 6);
        }
    }

    [Fact]
    public void Predictions_are_safe_from_several_threads()
    {
        var model = Train(0.5f);
        var x = TestData.Blobs(64, 6, 3, 4).Features;
        var expected = model.PredictProbabilities(x);
        var expectedMc = model.PredictWithUncertainty(x, 8, 5).MeanProbabilities;
        Parallel.For(0, 64, i =>
        {
            Assert.Equal(expected, model.PredictProbabilities(x));
            Assert.Equal(expectedMc, model.PredictWithUncertainty(x, 8, 5).MeanProbabilities);
        });
    }
}
