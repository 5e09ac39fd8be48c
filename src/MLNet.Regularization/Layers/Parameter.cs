using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>What role a parameter plays; weight decay and max-norm apply only to <see cref="Weight"/>.</summary>
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
}
