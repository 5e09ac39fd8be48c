using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.Tests.Training;

public class LearningTests(ITestOutputHelper output)
{
    [Fact]
    public void Mlp_with_dropout_learns_the_committed_Fashion_MNIST_subset()
    {
        var (train, test) = SampleData.LoadFashionMnistSmall();
        var network = Network.Sequential(
            new Dropout(0.2f), new Dense(256), new ReLU(), new Dropout(0.5f), new Dense(256), new ReLU(), new Dropout(0.5f), new Dense(10));
        var model = new Trainer(new TrainerOptions { Epochs = 12, BatchSize = 64, Seed = 1 }).Fit(network, train);
        var (loss, accuracy) = model.Evaluate(test);
        output.WriteLine($"test accuracy {accuracy:P2}, log-loss {loss:F4}, {model.History.TotalSeconds:F1} s");
        Assert.True(accuracy >= 0.80, $"test accuracy {accuracy:P2} is below 80%");
    }
}
