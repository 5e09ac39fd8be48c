using System.Numerics.Tensors;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// The two moments of a fully connected layer's pre-activation under independent noise on its weights or inputs, which
/// several methods share: the local reparameterization trick of variational dropout (Kingma et al., 2015), fast
/// dropout's Gaussian approximation (Wang &amp; Manning, 2013) and DropConnect's moment-matching inference (Wan et al.,
/// 2013). For input x [B, I], mean weights Θ [U, I], bias b [U] and per-weight variances V [U, I]:
/// <code>
///   mean     = x Θᵀ + b           (one GEMM)
///   variance = (x ⊙ x) Vᵀ          (a second GEMM)
/// </code>
/// Backward, given dmean and dvariance [B, U]: dΘ = dmeanᵀ x, dV = dvarianceᵀ (x ⊙ x), db = Σ_rows dmean and
/// dx = dmean Θ + 2x ⊙ (dvariance V): four GEMMs. The buffers come from the forward context under slots above 500 of the
/// owning layer.
/// </summary>
internal static class GaussianPreActivation
{
    private const int SlotSquared = 501, SlotInputGradient = 502, SlotVarianceInputGradient = 503;

    /// <summary>Keeps variances off zero inside square roots, so that √(variance + ε) and its derivative stay finite
    /// for an all-zero input row (the value Molchanov et al.'s code adds).</summary>
    public const float Epsilon = 1e-8f;

    /// <summary>Computes mean = xΘᵀ + b and variance = (x⊙x)Vᵀ into <paramref name="mean"/> and
    /// <paramref name="variance"/> [B, U]; returns x⊙x (a context buffer, which backward needs).</summary>
    public static Tensor Forward(Layer owner, ForwardContext ctx, Tensor x, ReadOnlySpan<float> theta, ReadOnlySpan<float> bias, ReadOnlySpan<float> weightVariance, Tensor mean, Tensor variance)
    {
        int batch = x.BatchSize, inputs = x.SampleSize, units = mean.SampleSize;
        Gemm.MultiplyAddBias(false, true, batch, units, inputs, x.Span, inputs, theta, inputs, bias, GemmActivation.None, mean.Span, units, ctx.Threads);
        var squared = ctx.Buffer(owner, SlotSquared, x.Shape);
        TensorPrimitives.Multiply(x.Span, x.Span, squared.Span);
        Gemm.Multiply(false, true, batch, units, inputs, 1f, squared.Span, inputs, weightVariance, inputs, 0f, variance.Span, units, ctx.Threads);
        return squared;
    }

    /// <summary>Writes dΘ = dmeanᵀ x into <paramref name="dTheta"/> and dV = dvarianceᵀ (x⊙x) into
    /// <paramref name="dWeightVariance"/> (both overwritten, [U, I]), db = Σ_rows dmean into <paramref name="dBias"/> when
    /// not empty, and returns dx = dmean Θ + 2x ⊙ (dvariance V) (a context buffer) when <paramref name="inputGradient"/>.</summary>
    public static Tensor? Backward(Layer owner, ForwardContext ctx, Tensor x, Tensor squared, ReadOnlySpan<float> theta, ReadOnlySpan<float> weightVariance,
        Tensor dMean, Tensor dVariance, Span<float> dTheta, Span<float> dWeightVariance, Span<float> dBias, bool inputGradient)
    {
        int batch = x.BatchSize, inputs = x.SampleSize, units = dMean.SampleSize;
        Gemm.Multiply(true, false, units, inputs, batch, 1f, dMean.Span, units, x.Span, inputs, 0f, dTheta, inputs, ctx.Threads);
        Gemm.Multiply(true, false, units, inputs, batch, 1f, dVariance.Span, units, squared.Span, inputs, 0f, dWeightVariance, inputs, ctx.Threads);
        if (!dBias.IsEmpty)
        {
            Dense.SumRows(dMean.Span, dBias);
        }

        if (!inputGradient)
        {
            return null;
        }

        var dx = ctx.Buffer(owner, SlotInputGradient, x.Shape);
        var fromVariance = ctx.Buffer(owner, SlotVarianceInputGradient, x.Shape);
        Gemm.Multiply(false, false, batch, inputs, units, 1f, dMean.Span, units, theta, inputs, 0f, dx.Span, inputs, ctx.Threads);
        Gemm.Multiply(false, false, batch, inputs, units, 1f, dVariance.Span, units, weightVariance, inputs, 0f, fromVariance.Span, inputs, ctx.Threads);
        var xs = x.Span;
        var f = fromVariance.Span;
        var d = dx.Span;
        for (int i = 0; i < d.Length; i++)
        {
            d[i] += 2f * xs[i] * f[i];
        }

        return dx;
    }

