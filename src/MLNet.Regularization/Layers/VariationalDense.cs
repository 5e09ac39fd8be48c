using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>Which weights share one learned α of <see cref="VariationalDense"/>.</summary>
public enum VariationalDropoutGranularity
{
    /// <summary>One α for the whole layer (a learned Gaussian dropout rate).</summary>
    PerLayer,

    /// <summary>One α per input unit: the rate at which dropout would drop that unit, learned unit by unit.</summary>
    PerUnit,

    /// <summary>One α per weight.</summary>
    PerWeight,
}

/// <summary>
/// Variational dropout (Kingma, Salimans &amp; Welling, 2015, "Variational dropout and the local reparameterization
/// trick"): a fully connected layer whose weights carry Gaussian multiplicative noise w = θ ⊙ ξ, ξ ~ N(1, α), i.e. the
/// posterior q(w) = N(θ, αθ²), with α learned (per layer, per input unit or per weight) instead of fixed. Gaussian
/// dropout at rate p has α = p/(1 − p).
/// <para>Training uses the local reparameterization trick: the pre-activation is Gaussian,
/// y = γ + √(δ + ε) ⊙ ξ with γ = xθᵀ + b, δ = (x ⊙ x)(α ⊙ θ²)ᵀ and ξ ~ N(0, 1) fresh per example and unit (one extra
/// GEMM instead of a weight sample per example, and lower-variance gradients). Backward: dγ = dy, dδ = dy ⊙ ξ / (2√(δ + ε)),
/// then dθ = dγᵀx + 2αθ ⊙ (dδᵀ(x⊙x)), d log α = αθ² ⊙ (dδᵀ(x⊙x)) summed over the weights that share the α, and
/// dx = dγ θ + 2x ⊙ (dδ (αθ²)) (see <see cref="GaussianPreActivation"/>).</para>
/// <para>The objective adds KL(q ‖ p) with the log-uniform prior, which depends on α alone; per weight the paper's fit
/// −KL ≈ const + ½ log α + c₁α + c₂α² + c₃α³ (c₁ = 1.16145124, c₂ = −1.50204118, c₃ = 0.58629921), valid for
/// α ≤ 1, so α is clipped to at most 1 (dropout rate ≤ ½) as in the paper: log α is used as min(log α, 0), and a
/// clipped α gets no gradient. The trainer weighs the KL by 1/N (<see cref="IRegularizedLayer"/>), optionally ramped in
/// over <see cref="KlWarmupEpochs"/>.</para>
/// <para>Inference uses the means θ (the noise has mean 1): the inference network holds a <see cref="Dense"/> with θ, and
/// the ONNX form is that Dense's Gemm. Monte Carlo mode samples as in training; its ONNX form is
/// <c>Gemm(x, θ, b) + Sqrt(Gemm(x ⊙ x, αθ²) + ε) ⊙ RandomNormalLike</c>.</para>
/// </summary>
public sealed class VariationalDense : Layer, IRegularizedLayer, ILearnedNoise
{
    /// <summary>Kingma et al.'s polynomial fit of −KL (their eq. for the log-uniform prior).</summary>
    internal const double C1 = 1.16145124, C2 = -1.50204118, C3 = 0.58629921;

    private Parameter? _weight;
    private Parameter? _bias;
    private Parameter? _logAlpha;
    private Tensor? _x;
    private Tensor? _squared;
    private Tensor? _noise;
    private Tensor? _deviation;
    private Tensor? _alpha;
    private Tensor? _variance;

    /// <summary>Creates a variational dropout layer.</summary>
    /// <param name="units">Number of outputs.</param>
    /// <param name="granularity">Which weights share an α (default one per weight).</param>
    /// <param name="initialRate">The dropout rate α/(1 + α) the layer starts from, in (0, 0.5) (default 0.2, α = 0.25).</param>
    /// <param name="klWarmupEpochs">Epochs over which the KL weight rises linearly from 0 to 1 (default 0: full weight).</param>
    /// <param name="init">Initialization of θ.</param>
    public VariationalDense(int units, VariationalDropoutGranularity granularity = VariationalDropoutGranularity.PerWeight, float initialRate = 0.2f, int klWarmupEpochs = 0, WeightInit init = WeightInit.HeUniform)
    {
        if (units <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(units), units, "VariationalDense needs at least one unit.");
        }

        if (!(initialRate > 0f && initialRate < 0.5f))
        {
            throw new ArgumentOutOfRangeException(nameof(initialRate), initialRate, $"VariationalDense's initial rate must be in (0, 0.5) (α ≤ 1), got {initialRate}.");
        }

        if (!Enum.IsDefined(granularity))
        {
            throw new ArgumentOutOfRangeException(nameof(granularity), granularity, "unknown variational dropout granularity.");
        }

