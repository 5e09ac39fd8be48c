using MLNet.Regularization.Onnx;

namespace MLNet.Regularization.Layers;

/// <summary>The ONNX forms the convolutional layers share: Conv, the pooling nodes, and the rule for training-only
/// regularizers.</summary>
internal static class ConvOnnx
{
    /// <summary>Conv(x, W [F, C, kh, kw], b [F]?) with explicit pads (top, left, bottom, right), ONNX's order
    /// [x1_begin, x2_begin, x1_end, x2_end] being the same.</summary>
    public static void Conv(OnnxGraphBuilder g, ReadOnlySpan<float> weight, ReadOnlySpan<int> weightShape, ReadOnlySpan<float> bias,
        bool hasBias, int stride, int dilation, (int Top, int Left, int Bottom, int Right) pads, string weightName = "weight")
    {
        string w = g.AddInitializer(weightName, weight, weightShape);
        string[] more = hasBias ? [w, g.AddInitializer("bias", bias, [weightShape[0]])] : [w];
        g.Then("Conv", more,
            OnnxAttribute.Ints("kernel_shape", weightShape[2], weightShape[3]),
            OnnxAttribute.Ints("pads", pads.Top, pads.Left, pads.Bottom, pads.Right),
            OnnxAttribute.Ints("strides", stride, stride),
            OnnxAttribute.Ints("dilations", dilation, dilation));
    }

    /// <summary>MaxPool or AveragePool with explicit pads; AveragePool with <c>count_include_pad</c> = 0, as the
    /// layer averages over the window's pixels inside the image.</summary>
    public static void Pool(OnnxGraphBuilder g, string opType, int height, int width, int stride, (int Top, int Left, int Bottom, int Right) pads)
    {
        OnnxAttribute[] attributes =
        [
            OnnxAttribute.Ints("kernel_shape", height, width),
            OnnxAttribute.Ints("pads", pads.Top, pads.Left, pads.Bottom, pads.Right),
            OnnxAttribute.Ints("strides", stride, stride),
        ];
        g.Then(opType, null, opType == "AveragePool" ? [.. attributes, OnnxAttribute.Int("count_include_pad", 0)] : attributes);
    }

    /// <summary>A training-only regularizer (identity at inference) writes nothing; a Monte Carlo export of an
    /// active one is refused, as it has no ONNX form.</summary>
    public static void TrainingOnly(Layer layer, OnnxExportContext ctx)
    {
        if (ctx.MonteCarlo && layer.IsStochastic)
        {
            throw new NotSupportedException(
                $"{layer.Name} has no Monte Carlo ONNX form: a Monte Carlo export supports only Dropout, GaussianDropout, DropConnectDense and SpatialDropout2D as stochastic layers. Export without MonteCarlo (the layer is the identity at inference and is left out of the graph).");
        }
    }
}
