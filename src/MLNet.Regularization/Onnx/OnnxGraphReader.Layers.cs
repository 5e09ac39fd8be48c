using System.Globalization;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx.Protobuf;

namespace MLNet.Regularization.Onnx;

/// <summary>The node patterns of each layer, as the layers' <c>ExportOnnx</c> methods write them.</summary>
internal sealed partial class OnnxGraphReader
{
    private void ReadLayer(NodeProto node)
    {
        switch (node.OpType)
        {
            case "Gemm":
                if (!TryReadGemmWithNoise(node))
                {
                    ReadGemm(node, null);
                }

                break;
            case "Conv":
                ReadConv(node);
                break;
            case "MaxPool" or "AveragePool":
                ReadPool(node);
                break;
            case "GlobalAveragePool":
                ReadGlobalAveragePool(node);
                break;
            case "Flatten":
                ReadFlatten(node);
                break;
            case "BatchNormalization":
                ReadBatchNorm(node);
                break;
            case "Relu":
                Activation(node, new ReLU());
                break;
            case "Tanh":
                Activation(node, new Tanh());
                break;
            case "Sigmoid":
                Activation(node, new Sigmoid());
                break;
            case "LeakyRelu":
                var attributes = Attributes(node, "alpha");
                float alpha = FloatAttribute(node, attributes, "alpha", 0.01f);
                if (!(alpha >= 0f && alpha < 1f))
                {
                    throw Unsupported(node, $"alpha = {alpha} (LeakyReLU's slope must be in [0, 1))");
                }

                Activation(node, new LeakyReLU(alpha), attributes);
                break;
            case "Div":
                ReadGelu(node);
                break;
            case "Mul":
                ReadClassicDropout(node);
                break;
            case "Dropout":
                if (node.Input.Count > 0 && node.Input[0] == _current)
                {
                    ReadDropout(node);
                }
                else
                {
                    ReadDropConnect(node);
                }

                break;
            case "RandomNormalLike":
                ReadGaussianDropout(node);
                break;
            case "Transpose":
                ReadRecurrent(node);
                break;
            case "Cast":
                ReadEmbedding(node);
                break;
            case "Reshape":
                ReadReshape(node);
                break;
            default:
                throw new InvalidDataException(
                    $"{_source}: node '{Show(node.Name)}' uses operator '{Show(node.OpType)}', which OnnxImporter does not support; it reads only what MLNet.Regularization's exporter writes ({Operators}).");
        }
    }

    // Dense: Gemm(x, W [units, inputs], b [units]?) with transB = 1. DropConnect (Monte Carlo) passes its masked W.
    private void ReadGemm(NodeProto node, (string Masked, float[] Weight, float Rate)? dropConnect)
    {
        CheckGemm(node);
        float[] weight;
        int units;
        if (dropConnect is { } dc)
        {
            if (node.Input[1] != dc.Masked)
            {
                throw Fail(node, "the Gemm after a DropConnect mask does not read the masked weights.");
            }

            weight = dc.Weight;
            units = weight.Length / _shape[0];
        }
        else
        {
            (weight, units) = GemmWeight(node);
        }

        bool hasBias = node.Input.Count == 3;
        float[]? bias = hasBias ? Floats(node, node.Input[2], [units]) : null;
        if (dropConnect is { } d)
        {
            if (bias is null)
            {
                throw Fail(node, "a DropConnect layer's Gemm has no bias.");
            }

            _layers.Add((new DropConnectDense(units, d.Rate), [weight, bias]));
        }
        else
        {
            _layers.Add((new Dense(units, useBias: hasBias), bias is null ? [weight] : [weight, bias]));
        }

        _shape = [units];
        Advance(node);
    }

    /// <summary>Checks a Gemm as the exporter writes it: x, W and an optional bias, transB = 1, flat input.</summary>
    private void CheckGemm(NodeProto node)
    {
        if (node.Input.Count is not (2 or 3))
        {
            throw Fail(node, $"Gemm has {node.Input.Count} inputs, expected x, W and an optional bias.");
        }

        Check(node, "Gemm", node.Input.Count, 1);
        var attributes = Attributes(node, "transA", "transB", "alpha", "beta");
        RequireInt(node, attributes, "transA", 0, 0);
        RequireInt(node, attributes, "transB", 1, 0);
        RequireFloat(node, attributes, "alpha", 1f, 1f);
        RequireFloat(node, attributes, "beta", 1f, 1f);
        if (_shape.Length != 1)
        {
            throw Fail(node, $"Gemm reads a tensor of per-example shape {Tensors.Tensor.FormatShape(_shape)}; it needs flat features.");
        }
    }

