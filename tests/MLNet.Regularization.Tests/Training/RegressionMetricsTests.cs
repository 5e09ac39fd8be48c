using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Training;

public class RegressionMetricsTests
{
    [Fact]
    public void The_formulas()
    {
        // targets 1, 2, 3, 4 (mean 2.5, SST 5); predictions off by 0, 1, -1, 2: SSE 6, MSE 1.5, MAE 1, R² = 1 - 6/5.
        var m = RegressionMetrics.Compute([1, 3, 2, 6], [1, 2, 3, 4]);
        Assert.Equal(4, m.Count);
        Assert.Equal(1.5, m.MeanSquaredError, 12);
        Assert.Equal(Math.Sqrt(1.5), m.RootMeanSquaredError, 12);
        Assert.Equal(1.0, m.MeanAbsoluteError, 12);
        Assert.Equal(1 - (6.0 / 5), m.RSquared, 12);
        Assert.Equal(0, RegressionMetrics.Compute([2.5f, 2.5f, 2.5f, 2.5f], [1, 2, 3, 4]).RSquared, 12);
        Assert.Throws<ArgumentException>(() => RegressionMetrics.Compute([1, 2], [1, 2, 3]));
    }

    [Fact]
    public void A_model_that_learns_a_line_scores_near_one()
    {
        var rng = new MLNet.Regularization.Tensors.Rng(3);
        var x = new float[200];
        var y = new float[200];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = rng.NextFloat() * 4 - 2;
            y[i] = (3 * x[i]) + 1;
        }

        var data = Dataset.ForRegression(x, [1], y);
        var model = new Trainer(new TrainerOptions { Epochs = 60, BatchSize = 16, Optimizer = new Adam { LearningRate = 0.01f } })
            .Fit(Network.Sequential(new Dense(16), new ReLU(), new Dense(1)), data);
        var m = RegressionMetrics.Evaluate(model, data);
        Assert.True(m.RSquared > 0.98, $"R² {m.RSquared}");
        Assert.Throws<ArgumentException>(() => RegressionMetrics.Evaluate(model, TestData.Blobs(10, 1, 2, seed: 1)));
    }
}
