using System.Numerics.Tensors;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Gaussian dropout (Srivastava et al., 2014, section 10): multiply each unit by noise ε ~ N(1, σ²) with
/// σ² = rate / (1 − rate), the variance of inverted Bernoulli dropout at the same rate. Training: y = x ⊙ ε,
/// dx = dy ⊙ ε; inference: identity (E[ε] = 1). The noise stays on in Monte Carlo mode.
/// </summary>
public sealed class GaussianDropout : Layer
{
    private Tensor? _noise;
    private Tensor? _dx;

    /// <summary>Creates Gaussian dropout.</summary>
    /// <param name="rate">The equivalent drop probability in [0, 1); the noise's standard deviation is √(rate/(1−rate)).</param>
    public GaussianDropout(float rate) => Rate = Dropout.CheckRate(rate, nameof(rate));

    /// <summary>The equivalent drop probability.</summary>
    public float Rate { get; }

    /// <summary>The noise's standard deviation √(rate / (1 − rate)).</summary>
    public float StandardDeviation => MathF.Sqrt(Rate / (1f - Rate));

    /// <inheritdoc />
    public override bool IsStochastic => Rate > 0f;

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"rate={Rate}, std={StandardDeviation:G4}");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        if (!ctx.IsStochastic || Rate == 0f)
        {
            if (ctx.IsTraining)
            {
                _noise = null;
            }

            return x;
        }

        var noise = ctx.Buffer(this, 1, x.Shape);
        ctx.Rng.FillGaussian(noise.Span);
        TensorPrimitives.Multiply(noise.Span, StandardDeviation, noise.Span);
        TensorPrimitives.Add(noise.Span, 1f, noise.Span);
        var y = ctx.Buffer(this, 0, x.Shape);
        TensorPrimitives.Multiply(x.Span, noise.Span, y.Span);
        if (ctx.IsTraining)
        {
            _noise = noise;
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        if (_noise is null)
        {
            return dy;
        }

        _dx = Tensor.Reuse(_dx, dy.Shape);
        TensorPrimitives.Multiply(dy.Span, _noise.Span, _dx.Span);
        return _dx;
    }

    /// <summary>ONNX, inference: nothing (the noise has mean 1). Monte Carlo: ONNX has no Gaussian dropout operator,
    /// so the noise is drawn explicitly, <c>x ⊙ RandomNormalLike(x, mean = 1, scale = √(rate/(1 − rate)))</c>.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        if (!ctx.MonteCarlo || Rate == 0f)
        {
            return;
        }

        OnnxAttribute[] attributes =
        [
            OnnxAttribute.Int("dtype", (long)OnnxElementType.Float), OnnxAttribute.Float("mean", 1f),
            OnnxAttribute.Float("scale", StandardDeviation),
            .. ctx.NextSeed() is int seed ? [OnnxAttribute.Float("seed", seed)] : Array.Empty<OnnxAttribute>(),
        ];
        string noise = g.AddNode("RandomNormalLike", [g.Current], attributes);
        g.Then("Mul", [noise]);
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new GaussianDropout(Rate);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init) => inputShape.ToArray();
}
