using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Global average pooling (Lin et al., 2014, "Network in network"): y[n, c] = (1 / (H·W)) · Σ_{i,j} x[n, c, i, j].
/// The output is flat [C], ready for a <see cref="Dense"/> layer (ONNX GlobalAveragePool gives [N, C, 1, 1]; the
/// exporter follows it with a Flatten). Backward spreads dy / (H·W) over the map.
/// </summary>
public sealed class GlobalAveragePool : Layer
{
    private bool _trained;
    private Tensor? _dx;

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        int c = InputShape[0], hw = InputShape[1] * InputShape[2];
        var y = ctx.Buffer(this, 0, [x.BatchSize, c]);
        var xs = x.Span;
        var ys = y.Span;
        for (int plane = 0; plane < ys.Length; plane++)
        {
            ys[plane] = System.Numerics.Tensors.TensorPrimitives.Sum(xs.Slice(plane * hw, hw)) / hw;
        }

        _trained |= ctx.IsTraining;
        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        if (!_trained)
        {
            throw NoForward(Name);
        }

        _dx = Tensor.Reuse(_dx, dy.BatchSize, InputShape);
        int hw = InputShape[1] * InputShape[2];
        var dx = _dx.Span;
        var dys = dy.Span;
        for (int plane = 0; plane < dys.Length; plane++)
        {
            dx.Slice(plane * hw, hw).Fill(dys[plane] / hw);
        }

        return _dx;
    }

    /// <summary>ONNX: <c>GlobalAveragePool</c> ([N, C, 1, 1]) then <c>Flatten</c> (axis 1) to the layer's [N, C].</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        g.Then("GlobalAveragePool");
        g.Then("Flatten", null, OnnxAttribute.Int("axis", 1));
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new GlobalAveragePool();

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 3)
        {
            throw new ArgumentException($"GlobalAveragePool expects images [channels, height, width], got {Tensor.FormatShape(inputShape)}.");
        }

        return [inputShape[0]];
    }
}
