using MLNet.Regularization.Data;
using Xunit;

namespace MLNet.Regularization.Tests.Data;

public sealed class DatasetTests
{
    [Fact]
    public void NaNFeature_NamesRowAndColumn()
    {
        float[] x = [1, 2, 3, 4, 5, float.NaN];
        var e = Assert.Throws<ArgumentException>(() => Dataset.ForClassification(x, [3], [0, 1]));
        Assert.Contains("NaN in row 1, column 2", e.Message);
    }

    [Fact]
    public void InfiniteTarget_IsNamed()
    {
        var e = Assert.Throws<ArgumentException>(() => Dataset.ForRegression([1, 2], [1], [0, float.PositiveInfinity]));
        Assert.Contains("row 1", e.Message);
        Assert.Contains("not a finite number", e.Message);
    }

    [Fact]
    public void LabelOutOfRange_NamesLabelRowAndRange()
    {
        var e = Assert.Throws<ArgumentException>(() => Dataset.ForClassification([1, 2, 3, 4], [1], [0, 1, 12, 3], classCount: 10));
        Assert.Contains("label 12 in row 2 is outside 0..9", e.Message);

        var negative = Assert.Throws<ArgumentException>(() => Dataset.ForBinary([1, 2], [1], [0, -1]));
        Assert.Contains("label -1 in row 1 is outside 0..1", negative.Message);
    }

    [Fact]
    public void WrongFeatureCount_SaysExpectedAndActual()
    {
        var e = Assert.Throws<ArgumentException>(() => Dataset.ForClassification(new float[783 * 2 + 1], [784], [0, 1]));
        Assert.Contains("1567 values", e.Message);
        Assert.Contains("2 examples x 784 features = 1568", e.Message);

        var rows = Assert.Throws<ArgumentException>(() => Dataset.ForClassification([new float[4], new float[3]], [0, 1]));
        Assert.Contains("row 1 has 3 features, expected 4", rows.Message);
    }

    [Fact]
    public void Empty_IsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => Dataset.ForClassification([], [4], [], classCount: 2));
        Assert.Contains("empty", e.Message);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => Dataset.ForRegression([], [1], [])).Message);
    }

    [Fact]
    public void SubsetAndReshape_KeepLabelsAndNames()
    {
        var data = Dataset.ForClassification([1, 2, 3, 4, 5, 6, 7, 8], [4], [1, 0], classNames: ["a", "b"]);
        var first = data.Subset([1]);
        Assert.Equal([5f, 6f, 7f, 8f], first.Features.Data);
        Assert.Equal([0], first.Labels!);
        Assert.Equal(["a", "b"], first.ClassNames!);
        Assert.Equal([1, 2, 2], data.Reshape(1, 2, 2).SampleShape);
        Assert.Throws<ArgumentException>(() => data.Reshape(3));
    }
}
