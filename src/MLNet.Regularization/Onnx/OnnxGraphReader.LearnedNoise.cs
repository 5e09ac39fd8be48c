using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx.Protobuf;

namespace MLNet.Regularization.Onnx;

/// <summary>The node patterns that start with a Gemm and go on: Standout (<see cref="StandoutDense"/>), fast dropout
/// (<see cref="FastDropoutDense"/>) and DropConnect's Gaussian moment matching
/// (<see cref="DropConnectGaussianInference"/>), as their <c>ExportOnnx</c> methods write them.</summary>
internal sealed partial class OnnxGraphReader
{
    /// <summary>Reads <paramref name="gemm"/> and what follows when it opens one of these patterns; false for a plain
    /// Gemm (a Dense).</summary>
    private bool TryReadGemmWithNoise(NodeProto gemm)
    {
        var next = _position + 1 < _end ? _nodes[_position + 1] : null;
        if (next is not { OpType: "Mul", Input.Count: 2 } || gemm.Output.Count != 1)
        {
            return false;
        }

        // Standout's Mul(z, α) is followed by Add(·, β) and a Sigmoid; a classic dropout's Mul(z, 1 − p) after a Dense is not.
        var add = _position + 2 < _end ? _nodes[_position + 2] : null;
        var sigmoid = _position + 3 < _end ? _nodes[_position + 3] : null;
        if (next.Input[0] == gemm.Output[0] && _initializers.ContainsKey(next.Input[1])
            && add is { OpType: "Add", Input.Count: 2 } && add.Input[0] == next.Output[0]
            && sigmoid is { OpType: "Sigmoid", Input.Count: 1 } && sigmoid.Input[0] == add.Output[0])
        {
            ReadStandout(gemm);
            return true;
        }

        if (next.Input[0] == _current && next.Input[1] == _current)
        {
            ReadGaussianMoments(gemm);
            return true;
        }

        return false;
    }

    // Standout: Gemm → z; Mul(z, α); Add(·, β); Sigmoid → π; the activation on z → g; Mul(π, g)
    // (Monte Carlo: RandomUniformLike(π), Less(·, π), Cast → m; Mul(m, g)).
    private void ReadStandout(NodeProto gemm)
    {
        var (weight, units, bias) = GemmWithBias(gemm);
        string z = gemm.Output[0];
        var scale = Next(gemm, "Mul", 2, [z, null]);
        float alpha = Scalar(scale, scale.Input[1]);
        var shift = Next(scale, "Add", 2, [scale.Output[0], null]);
        float beta = Scalar(shift, shift.Input[1]);
        var sigmoid = Next(shift, "Sigmoid", 1, [shift.Output[0]]);
        var (activation, activated, last) = ReadInnerActivation(IndexOf(sigmoid) + 1, z, units);
        string keep = sigmoid.Output[0];
        var after = NodeAfter(last, "Standout's activation");
        if (after.OpType == "RandomUniformLike")
        {
            var uniform = Next(last, "RandomUniformLike", 1, [keep]);
            var attributes = Attributes(uniform, "dtype", "low", "high", "seed");
            RequireInt(uniform, attributes, "dtype", (long)OnnxElementType.Float, (long)OnnxElementType.Float);
            RequireFloat(uniform, attributes, "low", 0f, 0f);
            RequireFloat(uniform, attributes, "high", 1f, 1f);
            var less = Next(uniform, "Less", 2, [uniform.Output[0], keep]);
            var cast = Next(less, "Cast", 1, [less.Output[0]]);
            RequireCastToFloat(cast);
            keep = cast.Output[0];
            last = cast;
        }

        var product = Next(last, "Mul", 2, [keep, activated]);
        if (!float.IsFinite(alpha) || !float.IsFinite(beta))
        {
            throw Unsupported(scale, $"Standout's α = {alpha}, β = {beta}");
        }

        _layers.Add((new StandoutDense(units, activation, alpha, beta, learnTying: false), [weight, bias]));
        Finish(product, units);
    }

