using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>The nonlinearity a <see cref="FastDropoutDense"/> applies to its Gaussian pre-activation.</summary>
public enum FastDropoutActivation
{
    /// <summary>None (an output layer): training samples the pre-activation from its Gaussian, inference gives its mean.</summary>
    Linear,

    /// <summary>max(0, ·), in expectation: E[max(0, Y)] = μΦ(μ/s) + sφ(μ/s).</summary>
    ReLU,

    /// <summary>The logistic function, in expectation by MacKay's probit approximation: E[σ(Y)] ≈ σ(κμ),
    /// κ = (1 + πs²/8)^(−1/2).</summary>
    Sigmoid,
}

/// <summary>
/// Fast dropout (Wang &amp; Manning, 2013, "Fast dropout training"): dropout on a fully connected layer's inputs without
/// sampling. With inverted dropout at rate r on the inputs, the pre-activation Y = Σᵢ wᵢxᵢzᵢ/(1 − r) + b is by the
/// central limit theorem close to a Gaussian with
/// <code>
///   μ  = xWᵀ + b
///   s² = r/(1 − r) · (x ⊙ x)(W ⊙ W)ᵀ
/// </code>
/// (per example, two GEMMs; see <see cref="GaussianPreActivation"/>), and the layer outputs the expectation of its
/// nonlinearity under that Gaussian (s² + ε with ε = 10⁻⁸ keeps it finite): for ReLU μΦ(t) + sφ(t) with t = μ/s, for the
/// logistic σ(κμ) with κ = (1 + π(s² + ε)/8)^(−1/2). Training is then deterministic, with dropout's regularization in
/// the gradients through μ and s². Backward: for ReLU ∂y/∂μ = Φ(t) and ∂y/∂s = φ(t); for the logistic
/// ∂y/∂μ = y(1 − y)κ and ∂y/∂s² = −y(1 − y)μπκ³/16; then dW = dμᵀx + 2r/(1 − r) W ⊙ (ds²ᵀ(x⊙x)) and
/// dx = dμW + 2x ⊙ (ds² · r/(1 − r)(W ⊙ W)). A <see cref="FastDropoutActivation.Linear"/> layer (the output layer)
/// instead samples Y = μ + sξ, ξ ~ N(0, 1), in training — the paper's "sample from the Gaussian" variant — so that the
/// loss sees the variance too; its ∂y/∂s = ξ.
/// <para>Inference computes the same deterministic expectation as training (the mean μ for a linear layer); its ONNX
/// form writes those formulas out: Gemm, Mul, Gemm, Mul, Add, Sqrt, then Φ as 0.5(1 + Erf(t/√2)) and φ as
/// Exp(−t²/2)/√(2π) for ReLU, or Div and Sigmoid for the logistic. Monte Carlo mode samples Y = μ + sξ and applies the
/// nonlinearity (ONNX: RandomNormalLike).</para>
/// </summary>
public sealed class FastDropoutDense : Layer
{
    /// <summary>π/8 of MacKay's probit approximation.</summary>
    internal const float PiOver8 = MathF.PI / 8f;

    private Parameter? _weight;
    private Parameter? _bias;
    private Tensor? _x;
    private Tensor? _squared;
    private Tensor? _dMean;
    private Tensor? _dVariance;
    private Tensor? _weightVariance;

    /// <summary>Creates a fast dropout layer.</summary>
    /// <param name="units">Number of outputs.</param>
    /// <param name="rate">The dropout rate on the layer's inputs, in [0, 1).</param>
    /// <param name="activation">The nonlinearity taken in expectation (default ReLU; Linear for an output layer).</param>
    /// <param name="init">Weight initialization.</param>
    public FastDropoutDense(int units, float rate, FastDropoutActivation activation = FastDropoutActivation.ReLU, WeightInit init = WeightInit.HeUniform)
    {
        if (units <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(units), units, "FastDropoutDense needs at least one unit.");
        }

        if (!Enum.IsDefined(activation))
        {
            throw new ArgumentOutOfRangeException(nameof(activation), activation, "unknown fast dropout activation.");
        }