    /// <summary>A Gemm's constant weight [units, current features] and its unit count.</summary>
    private (float[] Weight, int Units) GemmWeight(NodeProto node)
    {
        var dims = Dims(node, node.Input[1]);
        if (dims.Length != 2 || dims[1] != _shape[0])
        {
            throw Fail(node, $"weight '{Show(node.Input[1])}' has dims {Tensors.Tensor.FormatShape(dims)}, expected [units, {_shape[0]}].");
        }

        return (Floats(node, node.Input[1], dims), dims[0]);
    }

    private void ReadBatchNorm(NodeProto node)
    {
        Check(node, "BatchNormalization", 5, 1);
        var attributes = Attributes(node, "epsilon", "momentum", "training_mode");
        RequireInt(node, attributes, "training_mode", 0, 0);
        float epsilon = FloatAttribute(node, attributes, "epsilon", 1e-5f);
        float onnxMomentum = FloatAttribute(node, attributes, "momentum", 0.9f);
        float momentum = Recover(1.0 - onnxMomentum, m => 1f - m == onnxMomentum);
        if (!(epsilon > 0f && float.IsFinite(epsilon)) || !(momentum > 0f && momentum <= 1f))
        {
            throw Unsupported(node, $"epsilon = {epsilon}, momentum = {onnxMomentum}");
        }

        int channels = _shape[0];
        float[][] values = node.Input.Skip(1).Select(name => Floats(node, name, [channels])).ToArray();
        int negative = Array.FindIndex(values[3], v => v < 0f);
        if (negative >= 0)
        {
            throw Fail(node, $"the running variance '{Show(node.Input[4])}' is {values[3][negative].ToString(CultureInfo.InvariantCulture)} for channel {negative}; a variance cannot be negative.");
        }
        _layers.Add((new BatchNorm(momentum, epsilon), values));
        Advance(node);
    }

    private void Activation(NodeProto node, Layer layer, Dictionary<string, AttributeProto>? checkedAttributes = null)
    {
        Check(node, node.OpType, 1, 1);
        if (checkedAttributes is null)
        {
            Attributes(node);
        }

        _layers.Add((layer, []));
        Advance(node);
    }

    // GELU: Div(x, √2) → Erf → Add(·, 1) → Mul(x, ·) → Mul(·, 0.5).
    private void ReadGelu(NodeProto div)
    {
        string x = _current;
        Check(div, "Div", 2, 1);
        Attributes(div);
        RequireScalar(div, div.Input[1], GELU.Sqrt2, "GELU's Div");
        var erf = Next(div, "Erf", 1, [div.Output[0]]);
        var add = Next(erf, "Add", 2, [erf.Output[0], null]);
        RequireScalar(add, add.Input[1], 1f, "GELU's Add");
        var mul = Next(add, "Mul", 2, [x, add.Output[0]]);
        var half = Next(mul, "Mul", 2, [mul.Output[0], null]);
        RequireScalar(half, half.Input[1], 0.5f, "GELU's last Mul");
        _layers.Add((new GELU(), []));
        _position += 4;
        Advance(half);
    }

    // Classic dropout at inference: Mul(x, 1 − rate).
    private void ReadClassicDropout(NodeProto node)
    {
        Check(node, "Mul", 2, 1);
        Attributes(node);
        float keep = Scalar(node, node.Input[1]);
        if (!(keep > 0f && keep < 1f))
        {
            throw Unsupported(node, $"Mul by {keep} (the exporter multiplies only by classic dropout's keep probability, in (0, 1))");
        }

        // Rate r such that 1 − r gives back exactly this factor (r = 1 − keep always does; prefer a short decimal).
        float rate = Recover(1.0 - keep, r => 1f - r == keep, 1f - keep);
        _layers.Add((new Dropout(rate, DropoutVariant.Classic), []));
        Advance(node);
    }

