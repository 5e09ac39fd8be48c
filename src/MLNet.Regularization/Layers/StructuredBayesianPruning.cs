using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Structured Bayesian pruning (Neklyudov, Molchanov, Ashukha &amp; Vetrov, 2017, "Structured Bayesian pruning via
/// log-normal multiplicative noise"): multiplicative noise θ on each unit of its input — each feature of a flat input,
/// each channel of an image — whose posterior is a log-normal truncated to [e^a, e^b]: log θ ~ N(μ, σ²) restricted to
/// [a, b] = [−20, 0], with a log-uniform prior on the same interval. μ and log σ are learned per unit (initialized at 0
/// and −5 and used clipped to [−20, 5], as in the authors' code); the weights get no Bayesian treatment.
/// <para>Training samples log θ = μ + σt per example and unit by the inverse distribution function,
/// t = Φ⁻¹(Φ(α) + u(Φ(β) − Φ(α))) with α = (a − μ)/σ, β = (b − μ)/σ, u ~ U(0, 1), and outputs y = x ⊙ θ. Backward:
/// dx = dy ⊙ θ and, through t's implicit derivatives ∂t/∂α = (1 − u)φ(α)/φ(t), ∂t/∂β = uφ(β)/φ(t),
/// ∂log θ/∂μ = 1 − ∂t/∂α − ∂t/∂β and ∂log θ/∂σ = t − α∂t/∂α − β∂t/∂β, each times Σ dy ⊙ x ⊙ θ over the unit's
/// positions.</para>
/// <para>Each unit adds KL = log(b − a) − ½ log(2πe) − log σ − log Z − (αφ(α) − βφ(β))/(2Z) with Z = Φ(β) − Φ(α),
/// weighed by 1/N (optionally ramped in over <see cref="KlWarmupEpochs"/>). Its signal-to-noise ratio
/// SNR = A/√(Z·e^(σ²)·B − A²), with A = Φ(σ − α) − Φ(σ − β) and B = Φ(2σ − α) − Φ(2σ − β), decides pruning: units with
/// SNR &lt; <see cref="Threshold"/> (1) are removed, with their neuron or channel, from the layers on both sides
/// (<c>Pruning.BayesianPruning.Shrink</c>), which gives a smaller dense network.</para>
/// <para>Inference multiplies by E[θ] = e^(μ + σ²/2)·A/Z, a constant per unit, which the inference network folds into
/// the input weights (columns) of the next Dense, Conv2D, Standout or fast dropout layer (DropConnect and the variational
/// layers become a Dense first): the layer itself vanishes from the inference network and from the ONNX export. It must
/// therefore be followed by such a layer, with only ReLU-like activations, pooling,
/// flattening and dropout in between (checked when the network is built). Monte Carlo mode samples θ as training does;
/// ONNX has no inverse normal distribution function, so a Monte Carlo export of this layer is refused. All these
/// functions of Φ are computed in double precision, with log-space tails.</para>
/// </summary>
public sealed class StructuredBayesianPruning : Layer, IRegularizedLayer, ILearnedNoise
{
    /// <summary>The truncation interval [a, b] of log θ (the authors' values).</summary>
    internal const double LowerBound = -20, UpperBound = 0;

    /// <summary>μ and log σ are used clipped to [−20, 5].</summary>
    internal const float ParameterMin = -20f, ParameterMax = 5f;

    private Parameter? _mu;
    private Parameter? _logSigma;
    private Tensor? _x;
    private Tensor? _theta;
    private Tensor? _dMu;
    private Tensor? _dSigma;
    private Tensor? _dx;

    /// <summary>Creates a structured Bayesian pruning layer.</summary>
    /// <param name="threshold">Units whose signal-to-noise ratio is below this are pruned (default 1, the authors').</param>
    /// <param name="klWarmupEpochs">Epochs over which the KL weight rises linearly from 0 to 1 (default 0).</param>
    /// <param name="initialLogSigma">log σ to start from, in [−20, 5] (default −5, the authors'). An optimizer such as Adam
    /// moves it by about its learning rate per step, so a unit needs some 5/rate steps before its noise can outgrow its
    /// signal; short runs on small data may start noisier.</param>
    public StructuredBayesianPruning(float threshold = 1f, int klWarmupEpochs = 0, float initialLogSigma = -5f)
    {
        if (!(initialLogSigma >= ParameterMin && initialLogSigma <= ParameterMax))
        {
            throw new ArgumentOutOfRangeException(nameof(initialLogSigma), initialLogSigma, $"the initial log σ must be in [{ParameterMin}, {ParameterMax}], got {initialLogSigma}.");
        }

        InitialLogSigma = initialLogSigma;
        if (!(threshold > 0f && float.IsFinite(threshold)))
        {
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, $"the signal-to-noise threshold must be positive, got {threshold}.");
        }

        Threshold = threshold;
        KlWarmupEpochs = KlWarmup.Check(klWarmupEpochs, nameof(klWarmupEpochs));
    }

    /// <summary>Units with a signal-to-noise ratio below this are pruned.</summary>
    public float Threshold { get; }

    /// <summary>Epochs of linear KL warm-up (0: none).</summary>
    public int KlWarmupEpochs { get; }

    /// <summary>The log σ every unit starts from.</summary>
    public float InitialLogSigma { get; }

    /// <summary>μ per unit.</summary>
    public Parameter Mu => _mu ?? throw new InvalidOperationException("StructuredBayesianPruning is not built.");

    /// <summary>log σ per unit.</summary>
    public Parameter LogSigma => _logSigma ?? throw new InvalidOperationException("StructuredBayesianPruning is not built.");

    /// <summary>The units the noise acts on: features of a flat input, channels of an image.</summary>
    public int Units => InputShape[0];

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => _mu is null ? [] : [_mu, _logSigma!];

    /// <inheritdoc />
    public override bool IsStochastic => true;

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"prune SNR < {Threshold}")
        + (KlWarmupEpochs > 0 ? FormattableString.Invariant($", KL warm-up={KlWarmupEpochs}") : "")
        + (InitialLogSigma != -5f ? FormattableString.Invariant($", initial log σ={InitialLogSigma}") : "");

    /// <summary>The signal-to-noise ratio E[θ]/√Var[θ] of each unit (+∞ when the variance rounds to 0).</summary>
    public double[] SignalToNoise() => Enumerable.Range(0, Units).Select(u => PosteriorOf(u).SignalToNoise).ToArray();

    /// <summary>E[θ] of each unit, the factor inference multiplies by.</summary>
    public double[] ExpectedNoise() => Enumerable.Range(0, Units).Select(u => PosteriorOf(u).Mean).ToArray();

    /// <summary>Whether each unit survives (SNR ≥ threshold).</summary>
    public bool[] Kept() => SignalToNoise().Select(s => s >= Threshold).ToArray();

    /// <summary>The layer's KL divergence at its current parameters.</summary>
    public double KlDivergence() => Enumerable.Range(0, Units).Sum(u => PosteriorOf(u).Kl().Value);

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        int batch = x.BatchSize, units = Units, spatial = x.SampleSize / units;
        var y = ctx.Buffer(this, 0, x.Shape);
        var posteriors = ctx.Scratch<PosteriorScratch>(this).For(units);
        for (int u = 0; u < units; u++)
        {
            posteriors[u] = PosteriorOf(u);
        }

        if (!ctx.IsStochastic)
        {
            var factor = ctx.Buffer(this, 4, [units]).Span;
            for (int u = 0; u < units; u++)
            {
                factor[u] = (float)posteriors[u].Mean;
            }

            Scale(x.Span, factor, y.Span, spatial, perExample: false);
            return y;
        }

        var theta = ctx.Buffer(this, 1, [batch, units]);
        var dMu = ctx.Buffer(this, 2, [batch, units]);
        var dSigma = ctx.Buffer(this, 3, [batch, units]);
        ctx.Rng.FillUniform(theta.Span);
        // Each draw's inverse distribution function is independent of the others: split the rows over the threads
        // (the draws were made above, so the split changes no bit).
        StaticParallel.For(batch, ctx.Threads, (posteriors, theta.Data, dMu.Data, dSigma.Data, units), static (s, from, to) =>
        {
            var (posteriors, th, dm, ds, units) = s;
            for (int i = from * units; i < to * units; i++)
            {
                // u in (0, 1): the 24-bit uniform moved off 0 by half a step.
                var (logTheta, dLogMu, dLogSigma) = posteriors[i % units].Sample(th[i] + 1.0 / (1 << 25));
                th[i] = (float)Math.Exp(logTheta);
                dm[i] = (float)dLogMu;
                ds[i] = (float)dLogSigma;
            }
        });

        var th = theta.Span;
        Scale(x.Span, th, y.Span, spatial, perExample: true);
        if (ctx.IsTraining)
        {
            (_x, _theta, _dMu, _dSigma) = (x, theta, dMu, dSigma);
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        var x = _x ?? throw NoForward(Name);
        int batch = x.BatchSize, units = Units, spatial = x.SampleSize / units;
        var g = dy.Span;
        var xs = x.Span;
        var th = _theta!.Span;
        var dMu = Mu.Gradient.Span;
        var dLogSigma = LogSigma.Gradient.Span;
        dMu.Clear();
        dLogSigma.Clear();
        _dx = Tensor.Reuse(_dx, x.Shape);
        var dx = _dx.Span;
        for (int n = 0; n < batch; n++)
        {
            for (int u = 0; u < units; u++)
            {
                int k = n * units + u;
                double dTheta = 0;
                for (int p = k * spatial; p < (k + 1) * spatial; p++)
                {
                    dTheta += (double)g[p] * xs[p];
                    dx[p] = g[p] * th[k];
                }

                double dLogTheta = dTheta * th[k];
                dMu[u] += (float)(dLogTheta * _dMu!.Data[k]);
                dLogSigma[u] += (float)(dLogTheta * _dSigma!.Data[k]);
            }
        }

        // μ and log σ are used clipped: no gradient where the clip binds.
        ClipGradients(Mu, dMu);
        ClipGradients(LogSigma, dLogSigma);
        return _dx;
    }

    /// <summary>Σ_units KL; adds scale·β·∂KL/∂μ and ∂KL/∂log σ (where not clipped).</summary>
    double IRegularizedLayer.AddRegularizerGradient(double scale, double epoch)
    {
        double beta = scale * KlWarmup.Factor(epoch, KlWarmupEpochs);
        double kl = 0;
        var mu = Mu.Value.Span;
        var logSigma = LogSigma.Value.Span;
        for (int u = 0; u < Units; u++)
        {
            var (value, dMu, dLogSigma) = PosteriorOf(u).Kl();
            kl += value;
            if (mu[u] > ParameterMin && mu[u] < ParameterMax)
            {
                Mu.Gradient.Data[u] += (float)(beta * dMu);
            }

            if (logSigma[u] > ParameterMin && logSigma[u] < ParameterMax)
            {
                LogSigma.Gradient.Data[u] += (float)(beta * dLogSigma);
            }
        }

        return kl;
    }

    /// <inheritdoc />
    public LearnedNoiseSummary Summarize()
    {
        var snr = SignalToNoise();
        var (mean, min, max, count) = LearnedNoiseSummary.Stats(snr.Select(s => double.IsFinite(s) ? s : 1e30));
        int kept = snr.Count(s => s >= Threshold);
        return new LearnedNoiseSummary("structured Bayesian pruning", "signal-to-noise ratio", mean, min, max, count, 0, 0, Units, kept, KlDivergence(),
            FormattableString.Invariant($"units with SNR < {Threshold} pruned"));
    }

    /// <summary>ONNX, inference: <c>Mul(x, E[θ])</c> with E[θ] shaped to broadcast over the unit's positions (inference
    /// folding normally moves E[θ] into the next layer's weights instead). Monte Carlo: refused.</summary>
    /// <exception cref="NotSupportedException">A Monte Carlo export.</exception>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        if (ctx.MonteCarlo)
        {
            throw new NotSupportedException("StructuredBayesianPruning has no Monte Carlo ONNX form: its log-normal noise is sampled through the inverse normal distribution function, which ONNX lacks. Export without MonteCarlo (E[θ] is folded into the next layer's weights) and use TrainedModel.PredictWithUncertainty in C#.");
        }

        var mean = ExpectedNoise().Select(v => (float)v).ToArray();
        int[] shape = InputShape.Length == 1 ? [Units] : [Units, .. Enumerable.Repeat(1, InputShape.Length - 1)];
        g.Then("Mul", [g.AddInitializer("expected_noise", mean, shape)]);
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new StructuredBayesianPruning(Threshold, KlWarmupEpochs, InitialLogSigma);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length is not (1 or 3))
        {
            throw new ArgumentException($"StructuredBayesianPruning acts on features [D] or channels [C, H, W], got {Tensor.FormatShape(inputShape)}.");
        }

        _mu = new Parameter("mu", new Tensor(inputShape[0]), ParameterKind.Noise);
        var logSigma = new Tensor(inputShape[0]);
        logSigma.Span.Fill(InitialLogSigma);
        _logSigma = new Parameter("log_sigma", logSigma, ParameterKind.Noise);
        return inputShape.ToArray();
    }

    /// <summary>The posterior of unit <paramref name="u"/> at the clipped parameters.</summary>
    internal LogNormalPosterior PosteriorOf(int u) => new(
        Math.Clamp(Mu.Value.Data[u], ParameterMin, ParameterMax),
        Math.Exp(Math.Clamp(LogSigma.Value.Data[u], ParameterMin, ParameterMax)));

    private static void ClipGradients(Parameter p, Span<float> gradient)
    {
        var v = p.Value.Span;
        for (int i = 0; i < v.Length; i++)
        {
            if (!(v[i] > ParameterMin && v[i] < ParameterMax))
            {
                gradient[i] = 0f;
            }
        }
    }

    /// <summary>y = x ⊙ factor over each unit's positions, factor [units] (shared by the batch) or [batch, units].</summary>
    private static void Scale(ReadOnlySpan<float> x, ReadOnlySpan<float> factor, Span<float> y, int spatial, bool perExample)
    {
        int rows = x.Length / spatial;
        for (int r = 0; r < rows; r++)
        {
            float f = factor[perExample ? r : r % factor.Length];
            for (int p = r * spatial; p < (r + 1) * spatial; p++)
            {
                y[p] = x[p] * f;
            }
        }
    }

    /// <summary>The per-unit posteriors of one forward pass, kept per context (several contexts may run the layer).</summary>
    private sealed class PosteriorScratch
    {
        private LogNormalPosterior[] _posteriors = [];

        public LogNormalPosterior[] For(int units)
        {
            if (_posteriors.Length != units)
            {
                _posteriors = new LogNormalPosterior[units];
            }

            return _posteriors;
        }
    }
}

