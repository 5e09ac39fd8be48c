using System.Numerics.Tensors;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>How dropout keeps the expected activation equal between training and inference.</summary>
public enum DropoutVariant
{
    /// <summary>Inverted dropout: survivors are scaled by 1/(1 − rate) in training, inference is the identity.
    /// The modern default (PyTorch, Keras).</summary>
    Inverted,

    /// <summary>Classic dropout as in Srivastava et al. (2014): training only zeroes units, inference scales
    /// every activation by the keep probability 1 − rate.</summary>
    Classic,
}

/// <summary>
/// Dropout (Srivastava et al., 2014, "Dropout: a simple way to prevent neural networks from overfitting"): in
/// training each unit is zeroed independently with probability <c>rate</c>; y = x ⊙ m with
/// m ~ Bernoulli(1 − rate) / (1 − rate) (inverted) or m ~ Bernoulli(1 − rate) (classic). Backward: dx = dy ⊙ m.
/// In <see cref="ForwardMode.MonteCarlo"/> the mask stays on (Gal &amp; Ghahramani, 2016).
/// </summary>
public sealed class Dropout : Layer
{
    private Tensor? _mask;
    private Tensor? _dx;

    /// <summary>Creates a dropout layer.</summary>
    /// <param name="rate">Probability of dropping a unit, in [0, 1).</param>
    /// <param name="variant">Inverted (default) or classic scaling.</param>
    public Dropout(float rate, DropoutVariant variant = DropoutVariant.Inverted)
    {
        Rate = CheckRate(rate, nameof(rate));
        Variant = variant;
    }

    /// <summary>The drop probability.</summary>
    public float Rate { get; }

    /// <summary>Inverted or classic scaling.</summary>
    public DropoutVariant Variant { get; }

    /// <inheritdoc />
    public override bool IsStochastic => Rate > 0f;

    /// <summary>The factor applied at inference: 1 for inverted dropout, 1 − rate for classic dropout.</summary>
    public float InferenceScale => Variant == DropoutVariant.Classic ? 1f - Rate : 1f;

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"rate={Rate}, {Variant.ToString().ToLowerInvariant()}");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        if (!ctx.IsStochastic || Rate == 0f)
        {
            if (InferenceScale == 1f || ctx.IsStochastic)
            {
                if (ctx.IsTraining)
                {
                    _mask = null;
                }

                return x; // identity
            }

            var scaled = ctx.Buffer(this, 0, x.Shape);
            TensorPrimitives.Multiply(x.Span, InferenceScale, scaled.Span);
            return scaled;
        }

        var mask = ctx.Buffer(this, 1, x.Shape);
        ctx.Rng.FillBernoulli(mask.Span, Rate, KeptScale);
        var y = ctx.Buffer(this, 0, x.Shape);
        TensorPrimitives.Multiply(x.Span, mask.Span, y.Span);
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
            return dy; // rate 0: identity
        }

        _dx = Tensor.Reuse(_dx, dy.Shape);
        TensorPrimitives.Multiply(dy.Span, _mask.Span, _dx.Span);
        return _dx;
    }

    /// <summary>ONNX, inference: nothing for inverted dropout, <c>Mul(x, 1 − rate)</c> for classic dropout. Monte Carlo:
    /// an active <c>Dropout(x, ratio, training_mode = true)</c> whose keep mask (second output) is applied explicitly,
    /// <c>x ⊙ (Cast(mask) · 1/(1 − rate))</c> for inverted dropout and <c>x ⊙ Cast(mask)</c> for classic dropout, the
    /// very products this layer forms. Dropout's own first output would do for the inverted variant, but ONNX
    /// Runtime's EliminateDropout optimization deletes every Dropout node whose mask output is unused, whatever
    /// training_mode says, and the samples would silently stop varying.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        if (ctx.MonteCarlo && Rate > 0f)
        {
            string x = g.Current;
            string[] outputs = g.AddNode("Dropout", [x, g.AddScalar("ratio", Rate), g.AddBoolScalar("training_mode", true)], 2, SeedAttribute(ctx));
            string mask = g.AddNode("Cast", [outputs[1]], [OnnxAttribute.Int("to", (long)OnnxElementType.Float)]);
            if (Variant == DropoutVariant.Inverted)
            {
                mask = g.AddNode("Mul", [mask, g.AddScalar("kept_scale", KeptScale)]);
            }

            g.Current = g.AddNode("Mul", [x, mask]);
            return;
        }

        if (InferenceScale != 1f)
        {
            g.Then("Mul", [g.AddScalar("keep", InferenceScale)]);
        }
    }

    /// <summary>The value of a kept unit's mask entry in training and Monte Carlo mode: 1/(1 − rate) for inverted
    /// dropout, 1 for classic dropout.</summary>
    internal float KeptScale => Variant == DropoutVariant.Inverted ? 1f / (1f - Rate) : 1f;

    /// <summary>Dropout's integer <c>seed</c> attribute when the export is seeded, otherwise none.</summary>
    internal static OnnxAttribute[] SeedAttribute(OnnxExportContext ctx) =>
        ctx.NextSeed() is int seed ? [OnnxAttribute.Int("seed", seed)] : [];

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new Dropout(Rate, Variant);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init) => inputShape.ToArray();

    /// <summary>Validates a drop probability: finite and in [0, 1).</summary>
    internal static float CheckRate(float rate, string paramName)
    {
        if (!(rate >= 0f && rate < 1f))
        {
            throw new ArgumentOutOfRangeException(paramName, rate, $"dropout rate must be in [0, 1), got {rate}.");
        }

        return rate;
    }
}
