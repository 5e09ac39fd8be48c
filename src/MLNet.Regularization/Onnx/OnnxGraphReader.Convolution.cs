using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Onnx;

/// <summary>The node patterns of the convolutional layers: Conv, MaxPool, AveragePool, GlobalAveragePool + Flatten
/// and Flatten, over per-example shapes [C, H, W].</summary>
internal sealed partial class OnnxGraphReader
{
    // Conv2D: Conv(x, W [F, C, kh, kw], b [F]?) with kernel_shape, pads, strides and dilations (one value per axis, equal).
    private void ReadConv(NodeProto node)
    {
        if (node.Input.Count is not (2 or 3))
        {
            throw Fail(node, $"Conv has {node.Input.Count} inputs, expected x, W and an optional bias.");
        }

        Check(node, "Conv", node.Input.Count, 1);
        var attributes = Attributes(node, "kernel_shape", "pads", "strides", "dilations", "group");
        RequireInt(node, attributes, "group", 1, 1);
        RequireImage(node);
        var dims = Dims(node, node.Input[1]);
        if (dims.Length != 4 || dims[1] != _shape[0])
        {
            throw Fail(node, $"weight '{Show(node.Input[1])}' has dims {Tensor.FormatShape(dims)}, expected [filters, {_shape[0]}, kh, kw].");
        }

        int filters = dims[0], kh = dims[2], kw = dims[3];
        var kernel = Ints(node, attributes, "kernel_shape", [kh, kw]);
        if (kernel[0] != kh || kernel[1] != kw)
        {
            throw Fail(node, $"kernel_shape [{string.Join(", ", kernel)}] does not match the weight's dims {Tensor.FormatShape(dims)}.");
        }

        int stride = Uniform(node, Ints(node, attributes, "strides", [1, 1]), "strides");
        int dilation = Uniform(node, Ints(node, attributes, "dilations", [1, 1]), "dilations");
        var pads = Ints(node, attributes, "pads", [0, 0, 0, 0], 4);
        var padding = PaddingFor(node, pads, kh, kw, stride, dilation);
        float[] weight = Floats(node, node.Input[1], dims);
        bool hasBias = node.Input.Count == 3;
        float[][] values = hasBias ? [weight, Floats(node, node.Input[2], [filters])] : [weight];
        var layer = new Conv2D(filters, (kh, kw), stride, padding, dilation, hasBias);
        var g = ConvGeometry.Create("Conv2D", _shape, kh, kw, stride, dilation, padding);
        _layers.Add((layer, values));
        _shape = [filters, g.OutHeight, g.OutWidth];
        CheckShapeSize(node);
        Advance(node);
    }

    // MaxPool2D: MaxPool(x) with kernel_shape, pads and strides; AvgPool2D: AveragePool(x), also count_include_pad = 0.
    private void ReadPool(NodeProto node)
    {
        Check(node, node.OpType, 1, 1);
        bool average = node.OpType == "AveragePool";
        var attributes = average
            ? Attributes(node, "kernel_shape", "pads", "strides", "count_include_pad", "ceil_mode")
            : Attributes(node, "kernel_shape", "pads", "strides", "ceil_mode", "storage_order");
        RequireInt(node, attributes, "ceil_mode", 0, 0);
        if (average)
        {
            RequireInt(node, attributes, "count_include_pad", 0, 0);
        }
        else
        {
            RequireInt(node, attributes, "storage_order", 0, 0);
        }

        RequireImage(node);
        if (!attributes.ContainsKey("kernel_shape"))
        {
            throw Fail(node, "the pooling node has no kernel_shape.");
        }

        var kernel = Ints(node, attributes, "kernel_shape", [], 2);
        if (kernel[0] < 1 || kernel[1] < 1)
        {
            throw Unsupported(node, $"kernel_shape [{string.Join(", ", kernel)}]");
        }

        int kh = (int)kernel[0], kw = (int)kernel[1];
        int stride = Uniform(node, Ints(node, attributes, "strides", [1, 1]), "strides");
        var padding = PaddingFor(node, Ints(node, attributes, "pads", [0, 0, 0, 0], 4), kh, kw, stride, 1);
        Layer layer;
        try
        {
            layer = average ? new AvgPool2D((kh, kw), stride, padding) : new MaxPool2D((kh, kw), stride, padding);
        }
        catch (ArgumentException e)
        {
            throw Unsupported(node, $"a window the pooling layers cannot hold ({e.Message})");
        }

        var g = ConvGeometry.Create(node.OpType, _shape, kh, kw, stride, 1, padding);
        _layers.Add((layer, []));
        _shape = [_shape[0], g.OutHeight, g.OutWidth];
        CheckShapeSize(node);
        Advance(node);
    }