        Units = units;
        Granularity = granularity;
        InitialRate = initialRate;
        KlWarmupEpochs = KlWarmup.Check(klWarmupEpochs, nameof(klWarmupEpochs));
        Init = init;
    }

    /// <summary>The number of outputs.</summary>
    public int Units { get; }

    /// <summary>Which weights share an α.</summary>
    public VariationalDropoutGranularity Granularity { get; }

    /// <summary>The dropout rate the layer starts from.</summary>
    public float InitialRate { get; }

    /// <summary>Epochs of linear KL warm-up (0: none).</summary>
    public int KlWarmupEpochs { get; }

    /// <summary>The initialization of θ.</summary>
    public WeightInit Init { get; }

    /// <summary>The weight means θ [units, inputs].</summary>
    public Parameter Weight => _weight ?? throw new InvalidOperationException("VariationalDense is not built.");

    /// <summary>The bias [units].</summary>
    public Parameter Bias => _bias ?? throw new InvalidOperationException("VariationalDense is not built.");

    /// <summary>log α: shape [1], [inputs] or [units, inputs] by <see cref="Granularity"/> (used clipped to ≤ 0).</summary>
    public Parameter LogAlpha => _logAlpha ?? throw new InvalidOperationException("VariationalDense is not built.");

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => _weight is null ? [] : [_weight, _bias!, _logAlpha!];

    /// <inheritdoc />
    public override bool IsStochastic => true;

    /// <summary>The learned dropout rates α/(1 + α), one per α (clipped α ≤ 1).</summary>
    public float[] Rates() => LogAlpha.Value.Data.Select(la => { double a = Math.Exp(Math.Min(la, 0)); return (float)(a / (1 + a)); }).ToArray();

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"units={Units}, α per {GranularityName(Granularity)}, initial rate={InitialRate}")
        + (KlWarmupEpochs > 0 ? FormattableString.Invariant($", KL warm-up={KlWarmupEpochs}") : "") + $", init={Init}";

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        int batch = x.BatchSize, inputs = InputShape[0];
        var y = ctx.Buffer(this, 0, [batch, Units]);
        if (!ctx.IsStochastic)
        {
            Gemm.MultiplyAddBias(false, true, batch, Units, inputs, x.Span, inputs, Weight.Value.Span, inputs, Bias.Value.Span, GemmActivation.None, y.Span, Units, ctx.Threads);
            return y;
        }

        var alpha = ctx.Buffer(this, 5, Weight.Value.Shape);
        var variance = ctx.Buffer(this, 6, Weight.Value.Shape);
        WeightVariances(alpha.Span, variance.Span);
        var preVariance = ctx.Buffer(this, 2, [batch, Units]);
        var squared = GaussianPreActivation.Forward(this, ctx, x, Weight.Value.Span, Bias.Value.Span, variance.Span, y, preVariance);
        var noise = ctx.Buffer(this, 3, [batch, Units]);
        var deviation = ctx.Buffer(this, 4, [batch, Units]);
        GaussianPreActivation.Sample(ctx, y, preVariance, noise, deviation, y);
        if (ctx.IsTraining)
        {
            (_x, _squared, _noise, _deviation, _alpha, _variance) = (x, squared, noise, deviation, alpha, variance);
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        var x = _x ?? throw NoForward(Name);
        var dVariance = ctx.Buffer(this, 7, dy.Shape);
        GaussianPreActivation.SampleBackward(dy, _noise!, _deviation!, dVariance);
        var dWeightVariance = ctx.Buffer(this, 8, Weight.Value.Shape);
        var dx = GaussianPreActivation.Backward(this, ctx, x, _squared!, Weight.Value.Span, _variance!.Span, dy, dVariance,
            Weight.Gradient.Span, dWeightVariance.Span, Bias.Gradient.Span, NeedsInputGradient);

        // V = α ⊙ θ²: dθ += dV ⊙ 2αθ, and d log α = dV ⊙ αθ² (= dV ⊙ V) where log α is not clipped.
        var theta = Weight.Value.Span;
        var a = _alpha!.Span;
        var v = _variance.Span;
        var dv = dWeightVariance.Span;
        var dTheta = Weight.Gradient.Span;
        var logAlpha = LogAlpha.Value.Span;
        var dLogAlpha = LogAlpha.Gradient.Span;
        dLogAlpha.Clear();
        int inputs = InputShape[0];
        for (int k = 0; k < theta.Length; k++)
        {
            dTheta[k] += dv[k] * 2f * a[k] * theta[k];
            int j = AlphaIndex(k, inputs);
            if (logAlpha[j] < 0f)
            {
                dLogAlpha[j] += dv[k] * v[k];
            }
        }

        return dx ?? dy;
    }

    /// <summary>KL = Σ over weights of −(½ log α + c₁α + c₂α² + c₃α³) (up to the constant of the paper's fit),
    /// each α counted once per weight that shares it; its gradient w.r.t. log α, times <paramref name="scale"/> and the
    /// warm-up factor, is added to the log α gradient.</summary>
    double IRegularizedLayer.AddRegularizerGradient(double scale, double epoch)
    {
        double beta = scale * KlWarmup.Factor(epoch, KlWarmupEpochs);
        double share = WeightsPerAlpha;
        var logAlpha = LogAlpha.Value.Span;
        var grad = LogAlpha.Gradient.Span;
        double kl = 0;
        for (int j = 0; j < logAlpha.Length; j++)
        {
            kl += share * Kl(logAlpha[j]);
            if (logAlpha[j] < 0f)
            {
                grad[j] += (float)(beta * share * KlDerivative(logAlpha[j]));
            }
        }

        return kl;
    }

    /// <summary>The layer's KL divergence (up to the fit's constant) at its current α.</summary>
    public double KlDivergence() => LogAlpha.Value.Data.Sum(la => WeightsPerAlpha * Kl(la));

    /// <inheritdoc />
    public LearnedNoiseSummary Summarize()
    {
        var (mean, min, max, count) = LearnedNoiseSummary.Stats(Rates().Select(r => (double)r));
        long weights = Weight.Value.Length;
        return new LearnedNoiseSummary("variational dropout", "drop rate α/(1+α)", mean, min, max, count, weights, weights, InputShape[0], InputShape[0], KlDivergence(),
            $"α per {GranularityName(Granularity)}");
    }

    /// <summary>Per weight KL(α) = −(½ log α + c₁α + c₂α² + c₃α³) at log α clipped to ≤ 0.</summary>
    internal static double Kl(double logAlpha)
    {
        double la = Math.Min(logAlpha, 0.0), a = Math.Exp(la);
        return -(0.5 * la + C1 * a + C2 * a * a + C3 * a * a * a);
    }

    /// <summary>dKL/d log α = −(½ + c₁α + 2c₂α² + 3c₃α³) for log α &lt; 0.</summary>
    internal static double KlDerivative(double logAlpha)
    {
        double a = Math.Exp(Math.Min(logAlpha, 0.0));
        return -(0.5 + C1 * a + 2 * C2 * a * a + 3 * C3 * a * a * a);
    }

    /// <summary>ONNX, inference: <c>Gemm(x, θ, b)</c> (inference folding normally turns the layer into a
    /// <see cref="Dense"/> first). Monte Carlo: the local reparameterization sample
    /// (<see cref="GaussianPreActivation.ExportSampled"/>) with V = αθ².</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        if (!ctx.MonteCarlo)
        {
            g.Then("Gemm", [g.AddInitializer("weight", Weight.Value.Span, Weight.Value.Shape), g.AddInitializer("bias", Bias.Value.Span, Bias.Value.Shape)], OnnxAttribute.Int("transB", 1));
            return;
        }

        var alpha = new float[Weight.Value.Length];
        var variance = new float[Weight.Value.Length];
        WeightVariances(alpha, variance);
        GaussianPreActivation.ExportSampled(g, ctx, Weight.Value.Span, Bias.Value.Span, variance, Weight.Value.Shape);
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new VariationalDense(Units, Granularity, InitialRate, KlWarmupEpochs, Init);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 1)
        {
            throw new ArgumentException($"VariationalDense expects flat input [features], got {Tensor.FormatShape(inputShape)}; put a Flatten layer before it.");
        }

        int inputs = inputShape[0];
        var w = new Tensor(Units, inputs);
        WeightInitializer.Fill(w.Span, Init, inputs, Units, init);
        _weight = new Parameter("weight", w, ParameterKind.Weight, inputs);
        _bias = new Parameter("bias", new Tensor(Units), ParameterKind.Bias);
        int[] shape = Granularity switch
        {
            VariationalDropoutGranularity.PerLayer => [1],
            VariationalDropoutGranularity.PerUnit => [inputs],
            _ => [Units, inputs],
        };
        var logAlpha = new Tensor(shape);
        logAlpha.Span.Fill(MathF.Log(InitialRate / (1f - InitialRate)));
        _logAlpha = new Parameter("log_alpha", logAlpha, ParameterKind.Noise);
        return [Units];
    }

    /// <summary>How many weights share each α.</summary>
    private double WeightsPerAlpha => (double)Weight.Value.Length / LogAlpha.Value.Length;

    /// <summary>The α of weight k (row-major [units, inputs]).</summary>
    private int AlphaIndex(int k, int inputs) => Granularity switch
    {
        VariationalDropoutGranularity.PerLayer => 0,
        VariationalDropoutGranularity.PerUnit => k % inputs,
        _ => k,
    };

    /// <summary>α per weight (clipped to ≤ 1) and the weight variances αθ².</summary>
    private void WeightVariances(Span<float> alpha, Span<float> variance)
    {
        var theta = Weight.Value.Span;
        var logAlpha = LogAlpha.Value.Span;
        int inputs = InputShape[0];
        for (int k = 0; k < theta.Length; k++)
        {
            alpha[k] = MathF.Exp(MathF.Min(logAlpha[AlphaIndex(k, inputs)], 0f));
            variance[k] = alpha[k] * theta[k] * theta[k];
        }
    }

    private static string GranularityName(VariationalDropoutGranularity g) => g switch
    {
        VariationalDropoutGranularity.PerLayer => "layer",
        VariationalDropoutGranularity.PerUnit => "unit",
        _ => "weight",
    };
}