/// <summary>
/// One unit's posterior: log θ ~ N(μ, σ²) truncated to [a, b] = [−20, 0], with α = (a − μ)/σ and β = (b − μ)/σ. Every
/// quantity goes through log Φ and ratios φ(x)/Z computed in log space, so that units whose interval lies far in a
/// tail (μ well outside [a, b] for its σ) stay finite.
/// </summary>
internal readonly struct LogNormalPosterior
{
    private const double LogLength = 2.9957322735539909; // log(b − a) = log 20
    private const double HalfLog2PiE = 1.4189385332046727; // ½ log(2πe)

    public LogNormalPosterior(double mu, double sigma)
    {
        Mu = mu;
        Sigma = sigma;
        Alpha = (StructuredBayesianPruning.LowerBound - mu) / sigma;
        Beta = (StructuredBayesianPruning.UpperBound - mu) / sigma;
        LogZ = LogInterval(Alpha, Beta);
    }

    public double Mu { get; }

    public double Sigma { get; }

    public double Alpha { get; }

    public double Beta { get; }

    /// <summary>log Z, Z = Φ(β) − Φ(α).</summary>
    public double LogZ { get; }

    /// <summary>E[θ] = e^(μ + σ²/2)·A/Z.</summary>
    public double Mean => Math.Exp(Mu + 0.5 * Sigma * Sigma + LogInterval(Alpha - Sigma, Beta - Sigma) - LogZ);

    /// <summary>E[θ]/√Var[θ] = A/√(Z e^(σ²) B − A²) = 1/√(exp(log Z + σ² + log B − 2 log A) − 1).</summary>
    public double SignalToNoise
    {
        get
        {
            double logA = LogInterval(Alpha - Sigma, Beta - Sigma), logB = LogInterval(Alpha - 2 * Sigma, Beta - 2 * Sigma);
            double ratio = Math.Exp(LogZ + Sigma * Sigma + logB - 2 * logA) - 1;
            return ratio > 0 ? 1 / Math.Sqrt(ratio) : double.PositiveInfinity;
        }
    }

    /// <summary>KL(q ‖ p) against the log-uniform prior on [a, b] and its derivatives w.r.t. μ and log σ.</summary>
    public (double Value, double DMu, double DLogSigma) Kl()
    {
        double a = Alpha, b = Beta, s = Sigma;
        double ra = Math.Exp(LogPdf(a) - LogZ), rb = Math.Exp(LogPdf(b) - LogZ); // φ(α)/Z, φ(β)/Z
        double n = a * ra - b * rb; // (αφ(α) − βφ(β))/Z
        double value = LogLength - HalfLog2PiE - Math.Log(s) - LogZ - 0.5 * n;

        // dα = −(dμ + α dσ)/σ, dβ = −(dμ + β dσ)/σ; dZ/Z = rβ dβ − rα dα; dN/Z = rα(1 − α²)dα − rβ(1 − β²)dβ;
        // dKL = −dσ/σ − dZ/Z − ½ dN/Z + ½ (N/Z)(dZ/Z).
        double Derivative(double da, double db, double dSigma)
        {
            double dz = rb * db - ra * da;
            double dn = ra * (1 - a * a) * da - rb * (1 - b * b) * db;
            return -dSigma / s - dz - 0.5 * dn + 0.5 * n * dz;
        }

        double dMu = Derivative(-1 / s, -1 / s, 0);
        double dSigmaTotal = Derivative(-a / s, -b / s, 1);
        return (value, dMu, dSigmaTotal * s);
    }

    /// <summary>A sample of log θ for the uniform draw <paramref name="u"/> in (0, 1), with ∂log θ/∂μ and ∂log θ/∂log σ.</summary>
    public (double LogTheta, double DMu, double DLogSigma) Sample(double u)
    {
        double a = Alpha, b = Beta, t;
        if (b < -37)
        {
            // Far in the lower tail the truncated density is nearly exponential, rising toward β with rate |β|.
            double rate = -b;
            t = b + Math.Log(1 - u * (1 - Math.Exp(-rate * (b - a)))) / rate;
        }
        else if (a > 37)
        {
            double rate = a;
            t = a - Math.Log(1 - (1 - u) * (1 - Math.Exp(-rate * (b - a)))) / rate;
        }
        else if (a >= 0)
        {
            // Upper half: work with Φ(−x), accurate where Φ(x) is close to 1.
            double upper = MathExtras.NormalCdf(-a), lower = MathExtras.NormalCdf(-b);
            t = -MathExtras.InverseNormalCdf(Math.Clamp(upper - u * (upper - lower), 1e-300, 1 - 1e-16));
        }
        else
        {
            double lower = MathExtras.NormalCdf(a), upper = MathExtras.NormalCdf(b);
            t = MathExtras.InverseNormalCdf(Math.Clamp(lower + u * (upper - lower), 1e-300, 1 - 1e-16));
        }

        t = Math.Clamp(t, a, b);
        double dtda = (1 - u) * Math.Exp(0.5 * (t * t - a * a));
        double dtdb = u * Math.Exp(0.5 * (t * t - b * b));
        double dMu = 1 - dtda - dtdb;
        double dSigma = t - a * dtda - b * dtdb;
        return (Mu + Sigma * t, dMu, dSigma * Sigma);
    }

    /// <summary>log φ(x).</summary>
    private static double LogPdf(double x) => -0.5 * x * x - 0.9189385332046727;

    /// <summary>log Φ(x), with the asymptotic series below −30 where Φ underflows.</summary>
    internal static double LogCdf(double x)
    {
        if (x > -30)
        {
            return Math.Log(MathExtras.NormalCdf(x));
        }

        double x2 = x * x;
        return -0.5 * x2 - Math.Log(-x) - 0.9189385332046727 + Math.Log(1 - 1 / x2 + 3 / (x2 * x2) - 15 / (x2 * x2 * x2));
    }

    /// <summary>log(Φ(hi) − Φ(lo)) for lo &lt; hi, computed in whichever tail keeps it accurate.</summary>
    internal static double LogInterval(double lo, double hi)
    {
        if (hi <= 0)
        {
            double top = LogCdf(hi);
            return top + Math.Log(-double.ExpM1(LogCdf(lo) - top));
        }

        if (lo >= 0)
        {
            double top = LogCdf(-lo);
            return top + Math.Log(-double.ExpM1(LogCdf(-hi) - top));
        }

        return Math.Log(1 - MathExtras.NormalCdf(lo) - MathExtras.NormalCdf(-hi));
    }
}
