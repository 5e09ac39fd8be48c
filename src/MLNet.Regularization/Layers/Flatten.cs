using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Flattens each example, [C, H, W] → [C·H·W] in row-major (NCHW) order, as ONNX Flatten with axis = 1 does. No
/// copy: the output is a view of the input's storage, and backward is a view of dy with the input's shape.
/// </summary>
public sealed class Flatten : Layer
{
    // Views reused batch after batch: the neighbouring layers hand over the same buffers each time. A view is
    // valid for any tensor with the same storage and batch size, which is checked on one read of the field, so
    // contexts running at once on other threads can only cause a cache miss, never a wrong view.
    private Tensor? _yView, _dxView;

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        return x.Rank == 2 ? x : View(ref _yView, x, x.BatchSize, OutputShape);
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        return InputShape.Length == 1 ? dy : View(ref _dxView, dy, dy.BatchSize, InputShape);
    }

    private static Tensor View(ref Tensor? cache, Tensor t, int batch, ReadOnlySpan<int> sampleShape)
    {
        var view = cache;
        if (view is null || !ReferenceEquals(view.Data, t.Data) || view.BatchSize != batch || !view.Shape[1..].SequenceEqual(sampleShape))
        {
            view = t.Reshape([batch, .. sampleShape]);
            cache = view;
        }

        return view;
    }

    /// <summary>ONNX: <c>Flatten</c> with axis 1.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx) => g.Then("Flatten", null, OnnxAttribute.Int("axis", 1));

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new Flatten();

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        long size = 1;
        foreach (int d in inputShape)
        {
            size *= d;
        }

        return [checked((int)size)];
    }
}
