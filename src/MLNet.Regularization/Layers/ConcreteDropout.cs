using System.Numerics.Tensors;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Concrete dropout (Gal, Hron &amp; Kendall, 2017, "Concrete dropout"): dropout whose rate p is learned, one per layer,
/// through a continuous relaxation of the Bernoulli mask. p = σ(ℓ) for a learned logit ℓ.
/// <para>Training draws u ~ U(0, 1) per element and the relaxed drop mask
/// z̃ = σ((ℓ + log(u + ε) − log(1 − u + ε)) / t) (ε = 10⁻⁷, temperature t = 0.1 by default), and outputs
/// y = x ⊙ (1 − z̃)/(1 − p) (inverted scaling). As t → 0, z̃ tends to a Bernoulli(p) drop mask; z̃ &gt; ½ happens with
/// probability exactly p at every t. Backward: dx = dy ⊙ (1 − z̃)/(1 − p) and
/// dℓ = Σ dy ⊙ x ⊙ [−z̃(1 − z̃)/(t(1 − p)) + (1 − z̃)p/(1 − p)].</para>
/// <para>The regularizer, in the form of the authors' code (their weight_regularizer l²/N and dropout_regularizer 2/N,
/// the 1/N applied by the trainer): R = l²‖W‖²/(1 − p) + 2K(p log p + (1 − p) log(1 − p)), with W the weights of the
/// layer right after this one (the ones the dropped units feed; none when that layer has no weights) and K the
/// number of features per example this layer drops. The entropy part pushes p toward ½, the data toward 0 as N grows.</para>
/// <para>Inference is the identity. Monte Carlo mode draws hard Bernoulli(p) masks with inverted scaling — MC dropout at
/// the learned rate, which is what the relaxation trains for — and its ONNX form is the Monte Carlo form of
/// <see cref="Dropout"/> at ratio p. The learned rate shows in <see cref="Layer.Describe"/> (summaries, ONNX metadata)
/// and <see cref="Summarize"/>.</para>
/// </summary>
public sealed class ConcreteDropout : Layer, IRegularizedLayer, ILearnedNoise
{
    /// <summary>The ε inside the logarithms of the relaxed mask (the authors' value).</summary>
    internal const float Eps = 1e-7f;

    /// <summary>The factor of K·(p log p + (1 − p) log(1 − p)) in the regularizer (the authors' dropout_regularizer 2/N).</summary>
    internal const double DropoutRegularizer = 2.0;

    private Parameter? _logit;
    private Tensor? _x;
    private Tensor? _relaxed;
    private Tensor? _keep;
    private Tensor? _dx;

    /// <summary>Creates a concrete dropout layer.</summary>
    /// <param name="initialRate">The drop rate p to start from, in (0, 1) (default 0.1, the authors' initialization).</param>
    /// <param name="temperature">The relaxation's temperature t &gt; 0 (default 0.1).</param>
    /// <param name="lengthScale">The prior length scale l of the weight term l²‖W‖²/(1 − p) (default 1e-4, the
    /// authors' notebook value).</param>
    public ConcreteDropout(float initialRate = 0.1f, float temperature = 0.1f, float lengthScale = 1e-4f)
    {
        if (!(initialRate > 0f && initialRate < 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(initialRate), initialRate, $"ConcreteDropout's initial rate must be in (0, 1), got {initialRate}.");
        }

        if (!(temperature > 0f && float.IsFinite(temperature)))
        {
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, $"ConcreteDropout's temperature must be positive, got {temperature}.");
        }

        if (!(lengthScale >= 0f && float.IsFinite(lengthScale)))
        {
            throw new ArgumentOutOfRangeException(nameof(lengthScale), lengthScale, $"ConcreteDropout's length scale must be non-negative, got {lengthScale}.");
        }

