using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.Tests.Recurrent;

public class RecurrentLearningTests(ITestOutputHelper output)
{
    /// <summary>The CI-sized sequence task: the committed subset read row by row (28 steps of 28 pixels).</summary>
    [Fact]
    public void Lstm_learns_the_row_sequences_of_the_committed_subset()
    {
        var (train, test) = SampleData.LoadFashionMnistSmallRows();
        var network = Network.Sequential(new LSTM(64, false, new VariationalRecurrentDropout(0.1f, 0.1f)), new Dense(10));
        var model = new Trainer(new TrainerOptions
        {
            Epochs = 10, BatchSize = 64, Seed = 1, Normalization = NormalizationKind.MinMax, GradientClipNorm = 5f,
            Optimizer = new Adam { LearningRate = 5e-3f },
        }).Fit(network, train);
        var (loss, accuracy) = model.Evaluate(test);
        double seconds = model.History.TotalSeconds;
        output.WriteLine($"test accuracy {accuracy:P2}, log-loss {loss:F4}, {seconds:F1} s ({train.Count * 10 / seconds:F0} samples/s)");
        Assert.True(accuracy >= 0.80, $"test accuracy {accuracy:P2} is below 80%");
    }

    /// <summary>The adding problem over 40 steps: predicting the mean scores MSE 1/6; a GRU that carries the first
    /// marked value across the sequence gets far below that.</summary>
    [Fact]
    public void Gru_solves_the_adding_problem()
    {
        var train = SequenceTasks.AddingProblem(4000, 40, seed: 1);
        var test = SequenceTasks.AddingProblem(500, 40, seed: 2);
        var baseline = test.Targets!.Average(y => (y - 1.0) * (y - 1.0));
        var model = new Trainer(new TrainerOptions
        {
            Epochs = 8, BatchSize = 50, Seed = 2, GradientClipNorm = 1f, Optimizer = new Adam { LearningRate = 1e-2f },
        }).Fit(Network.Sequential(new GRU(32), new Dense(1, WeightInit.GlorotUniform)), train);
        var (mse, _) = model.Evaluate(test);
        output.WriteLine($"adding problem, T = 40: test MSE {mse:F4} (predicting 1: {baseline:F4}), {model.History.TotalSeconds:F1} s");
        Assert.True(mse < baseline / 10, $"test MSE {mse:F4} is not well below the trivial {baseline:F4}");
    }
}
