using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Gives each example another shape of the same size, row-major, such as a flat [784] vector as a sequence [28, 28]
/// of 28 steps for a recurrent layer (or [1, 28, 28] for a convolution). No copy: the output is a view of the input's
/// storage, and backward is a view of dy with the input's shape. ONNX: <c>Reshape</c>(x, [0, ..shape]) (0 keeps the
/// batch dimension).
/// </summary>
public sealed class Reshape : Layer
{
    private readonly int[] _shape;
    private Tensor? _yView, _dxView;

    /// <summary>Creates the layer.</summary>
    /// <param name="shape">The per-example output shape; its sizes must multiply to the input's size.</param>
    public Reshape(params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length == 0 || shape.Any(d => d <= 0))
        {
            throw new ArgumentException($"Reshape needs positive sizes, such as [28, 28], got {Tensor.FormatShape(shape)}.", nameof(shape));
        }

        _shape = (int[])shape.Clone();
    }

    /// <summary>The per-example output shape.</summary>
    public IReadOnlyList<int> TargetShape => _shape;

    /// <inheritdoc />
    public override string Describe() => $"shape={Tensor.FormatShape(_shape)}";

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        return View(ref _yView, x, OutputShape);
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx) => View(ref _dxView, dy, InputShape);

    /// <summary>ONNX: <c>Reshape</c> with the shape [0, ..shape].</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx) =>
        g.Then("Reshape", [g.AddInt64s("shape", [0, .. _shape.Select(d => (long)d)])]);

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new Reshape(_shape);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        long input = 1, output = 1;
        foreach (int d in inputShape)
        {
            input *= d;
        }

        foreach (int d in _shape)
        {
            output *= d;
        }

        if (input != output)
        {
            throw new ArgumentException($"Reshape to {Tensor.FormatShape(_shape)} needs {output} values per example, but the input {Tensor.FormatShape(inputShape)} has {input}.");
        }

        return (int[])_shape.Clone();
    }

    // A view is valid for any tensor with the same storage and batch size (checked on one read of the field, as in
    // Flatten, so contexts on other threads can only cause a cache miss).
    private static Tensor View(ref Tensor? cache, Tensor t, ReadOnlySpan<int> sampleShape)
    {
        var view = cache;
        if (view is null || !ReferenceEquals(view.Data, t.Data) || view.BatchSize != t.BatchSize || !view.Shape[1..].SequenceEqual(sampleShape))
        {
            view = t.Reshape([t.BatchSize, .. sampleShape]);
            cache = view;
        }

        return view;
    }
}
