using System.Numerics.Tensors;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Standout, or adaptive dropout (Ba &amp; Frey, 2013, "Adaptive dropout for training deep neural networks"): a fully
/// connected layer with activation g whose units are dropped with a probability that depends on the input, set by a
/// binary belief network overlaid on the layer. The paper found the learned belief network recapitulating the layer's
/// own weights, and uses the tied form this layer implements: with z = xWᵀ + b,
/// <code>
///   keep probability π = σ(α z + β),   mask m ~ Bernoulli(π) per example and unit,   h = m ⊙ g(z)
/// </code>
/// with α and β scalars of the layer (learned by default, or fixed). Confident units (large |z| in the direction α
/// favours) are kept more often.
/// <para>Training learns through the local expectation of the mask, as the paper does: backward differentiates
/// h̃ = (m + π − sg(π)) ⊙ g(z), whose value is h (sg stops the gradient), so that
/// ∂h/∂z = m ⊙ g'(z) + g(z) ⊙ π(1 − π)α, ∂h/∂α = g(z) ⊙ π(1 − π) ⊙ z and ∂h/∂β = g(z) ⊙ π(1 − π); then dW = dzᵀx,
/// db = Σ dz, dx = dz W. There is no inverted scaling: inference is the expectation h = σ(αz + β) ⊙ g(z), deterministic,
/// and its ONNX form is <c>Gemm</c>, <c>Mul(z, α)</c>, <c>Add(·, β)</c>, <c>Sigmoid</c>, the activation's node(s) on z,
/// <c>Mul</c>. Monte Carlo mode samples the masks; its ONNX form draws them as <c>Cast(Less(RandomUniformLike(π), π))</c>.</para>
/// </summary>
public sealed class StandoutDense : Layer, ILearnedNoise
{
    private readonly Activation _activation;
    private Parameter? _weight;
    private Parameter? _bias;
    private Parameter? _tying;
    private Tensor? _x;
    private Tensor? _z;
    private Tensor? _g;
    private Tensor? _keep;
    private Tensor? _mask;
    private Tensor? _dx;

    /// <summary>Creates a Standout layer.</summary>
    /// <param name="units">Number of outputs.</param>
    /// <param name="activation">g, the layer's activation (default ReLU); a fresh instance, owned by this layer.</param>
    /// <param name="alpha">α, the belief network's scale of z (default 1).</param>
    /// <param name="beta">β, its shift (default 0: a unit with z = 0 is kept with probability ½).</param>
    /// <param name="learnTying">Learn α and β (default true) or keep them fixed.</param>
    /// <param name="init">Weight initialization.</param>
    public StandoutDense(int units, Activation? activation = null, float alpha = 1f, float beta = 0f, bool learnTying = true, WeightInit init = WeightInit.HeUniform)
    {
        if (units <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(units), units, "StandoutDense needs at least one unit.");
        }

        if (!float.IsFinite(alpha) || !float.IsFinite(beta))
        {
            throw new ArgumentOutOfRangeException(nameof(alpha), (alpha, beta), "Standout's α and β must be finite numbers.");
        }

        Units = units;
        _activation = activation ?? new ReLU();
        if (_activation.IsBuilt)
        {
            throw new ArgumentException("give StandoutDense a fresh activation object (this one is already part of a network).", nameof(activation));
        }