    // Monte Carlo dropout: Dropout(x, ratio, true) → mask → Cast → [Mul(·, 1/(1 − ratio)) for inverted] → Mul(x, ·).
    private void ReadDropout(NodeProto node)
    {
        float rate = DropoutInputs(node);
        if (node.Output.Count != 2 || node.Output[1].Length == 0)
        {
            throw Fail(node, "a Monte Carlo Dropout must output its mask, which the exporter applies explicitly.");
        }

        string x = _current;
        var cast = Next(node, "Cast", 1, [node.Output[1]]);
        RequireCastToFloat(cast);
        var next = Next(cast, "Mul", 2, [null, null]);
        var layer = new Dropout(rate, DropoutVariant.Classic);
        int consumed = 2;
        if (next.Input[0] == cast.Output[0])
        {
            layer = new Dropout(rate, DropoutVariant.Inverted);
            RequireScalar(next, next.Input[1], layer.KeptScale, "inverted dropout's mask scaling");
            next = Next(next, "Mul", 2, [x, next.Output[0]]);
            consumed = 3;
        }
        else if (next.Input[0] != x || next.Input[1] != cast.Output[0])
        {
            throw Fail(next, $"it should multiply '{Show(x)}' by the dropout mask '{Show(cast.Output[0])}'.");
        }

        _layers.Add((layer, []));
        _position += consumed;
        Advance(next);
    }

    // Monte Carlo DropConnect: Dropout(W, ratio, true) → mask → Cast → Mul(W, mask) → Gemm(x, masked, b).
    private void ReadDropConnect(NodeProto node)
    {
        float rate = DropoutInputs(node);
        if (node.Output.Count != 2 || node.Output[1].Length == 0)
        {
            throw Fail(node, "a Dropout that reads a constant must output its mask (DropConnect's form).");
        }

        var dims = Dims(node, node.Input[0]);
        if (dims.Length != 2 || _shape.Length != 1 || dims[1] != _shape[0])
        {
            throw Fail(node, $"DropConnect weight '{Show(node.Input[0])}' has dims {Tensors.Tensor.FormatShape(dims)}, expected [units, {(_shape.Length == 1 ? _shape[0] : -1)}].");
        }

        float[] weight = Floats(node, node.Input[0], dims);
        var cast = Next(node, "Cast", 1, [node.Output[1]]);
        RequireCastToFloat(cast);
        var mul = Next(cast, "Mul", 2, [node.Input[0], cast.Output[0]]);
        var gemm = _position + 3 < _end ? _nodes[_position + 3] : throw Fail(mul, "the masked DropConnect weights are not followed by a Gemm.");
        _position += 3;
        ReadGemm(gemm, (mul.Output[0], weight, rate));
    }

    // Monte Carlo Gaussian dropout: Mul(x, RandomNormalLike(x, mean = 1, scale = σ)), σ² = rate/(1 − rate).
    private void ReadGaussianDropout(NodeProto node)
    {
        Check(node, "RandomNormalLike", 1, 1);
        var attributes = Attributes(node, "dtype", "mean", "scale", "seed");
        RequireInt(node, attributes, "dtype", (long)OnnxElementType.Float, (long)OnnxElementType.Float);
        RequireFloat(node, attributes, "mean", 1f, 0f);
        float std = FloatAttribute(node, attributes, "scale", 1f);
        if (!(std > 0f && float.IsFinite(std)))
        {
            throw Unsupported(node, $"scale = {std}");
        }

        var mul = Next(node, "Mul", 2, [_current, node.Output[0]]);
        double variance = (double)std * std;
        float rate = Recover(variance / (1 + variance), r => r < 1f && MathF.Sqrt(r / (1f - r)) == std);
        _layers.Add((new GaussianDropout(rate), []));
        _position++;
        Advance(mul);
    }

    private float DropoutInputs(NodeProto node)
    {
        if (node.Input.Count != 3 || node.Output.Count is < 1 or > 2)
        {
            throw Fail(node, "Dropout must have inputs (data, ratio, training_mode) and one or two outputs.");
        }

        CheckDomain(node);
        Attributes(node, "seed");
        float rate = Scalar(node, node.Input[1]);
        if (!(rate > 0f && rate < 1f))
        {
            throw Unsupported(node, $"ratio = {rate}");
        }

        if (!BoolScalar(node, node.Input[2]))
        {
            throw Unsupported(node, "training_mode = false (the exporter writes Dropout only as an active Monte Carlo node)");
        }

        return rate;
    }
}