        Units = units;
        Rate = Dropout.CheckRate(rate, nameof(rate));
        Activation = activation;
        Init = init;
    }

    /// <summary>The number of outputs.</summary>
    public int Units { get; }

    /// <summary>The dropout rate on the inputs.</summary>
    public float Rate { get; }

    /// <summary>The nonlinearity.</summary>
    public FastDropoutActivation Activation { get; }

    /// <summary>The weight initialization.</summary>
    public WeightInit Init { get; }

    /// <summary>r/(1 − r): the variance of an inverted dropout mask, which scales s².</summary>
    public float VarianceFactor => Rate / (1f - Rate);

    /// <summary>The weight [units, inputs].</summary>
    public Parameter Weight => _weight ?? throw new InvalidOperationException("FastDropoutDense is not built.");

    /// <summary>The bias [units].</summary>
    public Parameter Bias => _bias ?? throw new InvalidOperationException("FastDropoutDense is not built.");

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => _weight is null ? [] : [_weight, _bias!];

    /// <summary>True: Monte Carlo mode samples the Gaussian (a linear layer samples in training as well).</summary>
    public override bool IsStochastic => Rate > 0f;

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"units={Units}, rate={Rate}, activation={Activation}, init={Init}");

    /// <summary>The Gaussian's moments for a batch: μ and s² [B, U] (new tensors), what the central limit theorem says
    /// a dropped-out layer's pre-activation has.</summary>
    public (Tensor Mean, Tensor Variance) Moments(Tensor x)
    {
        CheckInput(x);
        var ctx = new ForwardContext(ForwardMode.Inference);
        var mean = new Tensor(x.BatchSize, Units);
        var variance = new Tensor(x.BatchSize, Units);
        GaussianPreActivation.Forward(this, ctx, x, Weight.Value.Span, Bias.Value.Span, WeightVariances(ctx).Span, mean, variance);
        return (mean, variance);
    }

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        int batch = x.BatchSize;
        var y = ctx.Buffer(this, 0, [batch, Units]);
        var mean = ctx.Buffer(this, 1, [batch, Units]);
        var variance = ctx.Buffer(this, 2, [batch, Units]);
        var weightVariance = WeightVariances(ctx);
        var squared = GaussianPreActivation.Forward(this, ctx, x, Weight.Value.Span, Bias.Value.Span, weightVariance.Span, mean, variance);
        bool sample = ctx.Mode == ForwardMode.MonteCarlo || (ctx.IsTraining && Activation == FastDropoutActivation.Linear);
        var dMean = ctx.IsTraining ? ctx.Buffer(this, 3, [batch, Units]) : null;
        var dVariance = ctx.IsTraining ? ctx.Buffer(this, 4, [batch, Units]) : null;
        if (sample)
        {
            var noise = ctx.Buffer(this, 5, [batch, Units]);
            var deviation = ctx.Buffer(this, 6, [batch, Units]);
            GaussianPreActivation.Sample(ctx, mean, variance, noise, deviation, y);
            if (dMean is not null)
            {
                // Linear training: ∂y/∂μ = 1 and ∂y/∂s² = ξ/(2s).
                dMean.Span.Fill(1f);
                var one = ctx.Buffer(this, 7, [batch, Units]);
                one.Span.Fill(1f);
                GaussianPreActivation.SampleBackward(one, noise, deviation, dVariance!);
            }
            else
            {
                ApplySampledActivation(y.Span);
            }
        }
        else
        {
            Expectation(mean.Span, variance.Span, y.Span, dMean is null ? default : dMean.Span, dVariance is null ? default : dVariance.Span);
        }

        if (ctx.IsTraining)
        {
            (_x, _squared, _dMean, _dVariance, _weightVariance) = (x, squared, dMean, dVariance, weightVariance);
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        var x = _x ?? throw NoForward(Name);
        var dMean = ctx.Buffer(this, 8, dy.Shape);
        var dVariance = ctx.Buffer(this, 9, dy.Shape);
        System.Numerics.Tensors.TensorPrimitives.Multiply(dy.Span, _dMean!.Span, dMean.Span);
        System.Numerics.Tensors.TensorPrimitives.Multiply(dy.Span, _dVariance!.Span, dVariance.Span);
        var dWeightVariance = ctx.Buffer(this, 10, Weight.Value.Shape);
        var dx = GaussianPreActivation.Backward(this, ctx, x, _squared!, Weight.Value.Span, _weightVariance!.Span, dMean, dVariance,
            Weight.Gradient.Span, dWeightVariance.Span, Bias.Gradient.Span, NeedsInputGradient);

        // V = c·W ⊙ W: dW += dV ⊙ 2cW.
        float twoC = 2f * VarianceFactor;
        var w = Weight.Value.Span;
        var dw = Weight.Gradient.Span;
        var dv = dWeightVariance.Span;
        for (int k = 0; k < dw.Length; k++)
        {
            dw[k] += dv[k] * twoC * w[k];
        }

        return dx ?? dy;
    }

    /// <summary>ONNX, inference: the expectation written out (see the class remarks); Monte Carlo: the sampled
    /// pre-activation, then Relu or Sigmoid. The nodes in order (the importer reads exactly these):
    /// <c>Gemm(x, W, b)</c> → μ; <c>Mul(x, x)</c>; <c>Mul(W, W)</c>; <c>Gemm(x², W²)</c>; <c>Mul(·, r/(1 − r))</c> → s²;
    /// <c>Add(s², ε)</c>; then for ReLU <c>Sqrt</c> → s, <c>Div(μ, s)</c> → t, <c>Div(t, √2)</c>, <c>Erf</c>,
    /// <c>Add(·, 1)</c>, <c>Mul(·, ½)</c> → Φ, <c>Mul(t, t)</c>, <c>Mul(·, −½)</c>, <c>Exp</c>, <c>Mul(·, 1/√(2π))</c> → φ,
    /// <c>Mul(μ, Φ)</c>, <c>Mul(s, φ)</c>, <c>Add</c>; for the logistic <c>Mul(·, π/8)</c>, <c>Add(·, 1)</c>, <c>Sqrt</c>,
    /// <c>Div(μ, ·)</c>, <c>Sigmoid</c>. A linear layer's inference form is the Gemm alone.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        string x = g.Current;
        string w = g.AddInitializer("weight", Weight.Value.Span, Weight.Value.Shape);
        string mean = g.AddNode("Gemm", [x, w, g.AddInitializer("bias", Bias.Value.Span, Bias.Value.Shape)], [OnnxAttribute.Int("transB", 1)]);
        if (!ctx.MonteCarlo && Activation == FastDropoutActivation.Linear || Rate == 0f && Activation == FastDropoutActivation.Linear)
        {
            g.Current = mean;
            return;
        }

        string variance = g.AddNode("Gemm", [g.AddNode("Mul", [x, x]), g.AddNode("Mul", [w, w])], [OnnxAttribute.Int("transB", 1)]);
        variance = g.AddNode("Mul", [variance, g.AddScalar("variance_factor", VarianceFactor)]);
        variance = g.AddNode("Add", [variance, g.AddScalar("epsilon", GaussianPreActivation.Epsilon)]);
        if (ctx.MonteCarlo)
        {
            string deviation = g.AddNode("Sqrt", [variance]);
            OnnxAttribute[] attributes =
            [
                OnnxAttribute.Int("dtype", (long)OnnxElementType.Float), OnnxAttribute.Float("mean", 0f), OnnxAttribute.Float("scale", 1f),
                .. ctx.NextSeed() is int seed ? [OnnxAttribute.Float("seed", seed)] : Array.Empty<OnnxAttribute>(),
            ];
            string sample = g.AddNode("Add", [mean, g.AddNode("Mul", [deviation, g.AddNode("RandomNormalLike", [mean], attributes)])]);
            g.Current = Activation switch
            {
                FastDropoutActivation.ReLU => g.AddNode("Relu", [sample]),
                FastDropoutActivation.Sigmoid => g.AddNode("Sigmoid", [sample]),
                _ => sample,
            };
            return;
        }

        if (Activation == FastDropoutActivation.ReLU)
        {
            string s = g.AddNode("Sqrt", [variance]);
            string t = g.AddNode("Div", [mean, s]);
            string cdf = g.AddNode("Erf", [g.AddNode("Div", [t, g.AddScalar("sqrt2", GELU.Sqrt2)])]);
            cdf = g.AddNode("Mul", [g.AddNode("Add", [cdf, g.AddScalar("one", 1f)]), g.AddScalar("half", 0.5f)]);
            string pdf = g.AddNode("Mul", [g.AddNode("Mul", [t, t]), g.AddScalar("minus_half", -0.5f)]);
            pdf = g.AddNode("Mul", [g.AddNode("Exp", [pdf]), g.AddScalar("inv_sqrt_2pi", (float)MathExtras.InvSqrt2Pi)]);
            g.Current = g.AddNode("Add", [g.AddNode("Mul", [mean, cdf]), g.AddNode("Mul", [s, pdf])]);
        }
        else
        {
            string kappa = g.AddNode("Mul", [variance, g.AddScalar("pi_over_8", PiOver8)]);
            kappa = g.AddNode("Sqrt", [g.AddNode("Add", [kappa, g.AddScalar("one", 1f)])]);
            g.Current = g.AddNode("Sigmoid", [g.AddNode("Div", [mean, kappa])]);
        }
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new FastDropoutDense(Units, Rate, Activation, Init);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 1)
        {
            throw new ArgumentException($"FastDropoutDense expects flat input [features], got {Tensor.FormatShape(inputShape)}; put a Flatten layer before it.");
        }

        int inputs = inputShape[0];
        var w = new Tensor(Units, inputs);
        WeightInitializer.Fill(w.Span, Init, inputs, Units, init);
        _weight = new Parameter("weight", w, ParameterKind.Weight, inputs);
        _bias = new Parameter("bias", new Tensor(Units), ParameterKind.Bias);
        return [Units];
    }

    /// <summary>V = r/(1 − r) · W ⊙ W, element by element (a context buffer).</summary>
    private Tensor WeightVariances(ForwardContext ctx)
    {
        var v = ctx.Buffer(this, 11, Weight.Value.Shape);
        var w = Weight.Value.Span;
        var d = v.Span;
        float c = VarianceFactor;
        for (int k = 0; k < d.Length; k++)
        {
            d[k] = w[k] * w[k] * c;
        }

        return v;
    }

    /// <summary>y = E[f(Y)] for Y ~ N(μ, s² + ε) and, when the spans are not empty, ∂y/∂μ and ∂y/∂s² (a linear layer
    /// outside training: y = μ).</summary>
    private void Expectation(ReadOnlySpan<float> mean, ReadOnlySpan<float> variance, Span<float> y, Span<float> dMean, Span<float> dVariance)
    {
        bool derivatives = !dMean.IsEmpty;
        for (int i = 0; i < y.Length; i++)
        {
            float v = variance[i] + GaussianPreActivation.Epsilon;
            switch (Activation)
            {
                case FastDropoutActivation.ReLU:
                {
                    float s = MathF.Sqrt(v);
                    float t = mean[i] / s;
                    float cdf = (float)(0.5 * (1.0 + MathExtras.Erf(t / (double)GELU.Sqrt2)));
                    float pdf = (float)(Math.Exp(-0.5 * t * (double)t) * MathExtras.InvSqrt2Pi);
                    y[i] = mean[i] * cdf + s * pdf;
                    if (derivatives)
                    {
                        dMean[i] = cdf;
                        dVariance[i] = pdf / (2f * s);
                    }

                    break;
                }

                case FastDropoutActivation.Sigmoid:
                {
                    float root = MathF.Sqrt(v * PiOver8 + 1f);
                    float kappa = 1f / root;
                    float value = (float)MathExtras.Sigmoid(mean[i] / root);
                    y[i] = value;
                    if (derivatives)
                    {
                        float slope = value * (1f - value);
                        dMean[i] = slope * kappa;
                        dVariance[i] = -slope * mean[i] * PiOver8 * 0.5f * kappa * kappa * kappa;
                    }

                    break;
                }

                default:
                    y[i] = mean[i];
                    break;
            }
        }
    }

    /// <summary>Monte Carlo: the nonlinearity applied to the sampled pre-activation, in place.</summary>
    private void ApplySampledActivation(Span<float> y)
    {
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = Activation switch
            {
                FastDropoutActivation.ReLU => MathF.Max(0f, y[i]),
                FastDropoutActivation.Sigmoid => (float)MathExtras.Sigmoid(y[i]),
                _ => y[i],
            };
        }
    }
}
