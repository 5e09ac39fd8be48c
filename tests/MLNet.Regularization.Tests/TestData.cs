using MLNet.Regularization.Data;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Tests;

/// <summary>Small synthetic datasets made from a seed.</summary>
internal static class TestData
{
    /// <summary>K Gaussian blobs in D dimensions: learnable but not trivially separable.</summary>
    public static Dataset Blobs(int n, int d, int k, int seed, float spread = 1f)
    {
        var rng = new Rng(seed);
        var centres = new float[k * d];
        new Rng(1000 + k * 31 + d).FillGaussian(centres);
        var x = new float[n * d];
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            int c = i % k;
            y[i] = c;
            for (int j = 0; j < d; j++)
            {
                x[i * d + j] = 2f * centres[c * d + j] + spread * rng.NextGaussian();
            }
        }

        return Dataset.ForClassification(x, [d], y, k);
    }
}
