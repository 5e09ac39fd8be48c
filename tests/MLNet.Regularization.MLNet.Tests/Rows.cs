using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.Regularization.Data;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.MLNet.Tests;

/// <summary>A row with a 4-value features vector and a text label.</summary>
public sealed class BlobRow
{
    [VectorType(4)] public float[] Features { get; set; } = [];
    public string Label { get; set; } = "";
}

/// <summary>A Fashion-MNIST row: 784 pixels and the class index.</summary>
public sealed class ImageRow
{
    [VectorType(784)] public float[] Features { get; set; } = [];
    public uint Label { get; set; }
}

/// <summary>What a multiclass prediction engine returns after MapKeyToValue("PredictedLabel").</summary>
public sealed class BlobPrediction
{
    public string PredictedLabel { get; set; } = "";
    public float[] Score { get; set; } = [];
}

/// <summary>Rows for binary classification.</summary>
public sealed class BinaryRow
{
    [VectorType(4)] public float[] Features { get; set; } = [];
    public bool Label { get; set; }
}

/// <summary>Rows for regression.</summary>
public sealed class RegressionRow
{
    [VectorType(4)] public float[] Features { get; set; } = [];
    public float Label { get; set; }
}

/// <summary>Small data sets, made from a seed, and the committed Fashion-MNIST subset as IDataViews.</summary>
internal static class Rows
{
    public static readonly string[] ClassNames = ["cat", "dog", "bird"];

    /// <summary>Three Gaussian blobs in 4-D with text labels; rows cycle through the classes.</summary>
    public static List<BlobRow> Blobs(int n, int seed)
    {
        var rng = new Rng(seed);
        float[][] centres = [[2, 0, 0, 1], [0, 2, 0, -1], [0, 0, 2, 0]];
        return Enumerable.Range(0, n).Select(i =>
        {
            int c = i % 3;
            return new BlobRow { Label = ClassNames[c], Features = centres[c].Select(v => v + 0.7f * rng.NextGaussian()).ToArray() };
        }).ToList();
    }

    public static List<BinaryRow> Binary(int n, int seed) =>
        Blobs(n, seed).Select(r => new BinaryRow { Features = r.Features, Label = r.Label == "dog" }).ToList();

    public static List<RegressionRow> Regression(int n, int seed) =>
        Blobs(n, seed).Select(r => new RegressionRow { Features = r.Features, Label = 3f * r.Features[0] - 2f * r.Features[1] + 0.5f }).ToList();

    /// <summary>The committed subset (data/fashion-mnist-small) as rows, in the engine's row order.</summary>
    public static (Dataset Train, Dataset Test, List<ImageRow> TrainRows, List<ImageRow> TestRows) FashionMnist()
    {
        var (train, test) = SampleData.LoadFashionMnistSmall();
        return (train, test, ToRows(train), ToRows(test));
    }

    private static List<ImageRow> ToRows(Dataset data)
    {
        var x = data.Features.Span.ToArray();
        int d = data.FeatureCount;
        return Enumerable.Range(0, data.Count).Select(i => new ImageRow { Features = x.AsSpan(i * d, d).ToArray(), Label = (uint)data.Labels![i] }).ToList();
    }
}