    // GlobalAveragePool: GlobalAveragePool(x) → Flatten(·, axis = 1), giving [N, C]. Or Monte Carlo spatial dropout.
    private void ReadGlobalAveragePool(NodeProto node)
    {
        Check(node, "GlobalAveragePool", 1, 1);
        Attributes(node);
        RequireImage(node);
        if (_position + 1 < _end && _nodes[_position + 1] is { OpType: "Dropout" } dropout && dropout.Input.Count > 0 && dropout.Input[0] == node.Output[0])
        {
            ReadSpatialDropout(node, dropout);
            return;
        }

        var flatten = _position + 1 < _end ? _nodes[_position + 1] : throw Fail(node, "GlobalAveragePool should be followed by a Flatten.");
        _layers.Add((new GlobalAveragePool(), []));
        _shape = [_shape[0], 1, 1];
        Advance(node);
        ReadFlatten(flatten, addLayer: false);
        _shape = [_shape[0]];
    }

    // Monte Carlo spatial dropout: GlobalAveragePool(x) → Dropout(·, ratio, true) → mask → Cast → Mul(·, 1/(1 − ratio))
    // → Mul(x, ·).
    private void ReadSpatialDropout(NodeProto pool, NodeProto dropout)
    {
        float rate = DropoutInputs(dropout);
        if (dropout.Output.Count != 2 || dropout.Output[1].Length == 0)
        {
            throw Fail(dropout, "a Monte Carlo spatial dropout must output its mask, which the exporter applies explicitly.");
        }

        string x = _current;
        var cast = Next(dropout, "Cast", 1, [dropout.Output[1]]);
        RequireCastToFloat(cast);
        var layer = new SpatialDropout2D(rate);
        var scale = Next(cast, "Mul", 2, [cast.Output[0], null]);
        RequireScalar(scale, scale.Input[1], layer.KeptScale, "spatial dropout's mask scaling");
        var mul = Next(scale, "Mul", 2, [x, scale.Output[0]]);
        _layers.Add((layer, []));
        _position += 4;
        Advance(mul);
    }

    // Flatten: Flatten(x, axis = 1).
    private void ReadFlatten(NodeProto node, bool addLayer = true)
    {
        Check(node, "Flatten", 1, 1);
        var attributes = Attributes(node, "axis");
        RequireInt(node, attributes, "axis", 1, 1);
        if (addLayer)
        {
            _layers.Add((new Flatten(), []));
        }

        CheckShapeSize(node); // the product below fits in an int once it is within MaxTensorElements
        _shape = [_shape.Aggregate(1, (a, b) => a * b)];
        Advance(node);
    }

    private void RequireImage(NodeProto node)
    {
        if (_shape.Length != 3)
        {
            throw Fail(node, $"it reads a tensor of per-example shape {Tensor.FormatShape(_shape)}; it needs images [channels, height, width].");
        }
    }

    private long[] Ints(NodeProto node, Dictionary<string, AttributeProto> attributes, string name, long[] defaultValue, int count = 2)
    {
        if (!attributes.TryGetValue(name, out var a))
        {
            return defaultValue;
        }

        if (a.Type != AttributeProto.Types.AttributeType.Ints)
        {
            throw Fail(node, $"attribute '{Show(name)}' is not a list of integers.");
        }

        if (a.Ints.Count != count || a.Ints.Any(v => v < 0 || v > int.MaxValue))
        {
            throw Unsupported(node, $"attribute {name} = [{string.Join(", ", a.Ints)}] (expected {count} non-negative values)");
        }

        return a.Ints.ToArray();
    }

    private int Uniform(NodeProto node, long[] values, string name)
    {
        if (values[0] != values[1] || values[0] < 1)
        {
            throw Unsupported(node, $"attribute {name} = [{string.Join(", ", values)}] (the layers take one positive value for both axes)");
        }

        return (int)values[0];
    }

    /// <summary>The layer padding that resolves to <paramref name="pads"/> (top, left, bottom, right): symmetric pixels,
    /// or "same" when that is what it resolves to on this input.</summary>
    private Padding2D PaddingFor(NodeProto node, long[] pads, int kh, int kw, int stride, int dilation)
    {
        if (pads[0] == pads[2] && pads[1] == pads[3])
        {
            return new Padding2D((int)pads[0], (int)pads[1]);
        }

        var same = ConvGeometry.Create(node.OpType, _shape, kh, kw, stride, dilation, Padding2D.Same).Pads;
        if (same == ((int)pads[0], (int)pads[1], (int)pads[2], (int)pads[3]))
        {
            return Padding2D.Same;
        }

        throw Unsupported(node, $"pads [{string.Join(", ", pads)}] (the layers pad symmetrically, or as \"same\")");
    }
}
