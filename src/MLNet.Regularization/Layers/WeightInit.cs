using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>How a weight matrix is initialized.</summary>
public enum WeightInit
{
    /// <summary>He et al. (2015), uniform on ±√(6 / fanIn): keeps the activation variance through ReLU layers.</summary>
    HeUniform,

    /// <summary>He et al. (2015), normal with standard deviation √(2 / fanIn).</summary>
    HeNormal,

    /// <summary>Glorot &amp; Bengio (2010), uniform on ±√(6 / (fanIn + fanOut)): for tanh and sigmoid layers.</summary>
    GlorotUniform,

    /// <summary>Glorot &amp; Bengio (2010), normal with standard deviation √(2 / (fanIn + fanOut)).</summary>
    GlorotNormal,
}

/// <summary>Fills weight tensors according to <see cref="WeightInit"/>.</summary>
internal static class WeightInitializer
{
    public static void Fill(Span<float> weights, WeightInit init, int fanIn, int fanOut, Rng rng)
    {
        switch (init)
        {
            case WeightInit.HeUniform:
                Uniform(weights, MathF.Sqrt(6f / fanIn), rng);
                break;
            case WeightInit.HeNormal:
                Normal(weights, MathF.Sqrt(2f / fanIn), rng);
                break;
            case WeightInit.GlorotUniform:
                Uniform(weights, MathF.Sqrt(6f / (fanIn + fanOut)), rng);
                break;
            case WeightInit.GlorotNormal:
                Normal(weights, MathF.Sqrt(2f / (fanIn + fanOut)), rng);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(init), init, "unknown weight initialization.");
        }
    }

    private static void Uniform(Span<float> w, float limit, Rng rng)
    {
        rng.FillUniform(w);
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (2f * w[i] - 1f) * limit;
        }
    }

    private static void Normal(Span<float> w, float std, Rng rng)
    {
        rng.FillGaussian(w);
        for (int i = 0; i < w.Length; i++)
        {
            w[i] *= std;
        }
    }
}
