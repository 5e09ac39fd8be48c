using System.Numerics.Tensors;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// The inference form of a <see cref="DropConnectDense"/> trained with <see cref="DropConnectInference.GaussianMomentMatching"/>
/// and the activation after it (Wan et al., 2013, Algorithm 2). With keep probability q = 1 − rate and the expected
/// weights W_e = qW this layer holds:
/// <code>
///   μ = x W_eᵀ + b,   V = (1 − q)/q · (x ⊙ x)(W_e ⊙ W_e)ᵀ    (= q(1 − q)(x ⊙ x)(W ⊙ W)ᵀ)
///   y = (1/Z) Σ_z a(μ + √V ⊙ ε_z),   ε_z ~ N(0, 1)
/// </code>
/// — each pre-activation moment-matched to a Gaussian, Z samples of it through the activation a, averaged after the
/// nonlinearity (feeding a(μ) instead, the mean rule, is what the paper argues against). Without an activation the
/// average tends to μ, so inference folding uses a plain Dense then. The C# noise is a fixed table ε[z, unit] drawn from
/// <see cref="NoiseSeed"/> and shared by every example, so a prediction does not depend on the batch it comes in or on
/// the thread. Inference only: the layer has no training pass.
/// <para>ONNX form (the importer reads exactly this): <c>Gemm(x, W_e, b)</c> → μ; <c>Mul(x, x)</c>; <c>Mul(W_e, W_e)</c>;
/// <c>Gemm</c> → ; <c>Mul(·, (1 − q)/q)</c> → V; <c>Sqrt</c> → s; <c>Unsqueeze</c> μ and s to [1, B, U];
/// <c>Expand(s, [Z, 1, 1])</c>; <c>RandomNormalLike</c> (seed = <see cref="NoiseSeed"/>) → ε [Z, B, U];
/// <c>Mul(ε, s)</c>; <c>Add(·, μ)</c>; the activation's node(s); <c>ReduceMean(axes = [0], keepdims = 0)</c>. ONNX Runtime
/// draws its own normals (fresh per example), so its output agrees with C#'s within the Monte Carlo error of Z samples;
/// given the same ε the arithmetic agrees to float rounding.</para>
/// </summary>
public sealed class DropConnectGaussianInference : Layer
{
    /// <summary>The default Z (the paper's value is not confirmed; 100 keeps the ONNX graph's [Z, batch, units]
    /// tensor to 120 MB for a batch of 1,000 and 300 units).</summary>
    public const int DefaultSamples = 100;

    private readonly Activation _activation;
    private Parameter? _weight;
    private Parameter? _bias;
    private float[]? _noise;

    /// <summary>Creates the inference layer (inference folding and the ONNX importer do).</summary>
    /// <param name="units">Number of outputs.</param>
    /// <param name="rate">The DropConnect rate the weights were trained with, in (0, 1).</param>
    /// <param name="samples">Z, the Gaussian samples per unit.</param>
    /// <param name="activation">The activation the samples pass through (a fresh instance).</param>
    /// <param name="noiseSeed">The seed of the noise table, in [0, 2^24) (so that ONNX's float seed attribute holds it exactly).</param>
    public DropConnectGaussianInference(int units, float rate, int samples, Activation activation, int noiseSeed = 0)
    {
        ArgumentNullException.ThrowIfNull(activation);
        if (units <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(units), units, "DropConnectGaussianInference needs at least one unit.");
        }

        if (!(rate > 0f && rate < 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(rate), rate, $"DropConnectGaussianInference needs a rate in (0, 1), got {rate}.");
        }

        if (noiseSeed is < 0 or >= 1 << 24)
        {
            throw new ArgumentOutOfRangeException(nameof(noiseSeed), noiseSeed, "the noise seed must be in [0, 2^24).");
        }