    /// <summary>The local reparameterization trick's sample y = mean + √(variance + ε) ⊙ ξ with ξ ~ N(0, 1) drawn fresh
    /// per example and unit (into <paramref name="noise"/>); <paramref name="deviation"/> receives √(variance + ε).</summary>
    public static void Sample(ForwardContext ctx, Tensor mean, Tensor variance, Tensor noise, Tensor deviation, Tensor y)
    {
        ctx.Rng.FillGaussian(noise.Span);
        var v = variance.Span;
        var s = deviation.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = MathF.Sqrt(v[i] + Epsilon);
        }

        TensorPrimitives.MultiplyAdd(deviation.Span, noise.Span, mean.Span, y.Span);
    }

    /// <summary>Backward of <see cref="Sample"/>: dmean = dy (returned as is) and dvariance = dy ⊙ ξ / (2√(variance + ε))
    /// into <paramref name="dVariance"/>.</summary>
    public static void SampleBackward(Tensor dy, Tensor noise, Tensor deviation, Tensor dVariance)
    {
        var g = dy.Span;
        var n = noise.Span;
        var s = deviation.Span;
        var d = dVariance.Span;
        for (int i = 0; i < d.Length; i++)
        {
            d[i] = g[i] * n[i] / (2f * s[i]);
        }
    }

    /// <summary>ONNX for a sampled pre-activation (the Monte Carlo form of the variational layers): mean =
    /// <c>Gemm(x, Θ, b)</c>, variance = <c>Gemm(Mul(x, x), V)</c>, then <c>mean + Sqrt(variance + ε) ⊙
    /// RandomNormalLike(mean)</c>, the very arithmetic of <see cref="Sample"/> with the runtime's normal draws.</summary>
    public static void ExportSampled(OnnxGraphBuilder g, OnnxExportContext ctx, ReadOnlySpan<float> theta, ReadOnlySpan<float> bias, ReadOnlySpan<float> weightVariance, ReadOnlySpan<int> weightShape)
    {
        string x = g.Current;
        string mean = g.AddNode("Gemm", [x, g.AddInitializer("weight", theta, weightShape), g.AddInitializer("bias", bias, [weightShape[0]])], [OnnxAttribute.Int("transB", 1)]);
        string variance = g.AddNode("Gemm", [g.AddNode("Mul", [x, x]), g.AddInitializer("weight_variance", weightVariance, weightShape)], [OnnxAttribute.Int("transB", 1)]);
        string deviation = g.AddNode("Sqrt", [g.AddNode("Add", [variance, g.AddScalar("epsilon", Epsilon)])]);
        OnnxAttribute[] attributes =
        [
            OnnxAttribute.Int("dtype", (long)OnnxElementType.Float), OnnxAttribute.Float("mean", 0f), OnnxAttribute.Float("scale", 1f),
            .. ctx.NextSeed() is int seed ? [OnnxAttribute.Float("seed", seed)] : Array.Empty<OnnxAttribute>(),
        ];
        string noise = g.AddNode("RandomNormalLike", [mean], attributes);
        g.Current = g.AddNode("Add", [mean, g.AddNode("Mul", [deviation, noise])]);
    }
}
