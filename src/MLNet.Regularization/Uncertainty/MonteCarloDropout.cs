using MLNet.Regularization.Layers;

namespace MLNet.Regularization.Uncertainty;

/// <summary>Monte Carlo dropout predictions for a batch: statistics over T stochastic forward passes.</summary>
/// <param name="Count">Number of examples N.</param>
/// <param name="Classes">Probability row width K.</param>
/// <param name="Samples">Number of passes T.</param>
/// <param name="MeanProbabilities">N×K mean of the T softmax outputs.</param>
/// <param name="Variance">N×K per-class variance of the T softmax outputs (population variance).</param>
/// <param name="PredictiveEntropy">N values: H[mean p] = −Σ_k p̄_k log p̄_k (nats).</param>
/// <param name="MutualInformation">N values: H[mean p] − mean_t H[p_t] (the epistemic part, BALD).</param>
public sealed record UncertaintyPrediction(int Count, int Classes, int Samples, float[] MeanProbabilities, float[] Variance, float[] PredictiveEntropy, float[] MutualInformation)
{
    /// <summary>The arg-max of the mean probabilities per example.</summary>
    public int[] PredictedLabels()
    {
        var labels = new int[Count];
        for (int i = 0; i < Count; i++)
        {
            var row = MeanProbabilities.AsSpan(i * Classes, Classes);
            int best = 0;
            for (int k = 1; k < Classes; k++)
            {
                if (row[k] > row[best])
                {
                    best = k;
                }
            }

            labels[i] = best;
        }

        return labels;
    }
}

/// <summary>
/// Monte Carlo dropout (Gal &amp; Ghahramani, 2016, "Dropout as a Bayesian approximation"): keep dropout on at test
/// time, average T stochastic softmax outputs, and read uncertainty from their spread. Batch norm stays in
/// inference mode (running statistics), so only the dropout family contributes randomness.
/// </summary>
public static class MonteCarloDropout
{
    internal delegate float[] ToProbabilities(ReadOnlySpan<float> raw, int n);

    internal static UncertaintyPrediction Sample(Network net, Tensor x, ForwardContext ctx, int samples, int k, ToProbabilities toProbabilities)
    {
        int n = x.BatchSize;

        // Accumulate deviations from the first sample (the shifted-data variance algorithm): stable, and exactly
        // zero when every pass agrees, as it does without active dropout.
        float[]? first = null;
        var sum = new double[n * k];
        var sumSq = new double[n * k];
        var entropySum = new double[n];
        for (int t = 0; t < samples; t++)
        {
            var raw = net.Forward(x, ctx);
            var p = toProbabilities(raw.Span, n);
            first ??= p;
            for (int i = 0; i < n; i++)
            {
                entropySum[i] += Entropy(p.AsSpan(i * k, k));
                for (int c = 0; c < k; c++)
                {
                    double d = (double)p[i * k + c] - first[i * k + c];
                    sum[i * k + c] += d;
                    sumSq[i * k + c] += d * d;
                }
            }
        }

        var mean = new float[n * k];
        var variance = new float[n * k];
        var entropy = new float[n];
        var mutual = new float[n];
        for (int i = 0; i < n; i++)
        {
            for (int c = 0; c < k; c++)
            {
                double meanShift = sum[i * k + c] / samples;
                mean[i * k + c] = (float)(first![i * k + c] + meanShift);
                variance[i * k + c] = (float)Math.Max(0, sumSq[i * k + c] / samples - meanShift * meanShift);
            }

            double h = Entropy(mean.AsSpan(i * k, k));
            entropy[i] = (float)h;
            mutual[i] = (float)Math.Max(0, h - entropySum[i] / samples);
        }

        return new UncertaintyPrediction(n, k, samples, mean, variance, entropy, mutual);
    }

    private static double Entropy(ReadOnlySpan<float> p)
    {
        double h = 0;
        foreach (float v in p)
        {
            h -= v > 0 ? v * Math.Log(v) : 0;
        }

        return h;
    }
}