        Units = units;
        Rate = rate;
        Samples = CheckSamples(samples, nameof(samples));
        _activation = activation;
        NoiseSeed = noiseSeed;
    }

    /// <summary>The number of outputs.</summary>
    public int Units { get; }

    /// <summary>The DropConnect rate.</summary>
    public float Rate { get; }

    /// <summary>Z, the samples per unit.</summary>
    public int Samples { get; }

    /// <summary>The activation the samples pass through.</summary>
    public Activation Activation => _activation;

    /// <summary>The seed of the noise table.</summary>
    public int NoiseSeed { get; }

    /// <summary>(1 − q)/q = rate/(1 − rate): turns the squared expected weights into the weight variances.</summary>
    public float VarianceFactor => Rate / (1f - Rate);

    /// <summary>The expected weights W_e = (1 − rate)·W [units, inputs].</summary>
    public Parameter Weight => _weight ?? throw new InvalidOperationException("DropConnectGaussianInference is not built.");

    /// <summary>The bias [units].</summary>
    public Parameter Bias => _bias ?? throw new InvalidOperationException("DropConnectGaussianInference is not built.");

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => _weight is null ? [] : [_weight, _bias!];

    /// <summary>The noise table ε [Z, units] (row z is sample z for every example).</summary>
    internal float[] Noise => _noise ??= DrawNoise();

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"units={Units}, rate={Rate}, samples={Samples}, activation={_activation.Name}, noise seed={NoiseSeed}");

    /// <summary>Validates Z.</summary>
    internal static int CheckSamples(int samples, string paramName) => samples is >= 1 and <= 100_000
        ? samples
        : throw new ArgumentOutOfRangeException(paramName, samples, "the Gaussian samples per unit must be between 1 and 100,000.");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        if (ctx.IsTraining)
        {
            throw new InvalidOperationException("DropConnectGaussianInference is an inference layer: train the DropConnectDense it comes from.");
        }

        int batch = x.BatchSize;
        var mean = ctx.Buffer(this, 1, [batch, Units]);
        var variance = ctx.Buffer(this, 2, [batch, Units]);
        var weightVariance = ctx.Buffer(this, 3, Weight.Value.Shape);
        var w = Weight.Value.Span;
        var wv = weightVariance.Span;
        float c = VarianceFactor;
        for (int k = 0; k < wv.Length; k++)
        {
            wv[k] = w[k] * w[k] * c;
        }

        GaussianPreActivation.Forward(this, ctx, x, w, Bias.Value.Span, wv, mean, variance);
        var s = variance.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = MathF.Sqrt(s[i]);
        }

        // One sample of every unit of every example at a time, through the activation, summed in double.
        var sample = ctx.Buffer(this, 4, [batch, Units]);
        var activated = ctx.Buffer(this, 5, [batch, Units]);
        var sum = ctx.Buffer(this, 6, [batch * Units * 2]).Span;
        sum.Clear();
        var total = System.Runtime.InteropServices.MemoryMarshal.Cast<float, double>(sum);
        var noise = Noise;
        var m = mean.Span;
        var a = activated.Span;
        var u = sample.Span;
        for (int z = 0; z < Samples; z++)
        {
            var eps = noise.AsSpan(z * Units, Units);
            for (int i = 0; i < u.Length; i++)
            {
                u[i] = s[i] * eps[i % Units] + m[i];
            }

            _activation.Apply(u, a);
            for (int i = 0; i < a.Length; i++)
            {
                total[i] += a[i];
            }
        }

        var y = ctx.Buffer(this, 0, [batch, Units]);
        var ys = y.Span;
        for (int i = 0; i < ys.Length; i++)
        {
            ys[i] = (float)(total[i] / Samples);
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx) =>
        throw new InvalidOperationException("DropConnectGaussianInference is an inference layer and has no backward pass.");

    /// <summary>ONNX: the moment-matched samples averaged after the activation (see the class remarks).</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        string x = g.Current;
        string w = g.AddInitializer("expected_weight", Weight.Value.Span, Weight.Value.Shape);
        string mean = g.AddNode("Gemm", [x, w, g.AddInitializer("bias", Bias.Value.Span, Bias.Value.Shape)], [OnnxAttribute.Int("transB", 1)]);
        string variance = g.AddNode("Gemm", [g.AddNode("Mul", [x, x]), g.AddNode("Mul", [w, w])], [OnnxAttribute.Int("transB", 1)]);
        variance = g.AddNode("Mul", [variance, g.AddScalar("variance_factor", VarianceFactor)]);
        string deviation = g.AddNode("Sqrt", [variance]);
        string axes = g.AddInt64s("axis0", [0]);
        string meanRows = g.AddNode("Unsqueeze", [mean, axes]);
        string deviationRows = g.AddNode("Unsqueeze", [deviation, axes]);
        string expanded = g.AddNode("Expand", [deviationRows, g.AddInt64s("samples_shape", [Samples, 1, 1])]);
        string noise = g.AddNode("RandomNormalLike", [expanded],
            [OnnxAttribute.Int("dtype", (long)OnnxElementType.Float), OnnxAttribute.Float("mean", 0f), OnnxAttribute.Float("scale", 1f), OnnxAttribute.Float("seed", NoiseSeed)]);
        g.Current = g.AddNode("Add", [g.AddNode("Mul", [noise, deviationRows]), meanRows]);
        _activation.ExportOnnx(g, ctx);
        g.Current = g.AddNode("ReduceMean", [g.Current], [OnnxAttribute.Ints("axes", 0), OnnxAttribute.Int("keepdims", 0)]);
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() =>
        new DropConnectGaussianInference(Units, Rate, Samples, (Activation)_activation.CreateUnbuiltCopy(), NoiseSeed);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 1)
        {
            throw new ArgumentException($"DropConnectGaussianInference expects flat input [features], got {Tensor.FormatShape(inputShape)}.");
        }

        int inputs = inputShape[0];
        _weight = new Parameter("weight", new Tensor(Units, inputs), ParameterKind.Weight, inputs);
        _bias = new Parameter("bias", new Tensor(Units), ParameterKind.Bias);
        _activation.Build([Units], init);
        return [Units];
    }

    private float[] DrawNoise()
    {
        var noise = new float[Samples * Units];
        new Rng(NoiseSeed).FillGaussian(noise, 0);
        return noise;
    }
}