        InitialAlpha = alpha;
        InitialBeta = beta;
        LearnTying = learnTying;
        Init = init;
    }

    /// <summary>The number of outputs.</summary>
    public int Units { get; }

    /// <summary>The activation g.</summary>
    public Activation Activation => _activation;

    /// <summary>α before training.</summary>
    public float InitialAlpha { get; }

    /// <summary>β before training.</summary>
    public float InitialBeta { get; }

    /// <summary>Whether α and β are learned.</summary>
    public bool LearnTying { get; }

    /// <summary>The weight initialization.</summary>
    public WeightInit Init { get; }

    /// <summary>The weight [units, inputs].</summary>
    public Parameter Weight => _weight ?? throw new InvalidOperationException("StandoutDense is not built.");

    /// <summary>The bias [units].</summary>
    public Parameter Bias => _bias ?? throw new InvalidOperationException("StandoutDense is not built.");

    /// <summary>[α, β], the belief network's tying parameters (a parameter only when learned).</summary>
    public Parameter Tying => _tying ?? throw new InvalidOperationException("StandoutDense is not built.");

    /// <summary>The current α.</summary>
    public float Alpha => Tying.Value.Data[0];

    /// <summary>The current β.</summary>
    public float Beta => Tying.Value.Data[1];

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => _weight is null ? [] : LearnTying ? [_weight, _bias!, _tying!] : [_weight, _bias!];

    /// <inheritdoc />
    public override bool IsStochastic => true;

    /// <summary>Test hook: a mask m₀ and keep probabilities π₀ [B, U] to hold fixed, so that a training forward computes
    /// the surrogate (m₀ + π − π₀) ⊙ g(z) whose exact gradient backward computes (finite-difference checks).</summary>
    internal (Tensor Mask, Tensor Keep)? HeldNoise { get; set; }

    /// <inheritdoc />
    public override string Describe() =>
        FormattableString.Invariant($"units={Units}, activation={_activation.Name}, initial α={InitialAlpha}, initial β={InitialBeta}{(LearnTying ? ", learned" : ", fixed")}, init={Init}");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        int batch = x.BatchSize, inputs = InputShape[0];
        var z = ctx.Buffer(this, 1, [batch, Units]);
        Gemm.MultiplyAddBias(false, true, batch, Units, inputs, x.Span, inputs, Weight.Value.Span, inputs, Bias.Value.Span, GemmActivation.None, z.Span, Units, ctx.Threads);
        var g = ctx.Buffer(this, 2, [batch, Units]);
        _activation.Apply(z.Span, g.Span);
        var keep = ctx.Buffer(this, 3, [batch, Units]);
        KeepProbabilities(z.Span, keep.Span);
        var y = ctx.Buffer(this, 0, [batch, Units]);
        if (!ctx.IsStochastic)
        {
            TensorPrimitives.Multiply(keep.Span, g.Span, y.Span);
            return y;
        }

        var mask = ctx.Buffer(this, 4, [batch, Units]);
        if (ctx.IsTraining && HeldNoise is { } held)
        {
            // m₀ + π − π₀: the value of the mask at the held point, the slope of its local expectation.
            TensorPrimitives.Subtract(keep.Span, held.Keep.Span, mask.Span);
            TensorPrimitives.Add(mask.Span, held.Mask.Span, mask.Span);
        }
        else
        {
            ctx.Rng.FillUniform(mask.Span);
            var m = mask.Span;
            var k = keep.Span;
            for (int i = 0; i < m.Length; i++)
            {
                m[i] = m[i] < k[i] ? 1f : 0f;
            }
        }

        TensorPrimitives.Multiply(mask.Span, g.Span, y.Span);
        if (ctx.IsTraining)
        {
            (_x, _z, _g, _keep, _mask) = (x, z, g, keep, mask);
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        var x = _x ?? throw NoForward(Name);
        int batch = x.BatchSize, inputs = InputShape[0];
        var dz = ctx.Buffer(this, 5, dy.Shape);
        var masked = ctx.Buffer(this, 6, dy.Shape);
        TensorPrimitives.Multiply(dy.Span, _mask!.Span, masked.Span);
        _activation.Derivative(_z!.Span, _g!.Span, masked.Span, dz.Span);
        float alpha = Alpha;
        var g = _g.Span;
        var k = _keep!.Span;
        var zs = _z.Span;
        var d = dz.Span;
        var up = dy.Span;
        double dAlpha = 0, dBeta = 0;
        for (int i = 0; i < d.Length; i++)
        {
            // The local expectation's path: ∂π/∂(αz + β) = π(1 − π).
            float slope = up[i] * g[i] * k[i] * (1f - k[i]);
            d[i] += slope * alpha;
            dAlpha += (double)slope * zs[i];
            dBeta += slope;
        }

        if (LearnTying)
        {
            Tying.Gradient.Data[0] = (float)dAlpha;
            Tying.Gradient.Data[1] = (float)dBeta;
        }

        Gemm.Multiply(true, false, Units, inputs, batch, 1f, dz.Span, Units, x.Span, inputs, 0f, Weight.Gradient.Span, inputs, ctx.Threads);
        Dense.SumRows(dz.Span, Bias.Gradient.Span);
        if (!NeedsInputGradient)
        {
            return dy;
        }

        _dx = Tensor.Reuse(_dx, x.Shape);
        Gemm.Multiply(false, false, batch, inputs, Units, 1f, dz.Span, Units, Weight.Value.Span, inputs, 0f, _dx.Span, inputs, ctx.Threads);
        return _dx;
    }

    /// <inheritdoc />
    public LearnedNoiseSummary Summarize() =>
        new("Standout", "belief-network scale α", Alpha, Alpha, Alpha, 1, Weight.Value.Length, Weight.Value.Length, Units, Units, 0,
            FormattableString.Invariant($"β = {Beta:G4}; keep probability σ(α·z + β) per example, {1 - MathExtras.Sigmoid(Beta):G3} drop rate at z = 0"));

    /// <summary>ONNX, inference: <c>Gemm(x, W, b)</c> → z, <c>Mul(z, α)</c>, <c>Add(·, β)</c>, <c>Sigmoid</c> → π, the
    /// activation on z → g, <c>Mul(π, g)</c>. Monte Carlo: the mask m = <c>Cast(Less(RandomUniformLike(π), π))</c>, then
    /// <c>Mul(m, g)</c>.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        string z = g.Then("Gemm", [g.AddInitializer("weight", Weight.Value.Span, Weight.Value.Shape), g.AddInitializer("bias", Bias.Value.Span, Bias.Value.Shape)], OnnxAttribute.Int("transB", 1));
        string keep = g.AddNode("Mul", [z, g.AddScalar("alpha", Alpha)]);
        keep = g.AddNode("Sigmoid", [g.AddNode("Add", [keep, g.AddScalar("beta", Beta)])]);
        _activation.ExportOnnx(g, ctx);
        string activated = g.Current;
        if (ctx.MonteCarlo)
        {
            // Not ONNX's Bernoulli: ONNX Runtime 1.31's kernel draws 1 with probability 1 − p, against the operator's
            // specification. A uniform draw below π means the same in every runtime.
            OnnxAttribute[] attributes =
            [
                OnnxAttribute.Int("dtype", (long)OnnxElementType.Float), OnnxAttribute.Float("low", 0f), OnnxAttribute.Float("high", 1f),
                .. ctx.NextSeed() is int seed ? [OnnxAttribute.Float("seed", seed)] : Array.Empty<OnnxAttribute>(),
            ];
            string uniform = g.AddNode("RandomUniformLike", [keep], attributes);
            keep = g.AddNode("Cast", [g.AddNode("Less", [uniform, keep])], [OnnxAttribute.Int("to", (long)OnnxElementType.Float)]);
        }

        g.Current = g.AddNode("Mul", [keep, activated]);
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() =>
        new StandoutDense(Units, (Activation)_activation.CreateUnbuiltCopy(), InitialAlpha, InitialBeta, LearnTying, Init);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 1)
        {
            throw new ArgumentException($"StandoutDense expects flat input [features], got {Tensor.FormatShape(inputShape)}; put a Flatten layer before it.");
        }

        int inputs = inputShape[0];
        var w = new Tensor(Units, inputs);
        WeightInitializer.Fill(w.Span, Init, inputs, Units, init);
        _weight = new Parameter("weight", w, ParameterKind.Weight, inputs);
        _bias = new Parameter("bias", new Tensor(Units), ParameterKind.Bias);
        _tying = new Parameter("tying", new Tensor([InitialAlpha, InitialBeta], [2]), ParameterKind.Noise);
        _activation.Build([Units], init);
        return [Units];
    }

    /// <summary>π = σ(αz + β).</summary>
    private void KeepProbabilities(ReadOnlySpan<float> z, Span<float> keep)
    {
        float alpha = Alpha, beta = Beta;
        for (int i = 0; i < z.Length; i++)
        {
            keep[i] = 1f / (1f + MathF.Exp(-(alpha * z[i] + beta)));
        }
    }
}
