using MLNet.Regularization.Onnx;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Sparse variational dropout (Molchanov, Ashukha &amp; Vetrov, 2017, "Variational dropout sparsifies deep neural
/// networks"): variational dropout with one unbounded α per weight, trained until most weights are pure noise and can
/// be removed. The posterior is q(w) = N(θ, σ²) with σ² = αθ², parameterized additively by (θ, log σ²) so that the
/// gradient w.r.t. θ carries no α-sized noise even for huge α; log α = clip(log σ² − log(θ² + 10⁻⁸), −8, 8).
/// <para>Training: the local reparameterization trick with the weights whose log α exceeds the threshold (3, α ≈ 20,
/// an effective dropout rate above 0.95) masked out, as the authors' LeNet scripts do: y = γ + √(δ + ε) ⊙ ξ with
/// γ = x(M ⊙ θ)ᵀ + b, δ = (x ⊙ x)(M ⊙ σ²)ᵀ, ξ ~ N(0, 1) per example and unit. Backward: dθ = M ⊙ dγᵀx,
/// d log σ² = σ² ⊙ M ⊙ (dδᵀ(x⊙x)), dx = dγ(M⊙θ) + 2x ⊙ (dδ(M⊙σ²)) (see <see cref="GaussianPreActivation"/>).</para>
/// <para>The KL term, per weight and valid for every α: −KL ≈ k₁σ(k₂ + k₃ log α) − ½ log(1 + 1/α) − k₁ with
/// k₁ = 0.63576, k₂ = 1.87320, k₃ = 1.48695 (σ the logistic function), summed over all weights and weighed by 1/N
/// (optionally ramped in over <see cref="KlWarmupEpochs"/>; the authors ramp it over their first 20 epochs).</para>
/// <para>Inference is deterministic with the means and the mask, y = x(M ⊙ θ)ᵀ + b: the inference network holds a
/// <see cref="Dense"/> with θ whose <see cref="WeightMask"/> is <see cref="KeepMask"/>, so the exported ONNX model is the
/// masked sparse network (a Gemm with exact zeros; <c>OnnxExportOptions.SparseWeights</c> stores them as a sparse
/// initializer) and its pruning masks travel in the metadata. Monte Carlo mode samples as in training, with the mask;
/// its ONNX form is the sampled pre-activation <c>Gemm(x, M⊙θ, b) + Sqrt(Gemm(x ⊙ x, M⊙σ²) + ε) ⊙ RandomNormalLike</c>.</para>
/// </summary>
public sealed class SparseVariationalDense : Layer, IRegularizedLayer, ILearnedNoise
{
    /// <summary>Molchanov et al.'s sigmoid fit of −KL.</summary>
    internal const double K1 = 0.63576, K2 = 1.87320, K3 = 1.48695;

    /// <summary>log α is clipped to [−8, 8], as in the authors' code.</summary>
    internal const float LogAlphaLimit = 8f;

    /// <summary>Added to θ² inside the logarithm of log α.</summary>
    internal const float ThetaEpsilon = 1e-8f;

    private Parameter? _weight;
    private Parameter? _bias;
    private Parameter? _logSigma2;
    private Tensor? _x;
    private Tensor? _squared;
    private Tensor? _noise;
    private Tensor? _deviation;
    private Tensor? _keep;
    private Tensor? _variance;

    /// <summary>Creates a sparse variational dropout layer.</summary>
    /// <param name="units">Number of outputs.</param>
    /// <param name="threshold">Weights with log α above this are pruned (default 3).</param>
    /// <param name="klWarmupEpochs">Epochs over which the KL weight rises linearly from 0 to 1 (default 0).</param>
    /// <param name="maskDuringTraining">Leave the weights over the threshold out of training forward passes too, as the
    /// authors' LeNet scripts do (default true); false prunes only at inference.</param>
    /// <param name="init">Initialization of θ.</param>
    public SparseVariationalDense(int units, float threshold = 3f, int klWarmupEpochs = 0, bool maskDuringTraining = true, WeightInit init = WeightInit.HeUniform)
    {
        if (units <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(units), units, "SparseVariationalDense needs at least one unit.");
        }

        if (!(threshold > -LogAlphaLimit && threshold < LogAlphaLimit))
        {
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, $"the log α threshold must be inside the clipping range (−8, 8), got {threshold}.");
        }

        Units = units;
        Threshold = threshold;
        KlWarmupEpochs = KlWarmup.Check(klWarmupEpochs, nameof(klWarmupEpochs));
        MaskDuringTraining = maskDuringTraining;
        Init = init;
    }

    /// <summary>The number of outputs.</summary>
    public int Units { get; }

    /// <summary>The log α above which a weight is pruned.</summary>
    public float Threshold { get; }

    /// <summary>Epochs of linear KL warm-up (0: none).</summary>
    public int KlWarmupEpochs { get; }

    /// <summary>Whether training forward passes leave out the weights over the threshold.</summary>
    public bool MaskDuringTraining { get; }

    /// <summary>The initialization of θ.</summary>
    public WeightInit Init { get; }

    /// <summary>The weight means θ [units, inputs].</summary>
    public Parameter Weight => _weight ?? throw new InvalidOperationException("SparseVariationalDense is not built.");

    /// <summary>The bias [units].</summary>
    public Parameter Bias => _bias ?? throw new InvalidOperationException("SparseVariationalDense is not built.");

    /// <summary>log σ² [units, inputs] (initialized at −10, as in the authors' code).</summary>
    public Parameter LogSigma2 => _logSigma2 ?? throw new InvalidOperationException("SparseVariationalDense is not built.");

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => _weight is null ? [] : [_weight, _bias!, _logSigma2!];

    /// <inheritdoc />
    public override bool IsStochastic => true;

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"units={Units}, prune log α > {Threshold}")
        + (KlWarmupEpochs > 0 ? FormattableString.Invariant($", KL warm-up={KlWarmupEpochs}") : "") + (MaskDuringTraining ? "" : ", unmasked training") + $", init={Init}";

    /// <summary>log α = clip(log σ² − log(θ² + 10⁻⁸), −8, 8) of weight k, in float as the layer computes it.</summary>
    internal static float LogAlphaOf(float theta, float logSigma2) =>
        Math.Clamp(logSigma2 - MathF.Log(theta * theta + ThetaEpsilon), -LogAlphaLimit, LogAlphaLimit);

    /// <summary>log α of every weight [units × inputs], row-major.</summary>
    public float[] LogAlpha()
    {
        var theta = Weight.Value.Span;
        var logSigma2 = LogSigma2.Value.Span;
        var result = new float[theta.Length];
        for (int k = 0; k < result.Length; k++)
        {
            result[k] = LogAlphaOf(theta[k], logSigma2[k]);
        }

        return result;
    }

    /// <summary>The weights that survive: log α ≤ <see cref="Threshold"/> (and not pruned by a mask set on
    /// <see cref="Weight"/>). Inference and the ONNX export use exactly these.</summary>
    public WeightMask KeepMask()
    {
        var la = LogAlpha();
        var flags = new bool[la.Length];
        for (int k = 0; k < flags.Length; k++)
        {
            flags[k] = la[k] <= Threshold && (Weight.Mask?.IsKept(k) ?? true);
        }

        return WeightMask.FromFlags(flags);
    }

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        int batch = x.BatchSize, inputs = InputShape[0];
        var y = ctx.Buffer(this, 0, [batch, Units]);
        var keep = ctx.Buffer(this, 5, Weight.Value.Shape);
        var effective = ctx.Buffer(this, 9, Weight.Value.Shape);
        bool mask = MaskDuringTraining || !ctx.IsTraining;
        FillKeep(keep.Span, mask);
        System.Numerics.Tensors.TensorPrimitives.Multiply(Weight.Value.Span, keep.Span, effective.Span);
        if (!ctx.IsStochastic)
        {
            Gemm.MultiplyAddBias(false, true, batch, Units, inputs, x.Span, inputs, effective.Span, inputs, Bias.Value.Span, GemmActivation.None, y.Span, Units, ctx.Threads);
            return y;
        }

        var variance = ctx.Buffer(this, 6, Weight.Value.Shape);
        MaskedVariances(keep.Span, variance.Span);
        var preVariance = ctx.Buffer(this, 2, [batch, Units]);
        var squared = GaussianPreActivation.Forward(this, ctx, x, effective.Span, Bias.Value.Span, variance.Span, y, preVariance);
        var noise = ctx.Buffer(this, 3, [batch, Units]);
        var deviation = ctx.Buffer(this, 4, [batch, Units]);
        GaussianPreActivation.Sample(ctx, y, preVariance, noise, deviation, y);
        if (ctx.IsTraining)
        {
            (_x, _squared, _noise, _deviation, _keep, _variance) = (x, squared, noise, deviation, keep, variance);
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
        var effective = ctx.Buffer(this, 9, Weight.Value.Shape);
        var dx = GaussianPreActivation.Backward(this, ctx, x, _squared!, effective.Span, _variance!.Span, dy, dVariance,
            Weight.Gradient.Span, dWeightVariance.Span, Bias.Gradient.Span, NeedsInputGradient);

        // θ_eff = M ⊙ θ: dθ = M ⊙ dθ_eff. V = M ⊙ exp(log σ²): d log σ² = dV ⊙ V.
        System.Numerics.Tensors.TensorPrimitives.Multiply(Weight.Gradient.Span, _keep!.Span, Weight.Gradient.Span);
        System.Numerics.Tensors.TensorPrimitives.Multiply(dWeightVariance.Span, _variance.Span, LogSigma2.Gradient.Span);
        return dx ?? dy;
    }

    /// <summary>KL = Σ_weights k₁ − k₁σ(k₂ + k₃ log α) + ½ log(1 + e^(−log α)); its gradients through log α (where not
    /// clipped) to log σ² (d log α/d log σ² = 1) and θ (d log α/dθ = −2θ/(θ² + 10⁻⁸)), times <paramref name="scale"/>
    /// and the warm-up factor, are added.</summary>
    double IRegularizedLayer.AddRegularizerGradient(double scale, double epoch)
    {
        double beta = scale * KlWarmup.Factor(epoch, KlWarmupEpochs);
        var theta = Weight.Value.Span;
        var logSigma2 = LogSigma2.Value.Span;
        var dTheta = Weight.Gradient.Span;
        var dLogSigma2 = LogSigma2.Gradient.Span;
        double kl = 0;
        for (int k = 0; k < theta.Length; k++)
        {
            float raw = logSigma2[k] - MathF.Log(theta[k] * theta[k] + ThetaEpsilon);
            float la = Math.Clamp(raw, -LogAlphaLimit, LogAlphaLimit);
            kl += Kl(la);
            if (raw > -LogAlphaLimit && raw < LogAlphaLimit)
            {
                double g = beta * KlDerivative(la);
                dLogSigma2[k] += (float)g;
                dTheta[k] += (float)(g * -2.0 * theta[k] / (theta[k] * (double)theta[k] + ThetaEpsilon));
            }
        }

        return kl;
    }

    /// <summary>The layer's KL divergence (Molchanov et al.'s approximation) at its current parameters.</summary>
    public double KlDivergence() => LogAlpha().Sum(la => Kl(la));

    /// <summary>Per weight KL(log α) = k₁ − k₁σ(k₂ + k₃ log α) + ½ log(1 + e^(−log α)).</summary>
    internal static double Kl(double logAlpha) =>
        K1 - K1 * MathExtras.Sigmoid(K2 + K3 * logAlpha) + 0.5 * MathExtras.Softplus(-logAlpha);

    /// <summary>dKL/d log α = −k₁k₃σ'(k₂ + k₃ log α) − ½σ(−log α).</summary>
    internal static double KlDerivative(double logAlpha)
    {
        double s = MathExtras.Sigmoid(K2 + K3 * logAlpha);
        return -K1 * K3 * s * (1 - s) - 0.5 * MathExtras.Sigmoid(-logAlpha);
    }

    /// <inheritdoc />
    public LearnedNoiseSummary Summarize()
    {
        var la = LogAlpha();
        var (mean, min, max, count) = LearnedNoiseSummary.Stats(la.Select(v => { double a = Math.Exp(v); return a / (1 + a); }));
        var keep = KeepMask();
        var flags = keep.ToFlags();
        int units = 0;
        for (int u = 0; u < Units; u++)
        {
            units += flags.AsSpan(u * InputShape[0], InputShape[0]).Contains(true) ? 1 : 0;
        }

        return new LearnedNoiseSummary("sparse variational dropout", "drop rate α/(1+α)", mean, min, max, count, la.Length, keep.KeptCount, Units, units, KlDivergence(),
            FormattableString.Invariant($"log α > {Threshold} pruned"));
    }

    /// <summary>ONNX, inference: <c>Gemm(x, M ⊙ θ, b)</c>, the masked sparse weights (inference folding normally turns
    /// the layer into a masked <see cref="Dense"/> first). Monte Carlo: the masked local reparameterization sample.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        var keep = new float[Weight.Value.Length];
        FillKeep(keep, mask: true);
        var effective = new float[keep.Length];
        System.Numerics.Tensors.TensorPrimitives.Multiply(Weight.Value.Span, keep, effective);
        if (!ctx.MonteCarlo)
        {
            g.Then("Gemm", [g.AddInitializer("weight", effective, Weight.Value.Shape), g.AddInitializer("bias", Bias.Value.Span, Bias.Value.Shape)], OnnxAttribute.Int("transB", 1));
            return;
        }

        var variance = new float[keep.Length];
        MaskedVariances(keep, variance);
        GaussianPreActivation.ExportSampled(g, ctx, effective, Bias.Value.Span, variance, Weight.Value.Shape);
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new SparseVariationalDense(Units, Threshold, KlWarmupEpochs, MaskDuringTraining, Init);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 1)
        {
            throw new ArgumentException($"SparseVariationalDense expects flat input [features], got {Tensor.FormatShape(inputShape)}; put a Flatten layer before it.");
        }

        int inputs = inputShape[0];
        var w = new Tensor(Units, inputs);
        WeightInitializer.Fill(w.Span, Init, inputs, Units, init);
        _weight = new Parameter("weight", w, ParameterKind.Weight, inputs);
        _bias = new Parameter("bias", new Tensor(Units), ParameterKind.Bias);
        var logSigma2 = new Tensor(Units, inputs);
        logSigma2.Span.Fill(-10f);
        _logSigma2 = new Parameter("log_sigma2", logSigma2, ParameterKind.Noise);
        return [Units];
    }

    /// <summary>1 for the weights used (log α ≤ threshold, or all when not <paramref name="mask"/>), 0 for the rest;
    /// a mask set on <see cref="Weight"/> prunes as well.</summary>
    private void FillKeep(Span<float> keep, bool mask)
    {
        var theta = Weight.Value.Span;
        var logSigma2 = LogSigma2.Value.Span;
        var pruned = Weight.Mask;
        for (int k = 0; k < keep.Length; k++)
        {
            bool kept = !mask || LogAlphaOf(theta[k], logSigma2[k]) <= Threshold;
            keep[k] = kept && (pruned?.IsKept(k) ?? true) ? 1f : 0f;
        }
    }

    /// <summary>V = M ⊙ exp(log σ²).</summary>
    private void MaskedVariances(ReadOnlySpan<float> keep, Span<float> variance)
    {
        var logSigma2 = LogSigma2.Value.Span;
        for (int k = 0; k < variance.Length; k++)
        {
            variance[k] = keep[k] * MathF.Exp(logSigma2[k]);
        }
    }
}
