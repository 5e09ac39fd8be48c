using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.Tests.Training;

public class ConvLearningTests(ITestOutputHelper output)
{
    /// <summary>The CI-sized CNN: conv32-pool-conv64-pool-dense128-dropout-dense10 on the committed 5,000 / 1,000
    /// subset. Eight epochs reach about 87% (85% after five), so the threshold has room for another seed.</summary>
    [Fact]
    public void Cnn_with_dropout_learns_the_committed_Fashion_MNIST_subset()
    {
        var (train, test) = SampleData.LoadFashionMnistSmall(asImages: true);
        Assert.Equal([1, 28, 28], train.SampleShape.ToArray());
        var network = Network.Sequential(
            new Conv2D(32, 3, padding: "same"), new ReLU(), new MaxPool2D(2),
            new Conv2D(64, 3, padding: "same"), new ReLU(), new MaxPool2D(2),
            new Flatten(), new Dense(128), new ReLU(), new Dropout(0.5f), new Dense(10));
        var model = new Trainer(new TrainerOptions { Epochs = 8, BatchSize = 64, Seed = 1 }).Fit(network, train);
        var (loss, accuracy) = model.Evaluate(test);
        double seconds = model.History.TotalSeconds;
        output.WriteLine($"test accuracy {accuracy:P2}, log-loss {loss:F4}, training {seconds:F1} s ({train.Count * 8 / seconds:F0} samples/s)");
        Assert.True(accuracy >= 0.85, $"test accuracy {accuracy:P2} is below 85%");
    }
}