    // Both start Gemm(x, W, b) → μ; Mul(x, x); Mul(W, W); Gemm(x², W²) ; Mul(·, c) → s². Fast dropout then adds ε and
    // takes the expectation of its nonlinearity; DropConnect's moment matching takes Sqrt and samples.
    private void ReadGaussianMoments(NodeProto gemm)
    {
        var (weight, units, bias) = GemmWithBias(gemm);
        string x = _current, w = gemm.Input[1], mean = gemm.Output[0];
        var squares = Next(gemm, "Mul", 2, [x, x]);
        var weightSquares = Next(squares, "Mul", 2, [w, w]);
        var product = Next(weightSquares, "Gemm", 2, [squares.Output[0], weightSquares.Output[0]]);
        var attributes = Attributes(product, "transA", "transB", "alpha", "beta");
        RequireInt(product, attributes, "transA", 0, 0);
        RequireInt(product, attributes, "transB", 1, 0);
        RequireFloat(product, attributes, "alpha", 1f, 1f);
        RequireFloat(product, attributes, "beta", 1f, 1f);
        var scaled = Next(product, "Mul", 2, [product.Output[0], null]);
        float factor = Scalar(scaled, scaled.Input[1]);
        if (!(factor > 0f && float.IsFinite(factor)))
        {
            throw Unsupported(scaled, $"a variance factor r/(1 − r) of {factor}");
        }

        float rate = Recover(factor / (1.0 + factor), r => r > 0f && r < 1f && r / (1f - r) == factor);
        var following = NodeAfter(scaled, "the variance");
        if (following.OpType == "Add")
        {
            ReadFastDropout(scaled, mean, units, rate, weight, bias);
        }
        else
        {
            ReadGaussianDropConnect(scaled, mean, units, rate, weight, bias);
        }
    }

    // Fast dropout: Add(s², ε) → v; ReLU: Sqrt → s, Div(μ, s) → t, Div(t, √2), Erf, Add(·, 1), Mul(·, ½) → Φ,
    // Mul(t, t), Mul(·, −½), Exp, Mul(·, 1/√(2π)) → φ, Mul(μ, Φ), Mul(s, φ), Add; logistic: Mul(v, π/8), Add(·, 1),
    // Sqrt, Div(μ, ·), Sigmoid.
    private void ReadFastDropout(NodeProto variance, string mean, int units, float rate, float[] weight, float[] bias)
    {
        var add = Next(variance, "Add", 2, [variance.Output[0], null]);
        RequireScalar(add, add.Input[1], GaussianPreActivation.Epsilon, "fast dropout's variance offset");
        string v = add.Output[0];
        NodeProto last;
        FastDropoutActivation activation;
        if (NodeAfter(add, "fast dropout's variance").OpType == "Sqrt")
        {
            var s = Next(add, "Sqrt", 1, [v]);
            var t = Next(s, "Div", 2, [mean, s.Output[0]]);
            var scaledT = Next(t, "Div", 2, [t.Output[0], null]);
            RequireScalar(scaledT, scaledT.Input[1], GELU.Sqrt2, "Φ's division");
            var erf = Next(scaledT, "Erf", 1, [scaledT.Output[0]]);
            var plusOne = Next(erf, "Add", 2, [erf.Output[0], null]);
            RequireScalar(plusOne, plusOne.Input[1], 1f, "Φ's Add");
            var cdf = Next(plusOne, "Mul", 2, [plusOne.Output[0], null]);
            RequireScalar(cdf, cdf.Input[1], 0.5f, "Φ's Mul");
            var square = Next(cdf, "Mul", 2, [t.Output[0], t.Output[0]]);
            var half = Next(square, "Mul", 2, [square.Output[0], null]);
            RequireScalar(half, half.Input[1], -0.5f, "φ's exponent");
            var exp = Next(half, "Exp", 1, [half.Output[0]]);
            var pdf = Next(exp, "Mul", 2, [exp.Output[0], null]);
            RequireScalar(pdf, pdf.Input[1], (float)Tensors.MathExtras.InvSqrt2Pi, "φ's normalization");
            var first = Next(pdf, "Mul", 2, [mean, cdf.Output[0]]);
            var second = Next(first, "Mul", 2, [s.Output[0], pdf.Output[0]]);
            last = Next(second, "Add", 2, [first.Output[0], second.Output[0]]);
            activation = FastDropoutActivation.ReLU;
        }
        else
        {
            var kappa = Next(add, "Mul", 2, [v, null]);
            RequireScalar(kappa, kappa.Input[1], FastDropoutDense.PiOver8, "the probit approximation's π/8");
            var plusOne = Next(kappa, "Add", 2, [kappa.Output[0], null]);
            RequireScalar(plusOne, plusOne.Input[1], 1f, "the probit approximation's Add");
            var root = Next(plusOne, "Sqrt", 1, [plusOne.Output[0]]);
            var divide = Next(root, "Div", 2, [mean, root.Output[0]]);
            last = Next(divide, "Sigmoid", 1, [divide.Output[0]]);
            activation = FastDropoutActivation.Sigmoid;
        }

        _layers.Add((new FastDropoutDense(units, rate, activation), [weight, bias]));
        Finish(last, units);
    }

