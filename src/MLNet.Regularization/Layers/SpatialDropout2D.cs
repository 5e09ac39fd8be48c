using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Spatial dropout (Tompson et al., 2015, "Efficient object localization using convolutional networks"): in training
/// whole feature maps are dropped, y[n, c, :, :] = x[n, c, :, :] · m[n, c] / (1 − rate) with
/// m[n, c] ~ Bernoulli(1 − rate), one draw per example and channel (neighbouring pixels are strongly correlated, so
/// dropping single pixels barely regularizes a convolutional layer). Inverted scaling keeps the expectation, so
/// inference is the identity. Backward: dx = dy · m / (1 − rate). Monte Carlo mode draws masks as in training and
/// keeps nothing for backward.
/// </summary>
public sealed class SpatialDropout2D : Layer
{
    private Tensor? _mask;
    private Tensor? _dx;

    /// <summary>Creates spatial dropout.</summary>
    /// <param name="rate">Probability of dropping a feature map, in [0, 1).</param>
    public SpatialDropout2D(float rate) => Rate = Dropout.CheckRate(rate, nameof(rate));

    /// <summary>The probability of dropping a feature map.</summary>
    public float Rate { get; }

    /// <inheritdoc />
    public override bool IsStochastic => Rate > 0f;

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"rate={Rate}");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        if (!ctx.IsStochastic || Rate == 0f)
        {
            if (ctx.IsTraining)
            {
                _mask = null;
            }

            return x;
        }

        int maps = x.BatchSize * InputShape[0], hw = InputShape[1] * InputShape[2];
        var mask = ctx.Buffer(this, 1, [x.BatchSize, InputShape[0]]);
        ctx.Rng.FillBernoulli(mask.Span, Rate, KeptScale);
        var y = ctx.Buffer(this, 0, x.Shape);
        ScaleMaps(x.Span, mask.Span, y.Span, maps, hw);
        if (ctx.IsTraining)
        {
            _mask = mask;
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        if (_mask is null)
        {
            return dy;
        }

        _dx = Tensor.Reuse(_dx, dy.Shape);
        ScaleMaps(dy.Span, _mask.Span, _dx.Span, _mask.Length, InputShape[1] * InputShape[2]);
        return _dx;
    }

    /// <summary>ONNX: nothing at inference (the identity). Monte Carlo: one mask entry per example and channel, drawn by
    /// an active <c>Dropout</c> over the [N, C, 1, 1] output of <c>GlobalAveragePool(x)</c> (only its shape matters:
    /// the mask does not depend on the values), cast to float, scaled by 1/(1 − p) and broadcast over H·W:
    /// <c>Mul(x, Mul(Cast(mask), 1/(1 − p)))</c>.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        if (!ctx.MonteCarlo || Rate == 0f)
        {
            return;
        }

        string x = g.Current;
        string perChannel = g.AddNode("GlobalAveragePool", [x]);
        string[] outputs = g.AddNode("Dropout", [perChannel, g.AddScalar("ratio", Rate), g.AddBoolScalar("training_mode", true)], 2, Dropout.SeedAttribute(ctx));
        string mask = g.AddNode("Cast", [outputs[1]], [OnnxAttribute.Int("to", (long)OnnxElementType.Float)]);
        mask = g.AddNode("Mul", [mask, g.AddScalar("kept_scale", KeptScale)]);
        g.Current = g.AddNode("Mul", [x, mask]);
    }

    /// <summary>A kept map's scale, 1/(1 − rate).</summary>
    internal float KeptScale => 1f / (1f - Rate);

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new SpatialDropout2D(Rate);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 3)
        {
            throw new ArgumentException($"SpatialDropout2D expects feature maps [channels, height, width], got {Tensor.FormatShape(inputShape)}.");
        }

        return inputShape.ToArray();
    }

    private static void ScaleMaps(ReadOnlySpan<float> x, ReadOnlySpan<float> mask, Span<float> y, int maps, int hw)
    {
        for (int m = 0; m < maps; m++)
        {
            var src = x.Slice(m * hw, hw);
            var dst = y.Slice(m * hw, hw);
            if (mask[m] == 0f)
            {
                dst.Clear();
            }
            else
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(src, mask[m], dst);
            }
        }
    }
}
