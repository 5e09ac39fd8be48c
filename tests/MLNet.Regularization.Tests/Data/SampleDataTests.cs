using MLNet.Regularization.Data;
using Xunit;

namespace MLNet.Regularization.Tests.Data;

public sealed class SampleDataTests
{
    [Fact]
    public void CommittedSubset_Has5000TrainAnd1000TestImages()
    {
        string folder = SampleData.FindFashionMnistSmall();
        var (pixels, count, rows, cols) = IdxReader.ReadImages(Path.Combine(folder, "train-images-idx3-ubyte.gz"));
        Assert.Equal((5000, 28, 28), (count, rows, cols));
        Assert.Equal(5000 * 784, pixels.Length);
        Assert.All(pixels, p => Assert.InRange(p, 0f, 1f));
        Assert.Contains(pixels, p => p == 1f);

        var (train, test) = SampleData.LoadFashionMnistSmall();
        Assert.Equal(5000, train.Count);
        Assert.Equal([784], train.SampleShape);
        Assert.Equal(1000, test.Count);
        Assert.Equal(10, train.ClassCount);
        Assert.Equal(10, test.ClassCount);
        Assert.Equal("Ankle boot", train.ClassNames![9]);
        Assert.All(train.Labels!, l => Assert.InRange(l, 0, 9));
        Assert.All(test.Labels!, l => Assert.InRange(l, 0, 9));
        // Every class is present and roughly balanced (each between 8% and 12%).
        Assert.All(Enumerable.Range(0, 10), k => Assert.InRange(train.Labels!.Count(l => l == k), 400, 600));
        Assert.All(Enumerable.Range(0, 10), k => Assert.InRange(test.Labels!.Count(l => l == k), 80, 120));

        var (images, _) = SampleData.LoadFashionMnistSmall(asImages: true);
        Assert.Equal([1, 28, 28], images.SampleShape);
    }

    [Fact]
    public void FindFashionMnistSmall_ReturnsTheRepositoryFolder()
    {
        string folder = SampleData.FindFashionMnistSmall();
        Assert.True(File.Exists(Path.Combine(folder, "README.md")));
        Assert.EndsWith(Path.Combine("data", "fashion-mnist-small"), folder);
    }
}
