using MLNet.Regularization.Pruning;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>What role a parameter plays; weight decay, max-norm and pruning apply only to <see cref="Weight"/>.</summary>
public enum ParameterKind
{
    /// <summary>A weight matrix or kernel (decayed, max-norm constrained).</summary>
    Weight,

    /// <summary>A bias vector.</summary>
    Bias,

    /// <summary>A batch-norm scale (γ).</summary>
    Scale,

    /// <summary>A batch-norm shift (β).</summary>
    Shift,

    /// <summary>A learned parameter of a noise distribution: variational dropout's log α or log σ², concrete dropout's
    /// rate logit, Standout's tying scale and shift, structured Bayesian pruning's μ and log σ. Never decayed,
    /// max-normed or pruned; the layer's own regularizer (its KL term) acts on it.</summary>
    Noise,
}

/// <summary>A trainable tensor together with its gradient.</summary>
public sealed class Parameter
{
    /// <summary>Creates a parameter.</summary>
    /// <param name="name">Name used in summaries and ONNX initializers, such as <c>weight</c>.</param>
    /// <param name="value">The value tensor.</param>
    /// <param name="kind">Its role.</param>
    /// <param name="fanIn">Length of one unit's incoming weight vector (a contiguous row), used by max-norm.</param>
    public Parameter(string name, Tensor value, ParameterKind kind, int fanIn = 0)
    {
        Name = name;
        Value = value;
        Gradient = new Tensor(value.Shape.ToArray());
        Kind = kind;
        FanIn = fanIn > 0 ? fanIn : value.Length;
    }

    /// <summary>The name, such as <c>weight</c> or <c>bias</c>.</summary>
    public string Name { get; }

    /// <summary>The current value.</summary>
    public Tensor Value { get; }

    /// <summary>The gradient accumulated by the last backward pass.</summary>
    public Tensor Gradient { get; }

    /// <summary>The role of this parameter.</summary>
    public ParameterKind Kind { get; }

    /// <summary>Length of one contiguous row that max-norm constrains (the incoming weights of one unit).</summary>
    public int FanIn { get; }

    /// <summary>The pruning mask, or null when every value is free (see <see cref="SetMask"/>).</summary>
    public WeightMask? Mask { get; private set; }

    /// <summary>Whether this parameter may be pruned: weights (matrices and kernels) may, biases and batch-norm
    /// parameters may not (Frankle &amp; Carbin prune weights only).</summary>
    public bool IsPrunable => Kind == ParameterKind.Weight;

    /// <summary>Sets (or, with null, removes) the pruning mask. The pruned values become exactly 0 at once, and the
    /// optimizers keep them there: the updated value and their state (velocity, Adam's moments) are multiplied by the
    /// mask in the same pass, so a pruned weight takes no update from its gradient, its decay or its history.</summary>
    /// <param name="mask">One flag per value, or null to unprune.</param>
    /// <exception cref="ArgumentException">The mask's length differs from the parameter's, or the parameter is not a
    /// weight.</exception>
    public void SetMask(WeightMask? mask)
    {
        if (mask is not null)
        {
            if (!IsPrunable)
            {
                throw new ArgumentException($"parameter '{Name}' is a {Kind}; only weights can be pruned.", nameof(mask));
            }

            if (mask.Length != Value.Length)
            {
                throw new ArgumentException($"parameter '{Name}' {Value.ShapeText} has {Value.Length} values; the mask has {mask.Length}.", nameof(mask));
            }

            mask.ApplyTo(Value.Span);
        }

        Mask = mask;
    }

    /// <summary>Sets the pruned values to 0 again (after the values were overwritten, such as on a reset).</summary>
    internal void ApplyMask() => Mask?.ApplyTo(Value.Span);
}
