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

    /// <summary>The convolutional regularizers train inside a network, are reproducible by seed, and their Monte
    /// Carlo mode serves uncertainty estimates.</summary>
    [Fact]
    public void Cnn_with_convolutional_regularizers_trains_reproducibly_and_gives_Monte_Carlo_uncertainty()
    {
        var (train, test) = SampleData.LoadFashionMnist(SampleData.FindFashionMnistSmall(), asImages: true, trainLimit: 600, testLimit: 200);
        Network Build() => Network.Sequential(
            new Cutout(8, probability: 0.5f), new Conv2D(8, 3, padding: "same", useBias: false), new BatchNorm(), new ReLU(),
            new MaxDrop(0.1f), new MaxPoolingDropout(0.2f), new DropConnectConv2D(8, 3, 0.2f, padding: 1), new ReLU(),
            new DropBlock(0.1f, 3), new SpatialDropout2D(0.1f), new AvgPool2D(2), new Flatten(), new Dense(10));
        var a = new Trainer(new TrainerOptions { Epochs = 6, BatchSize = 50, Seed = 3, MaxThreads = 2 }).Fit(Build(), train);
        var b = new Trainer(new TrainerOptions { Epochs = 6, BatchSize = 50, Seed = 3, MaxThreads = 1 }).Fit(Build(), train);
        Assert.Equal(a.Network.Parameters.SelectMany(p => p.Value.Data), b.Network.Parameters.SelectMany(p => p.Value.Data));
        var (_, accuracy) = a.Evaluate(test);
        Assert.True(accuracy > 0.5, $"accuracy {accuracy:P1} after six epochs on 600 images");
        var mc = a.PredictWithUncertainty(test.Features, samples: 4, seed: 1);
        Assert.Equal(200 * 10, mc.MeanProbabilities.Length);
        Assert.Contains(mc.Variance, v => v > 0f);
        output.WriteLine(a.Network.Summary());
    }
}