    // DropConnect's moment matching: Sqrt → s; Unsqueeze(μ, [0]); Unsqueeze(s, [0]); Expand(s, [Z, 1, 1]);
    // RandomNormalLike → ε; Mul(ε, s); Add(·, μ); the activation; ReduceMean(axes [0], keepdims 0).
    private void ReadGaussianDropConnect(NodeProto variance, string mean, int units, float rate, float[] weight, float[] bias)
    {
        var sqrt = Next(variance, "Sqrt", 1, [variance.Output[0]]);
        var meanRows = Next(sqrt, "Unsqueeze", 2, [mean, null]);
        var deviationRows = Next(meanRows, "Unsqueeze", 2, [sqrt.Output[0], meanRows.Input[1]]);
        if (Int64s(meanRows, meanRows.Input[1]) is not [0])
        {
            throw Unsupported(meanRows, "Unsqueeze axes other than [0]");
        }

        var expand = Next(deviationRows, "Expand", 2, [deviationRows.Output[0], null]);
        long[] shape = Int64s(expand, expand.Input[1]);
        if (shape is not [> 0 and <= 100_000, 1, 1])
        {
            throw Unsupported(expand, $"an Expand to [{string.Join(", ", shape)}] (the exporter expands the deviations to [Z, 1, 1])");
        }

        var noise = Next(expand, "RandomNormalLike", 1, [expand.Output[0]]);
        var attributes = Attributes(noise, "dtype", "mean", "scale", "seed");
        RequireInt(noise, attributes, "dtype", (long)OnnxElementType.Float, (long)OnnxElementType.Float);
        RequireFloat(noise, attributes, "mean", 0f, 0f);
        RequireFloat(noise, attributes, "scale", 1f, 1f);
        float seed = FloatAttribute(noise, attributes, "seed", 0f);
        if (!(seed >= 0f && seed < 1 << 24 && seed == MathF.Floor(seed)))
        {
            throw Unsupported(noise, $"seed = {seed} (the exporter writes a whole number below 2^24)");
        }

        var scaledNoise = Next(noise, "Mul", 2, [noise.Output[0], deviationRows.Output[0]]);
        var sample = Next(scaledNoise, "Add", 2, [scaledNoise.Output[0], meanRows.Output[0]]);
        var (activation, activated, last) = ReadInnerActivation(IndexOf(sample) + 1, sample.Output[0], units);
        var average = Next(last, "ReduceMean", 1, [activated]);
        var reduce = Attributes(average, "axes", "keepdims");
        if (!reduce.TryGetValue("axes", out var axes) || axes.Ints.Count != 1 || axes.Ints[0] != 0)
        {
            throw Unsupported(average, "a ReduceMean over axes other than [0]");
        }

        RequireInt(average, reduce, "keepdims", 0, 1);
        if (!(rate > 0f && rate < 1f))
        {
            throw Unsupported(variance, $"a DropConnect rate of {rate}");
        }

        _layers.Add((new DropConnectGaussianInference(units, rate, (int)shape[0], activation, (int)seed), [weight, bias]));
        Finish(average, units);
    }

    /// <summary>A Gemm with weight and bias (the learned-noise layers always have one).</summary>
    private (float[] Weight, int Units, float[] Bias) GemmWithBias(NodeProto gemm)
    {
        CheckGemm(gemm);
        if (gemm.Input.Count != 3)
        {
            throw Fail(gemm, "this layer's Gemm has no bias.");
        }

        var (weight, units) = GemmWeight(gemm);
        return (weight, units, Floats(gemm, gemm.Input[2], [units]));
    }

    /// <summary>Reads the activation whose first node is at <paramref name="index"/> and reads <paramref name="input"/>
    /// (ReLU, LeakyReLU, tanh, the logistic or GELU's five nodes), without adding it to the network; returns it, its
    /// output and its last node.</summary>
    private (Activation Activation, string Output, NodeProto Last) ReadInnerActivation(int index, string input, int units)
    {
        if (index >= _end)
        {
            throw Fail($"the graph ends where an activation was expected after node '{Show(_nodes[index - 1].Name)}'.");
        }

        var (position, current, shape, count) = (_position, _current, _shape, _layers.Count);
        (_position, _current, _shape) = (index, input, [units]);
        ReadLayer(_nodes[index]);
        if (_layers.Count != count + 1 || _layers[^1].Layer is not Activation activation)
        {
            throw Fail(_nodes[index], "the exporter writes an activation (Relu, LeakyRelu, Tanh, Sigmoid or GELU's nodes) here.");
        }

        _layers.RemoveAt(count);
        var result = (activation, _current, _nodes[_position - 1]);
        (_position, _current, _shape) = (position, current, shape);
        return result;
    }

    /// <summary>The node after <paramref name="node"/>, which must exist.</summary>
    private NodeProto NodeAfter(NodeProto node, string what)
    {
        int index = IndexOf(node) + 1;
        return index < _end ? _nodes[index] : throw Fail(node, $"the graph ends after {what}.");
    }

    /// <summary>Moves the chain past <paramref name="last"/>, the pattern's output, [units] per example.</summary>
    private void Finish(NodeProto last, int units)
    {
        _position = IndexOf(last);
        _shape = [units];
        Advance(last);
    }
}