        InitialRate = initialRate;
        Temperature = temperature;
        LengthScale = lengthScale;
    }

    /// <summary>The rate the layer starts from.</summary>
    public float InitialRate { get; }

    /// <summary>The relaxation's temperature.</summary>
    public float Temperature { get; }

    /// <summary>The prior length scale l.</summary>
    public float LengthScale { get; }

    /// <summary>The learned logit ℓ of the drop rate, shape [1].</summary>
    public Parameter Logit => _logit ?? throw new InvalidOperationException("ConcreteDropout is not built.");

    /// <summary>The learned drop rate p = σ(ℓ).</summary>
    public float Rate => (float)MathExtras.Sigmoid(Logit.Value.Data[0]);

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => _logit is null ? [] : [_logit];

    /// <inheritdoc />
    public override bool IsStochastic => true;

    /// <summary>Set by the network: the weights of the layer right after this one, which the regularizer's
    /// l²‖W‖²/(1 − p) term acts on (null when that layer has none).</summary>
    internal Parameter? FollowingWeight { get; set; }

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"initial rate={InitialRate}, temperature={Temperature}, length scale={LengthScale}");

    /// <summary>The relaxed drop mask z̃ = σ((ℓ + log(u + ε) − log(1 − u + ε)) / t) for one uniform draw u.</summary>
    internal static float RelaxedDropMask(float logit, float temperature, float u) =>
        (float)MathExtras.Sigmoid((logit + MathF.Log(u + Eps) - MathF.Log(1f - u + Eps)) / temperature);

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        if (!ctx.IsStochastic)
        {
            return x;
        }

        float p = Rate, logit = Logit.Value.Data[0];
        var keep = ctx.Buffer(this, 1, x.Shape);
        var y = ctx.Buffer(this, 0, x.Shape);
        if (!ctx.IsTraining)
        {
            // Monte Carlo: hard Bernoulli(p) masks, the sampling the relaxation stands in for.
            ctx.Rng.FillBernoulli(keep.Span, p, 1f / (1f - p));
            TensorPrimitives.Multiply(x.Span, keep.Span, y.Span);
            return y;
        }

        var relaxed = ctx.Buffer(this, 2, x.Shape);
        ctx.Rng.FillUniform(relaxed.Span);
        var z = relaxed.Span;
        var k = keep.Span;
        float inverseKeep = 1f / (1f - p);
        for (int i = 0; i < z.Length; i++)
        {
            z[i] = RelaxedDropMask(logit, Temperature, z[i]);
            k[i] = (1f - z[i]) * inverseKeep;
        }

        TensorPrimitives.Multiply(x.Span, keep.Span, y.Span);
        (_x, _relaxed, _keep) = (x, relaxed, keep);
        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        var x = _x ?? throw NoForward(Name);
        float p = Rate;
        double inverseKeep = 1.0 / (1.0 - p), t = Temperature;
        var g = dy.Span;
        var xs = x.Span;
        var z = _relaxed!.Span;
        double dLogit = 0;
        for (int i = 0; i < g.Length; i++)
        {
            double dKeep = -z[i] * (1.0 - z[i]) / t * inverseKeep + (1.0 - z[i]) * p * inverseKeep;
            dLogit += (double)g[i] * xs[i] * dKeep;
        }

        Logit.Gradient.Data[0] = (float)dLogit;
        _dx = Tensor.Reuse(_dx, dy.Shape);
        TensorPrimitives.Multiply(dy.Span, _keep!.Span, _dx.Span);
        return _dx;
    }

    /// <summary>R = l²‖W‖²/(1 − p) + 2K(p log p + (1 − p) log(1 − p)); adds scale·dR/dℓ to the logit's gradient and
    /// scale·2l²W/(1 − p) to the following layer's weight gradient.</summary>
    double IRegularizedLayer.AddRegularizerGradient(double scale, double epoch)
    {
        var (regularizer, dLogit) = Regularizer();
        if (FollowingWeight is { } w && LengthScale > 0)
        {
            float factor = (float)(scale * 2.0 * LengthScale * LengthScale / (1 - MathExtras.Sigmoid(Logit.Value.Data[0])));
            TensorPrimitives.MultiplyAdd(w.Value.Span, factor, w.Gradient.Span, w.Gradient.Span);
        }

        Logit.Gradient.Data[0] += (float)(scale * dLogit);
        return regularizer;
    }

    /// <summary>The regularizer R at the current parameters and dR/dℓ: with p = σ(ℓ), d(1/(1 − p))/dℓ = p/(1 − p) and
    /// d(p log p + (1 − p) log(1 − p))/dℓ = ℓ·p(1 − p).</summary>
    internal (double Value, double DLogit) Regularizer()
    {
        double logit = Logit.Value.Data[0];
        double p = MathExtras.Sigmoid(logit), q = MathExtras.Sigmoid(-logit);
        double squares = 0;
        if (FollowingWeight is { } w)
        {
            foreach (float v in w.Value.Span)
            {
                squares += (double)v * v;
            }
        }

        double weightTerm = (double)LengthScale * LengthScale * squares;
        double k = FeatureCount;
        double value = weightTerm / q + DropoutRegularizer * k * (p * Math.Log(p) + q * Math.Log(q));
        double dLogit = weightTerm * p / q + DropoutRegularizer * k * logit * p * q;
        return (value, dLogit);
    }

    /// <inheritdoc />
    public LearnedNoiseSummary Summarize()
    {
        double p = Rate;
        return new LearnedNoiseSummary("concrete dropout", "drop rate", p, p, p, 1, 0, 0, FeatureCount, FeatureCount, Regularizer().Value,
            FormattableString.Invariant($"temperature {Temperature}"));
    }

    /// <summary>ONNX, inference: nothing (the identity). Monte Carlo: <see cref="Dropout"/>'s active form at the
    /// learned rate p, with inverted scaling.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        if (ctx.MonteCarlo)
        {
            new Dropout(Rate).ExportOnnx(g, ctx);
        }
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new ConcreteDropout(InitialRate, Temperature, LengthScale);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        var logit = new Tensor(1);
        logit.Data[0] = MathF.Log(InitialRate / (1f - InitialRate));
        _logit = new Parameter("rate_logit", logit, ParameterKind.Noise);
        return inputShape.ToArray();
    }

    /// <summary>K, the number of features per example this layer drops.</summary>
    private int FeatureCount
    {
        get
        {
            int k = 1;
            foreach (int d in InputShape)
            {
                k *= d;
            }

            return k;
        }
    }
}
