using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Flattens each example, [C, H, W] → [C·H·W] in row-major (NCHW) order, as ONNX Flatten with axis = 1 does. No
/// copy: the output is a view of the input's storage, and backward is a view of dy with the input's shape.
/// </summary>
public sealed class Flatten : Layer
{
    private Tensor? _lastDy;
    private Tensor? _dxView;

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        return x.Rank == 2 ? x : x.Reshape(x.BatchSize, OutputShape[0]);
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        if (InputShape.Length == 1)
        {
            return dy;
        }

        if (!ReferenceEquals(dy, _lastDy) || _dxView is null)
        {
            Span<int> shape = [dy.BatchSize, .. InputShape];
            _dxView = dy.Reshape(shape.ToArray());
            _lastDy = dy;
        }

        return _dxView;
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
