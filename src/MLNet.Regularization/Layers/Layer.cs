using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// A layer of a <see cref="Network"/>: its forward and backward passes, its parameters and (for the exporter)
/// its ONNX form. Shapes given to and returned by <see cref="Build"/> are per example (no batch dimension);
/// tensors passed to <see cref="Forward"/> carry the batch as their first dimension.
/// </summary>
public abstract class Layer
{
    private int[]? _inputShape;
    private int[]? _outputShape;

    /// <summary>The layer's type name as shown in summaries, such as <c>Dense</c>.</summary>
    public virtual string Name => GetType().Name;

    /// <summary>True once <see cref="Build"/> has fixed the shapes and created the parameters.</summary>
    public bool IsBuilt => _outputShape is not null;

    /// <summary>The per-example input shape, known once built.</summary>
    public ReadOnlySpan<int> InputShape => _inputShape ?? throw NotBuilt();

    /// <summary>The per-example output shape, known once built.</summary>
    public ReadOnlySpan<int> OutputShape => _outputShape ?? throw NotBuilt();

    /// <summary>The trainable parameters (empty for parameter-free layers).</summary>
    public virtual IReadOnlyList<Parameter> Parameters => Array.Empty<Parameter>();

    /// <summary>Persistent non-trainable tensors, such as batch-norm running statistics; cloned and exported
    /// with the layer.</summary>
    public virtual IReadOnlyList<Tensor> State => Array.Empty<Tensor>();

    /// <summary>True for layers whose training-mode output is random (the dropout family); Monte Carlo
    /// prediction requires at least one.</summary>
    public virtual bool IsStochastic => false;

    /// <summary>Set by the network: false when no layer before this one has parameters, so the gradient with
    /// respect to this layer's input is never used and need not be computed.</summary>
    public bool NeedsInputGradient { get; internal set; } = true;

    /// <summary>Fixes shapes and initializes parameters for a per-example input shape.</summary>
    /// <param name="inputShape">Per-example input shape, such as [784] or [1, 28, 28].</param>
    /// <param name="init">The random source for weight initialization.</param>
    public void Build(ReadOnlySpan<int> inputShape, Rng init)
    {
        ArgumentNullException.ThrowIfNull(init);
        if (inputShape.Length == 0)
        {
            throw new ArgumentException($"{Name}: the input shape must have at least one dimension.", nameof(inputShape));
        }

        foreach (int d in inputShape)
        {
            if (d <= 0)
            {
                throw new ArgumentException($"{Name}: input shape {Tensor.FormatShape(inputShape)} has a non-positive dimension.", nameof(inputShape));
            }
        }

        int[] output = OnBuild(inputShape, init);
        _inputShape = inputShape.ToArray();
        _outputShape = output;
    }

    /// <summary>Computes the output for a batch. In training mode the layer keeps what backward needs.</summary>
    public abstract Tensor Forward(Tensor x, ForwardContext ctx);

    /// <summary>Given dLoss/dOutput of the last training-mode forward pass, accumulates parameter gradients
    /// (overwriting them) and returns dLoss/dInput (or <paramref name="dy"/> itself if
    /// <see cref="NeedsInputGradient"/> is false and the layer chose to skip the work).</summary>
    public abstract Tensor Backward(Tensor dy, ForwardContext ctx);

    /// <summary>A short description of the layer's settings, such as <c>units=256, init=He</c>, used in
    /// summaries and in exported model metadata.</summary>
    public virtual string Describe() => string.Empty;

    /// <summary>Writes the layer's ONNX form through <paramref name="g"/>: reads <see cref="OnnxGraphBuilder.Current"/>
    /// and leaves it at the layer's output. Layers without an ONNX form keep this default, which refuses.</summary>
    /// <exception cref="NotSupportedException">The layer has no ONNX form.</exception>
    internal virtual void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx) =>
        throw new NotSupportedException($"{Name} has no ONNX form yet, so a network containing it cannot be exported to ONNX.");

    /// <summary>Creates an unbuilt layer with the same configuration (used to clone networks).</summary>
    protected internal abstract Layer CreateUnbuiltCopy();

    /// <summary>Creates the parameters for an input shape and returns the per-example output shape.</summary>
    protected abstract int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init);

    /// <summary>Throws a clear error when a batch does not match the built input shape.</summary>
    protected void CheckInput(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var expected = InputShape;
        if (x.Rank != expected.Length + 1 || !x.Shape[1..].SequenceEqual(expected))
        {
            throw new ArgumentException(
                $"{Name}: input has shape {x.ShapeText}, expected [batch, {string.Join(", ", expected.ToArray())}].", nameof(x));
        }
    }

    /// <summary>Throws when backward is called without a training-mode forward pass.</summary>
    protected static InvalidOperationException NoForward(string layer) =>
        new($"{layer}: Backward was called without a preceding training-mode Forward.");

    private InvalidOperationException NotBuilt() => new($"{Name} is not built yet: build the network with an input shape first.");
}
