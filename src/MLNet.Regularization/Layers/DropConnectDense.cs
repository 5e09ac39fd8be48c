using System.Numerics.Tensors;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>Which examples share a DropConnect weight mask.</summary>
public enum DropConnectMaskMode
{
    /// <summary>One mask M [units × inputs] for the whole mini-batch: y = x · (M ⊙ W)ᵀ runs as one GEMM, so a
    /// step costs about as much as a plain Dense step plus drawing units·inputs random numbers.</summary>
    PerMiniBatch,

    /// <summary>A fresh mask for every example, as in the paper. No GEMM is possible (each example sees its own
    /// matrix): forward and backward cost batch·units·inputs random draws each (the masks are regenerated from the
    /// counter-based generator instead of stored, so memory stays O(1)), typically 10–50× a Dense step.</summary>
    PerExample,
}

/// <summary>How a trained <see cref="DropConnectDense"/> infers.</summary>
public enum DropConnectInference
{
    /// <summary>The expected weights (1 − rate)·W in a plain Dense: the mean approximation most re-implementations use,
    /// cheap and deterministic.</summary>
    ExpectedWeights,

    /// <summary>Wan et al.'s Algorithm 2: each pre-activation moment-matched to a Gaussian N(μ, V), samples of it passed
    /// through the activation that follows the layer and averaged (see <see cref="DropConnectGaussianInference"/>).</summary>
    GaussianMomentMatching,
}

/// <summary>
/// DropConnect (Wan et al., 2013, "Regularization of neural networks using DropConnect"): a fully connected
/// layer whose individual weights are dropped. Training: y = x · (M ⊙ W)ᵀ + b with M ~ Bernoulli(1 − rate);
/// backward: dW = M ⊙ (dYᵀ · X), dX = dY · (M ⊙ W). The bias is not masked. In Monte Carlo mode masks are drawn as in
/// training. Inference, by <see cref="Inference"/>: the expected weights E[M ⊙ W] = (1 − rate)·W (the mean
/// approximation, the default), or the paper's own rule, Gaussian moment matching: with keep probability q = 1 − rate,
/// u ~ N(μ, V), μ = qWx + b, V = q(1 − q)(W ⊙ W)(x ⊙ x), Z samples of u through the activation right after the layer,
/// averaged — the inference network then holds a <see cref="DropConnectGaussianInference"/> in place of this layer and
/// that activation (a batch norm in between is folded into it first). Validation during training runs this layer in
/// inference mode unfolded and uses the expected weights either way.
/// </summary>
public sealed class DropConnectDense : Layer
{
    private Parameter? _weight;
    private Parameter? _bias;
    private Tensor? _x;
    private Tensor? _mask;
    private Tensor? _dx;
    private ulong _exampleMaskStart;
    private Rng? _exampleMaskRng;

    /// <summary>Creates a DropConnect layer.</summary>
    /// <param name="units">Number of outputs.</param>
    /// <param name="rate">Probability of dropping each weight, in [0, 1).</param>
    /// <param name="maskMode">Per mini-batch (default, fast) or per example (as in the paper, slow).</param>
    /// <param name="init">Weight initialization.</param>
    /// <param name="inference">How the trained layer infers (default the expected weights).</param>
    /// <param name="inferenceSamples">Z, the Gaussian samples per unit that moment-matching inference averages (default
    /// 100; ignored for the expected weights).</param>
    public DropConnectDense(int units, float rate, DropConnectMaskMode maskMode = DropConnectMaskMode.PerMiniBatch, WeightInit init = WeightInit.HeUniform,
        DropConnectInference inference = DropConnectInference.ExpectedWeights, int inferenceSamples = DropConnectGaussianInference.DefaultSamples)
    {
        if (units <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(units), units, "DropConnectDense needs at least one unit.");
        }

        if (!Enum.IsDefined(inference))
        {
            throw new ArgumentOutOfRangeException(nameof(inference), inference, "unknown DropConnect inference.");
        }

        Units = units;
        Rate = Dropout.CheckRate(rate, nameof(rate));
        MaskMode = maskMode;
        Init = init;
        Inference = inference;
        InferenceSamples = DropConnectGaussianInference.CheckSamples(inferenceSamples, nameof(inferenceSamples));
    }

    /// <summary>How the trained layer infers.</summary>
    public DropConnectInference Inference { get; }

    /// <summary>Z, the samples per unit of moment-matching inference.</summary>
    public int InferenceSamples { get; }

    /// <summary>The number of outputs.</summary>
    public int Units { get; }

    /// <summary>The weight drop probability.</summary>
    public float Rate { get; }

    /// <summary>Mask sharing mode.</summary>
    public DropConnectMaskMode MaskMode { get; }

    /// <summary>The weight initialization.</summary>
    public WeightInit Init { get; }

    /// <summary>The weight [units, inputs] (training-time weights; inference uses (1 − rate)·W).</summary>
    public Parameter Weight => _weight ?? throw new InvalidOperationException("DropConnectDense is not built.");

    /// <summary>The bias [units].</summary>
    public Parameter Bias => _bias ?? throw new InvalidOperationException("DropConnectDense is not built.");

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => _weight is null ? [] : [_weight, _bias!];

    /// <inheritdoc />
    public override bool IsStochastic => Rate > 0f;

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"units={Units}, rate={Rate}, mask={MaskMode}, init={Init}")
        + (Inference == DropConnectInference.GaussianMomentMatching ? FormattableString.Invariant($", inference=Gaussian moment matching ({InferenceSamples} samples)") : "");

    /// <summary>The expected weights (1 − rate)·W that inference uses (a new tensor).</summary>
    public Tensor ExpectedWeights()
    {
        var w = Weight.Value.Clone();
        TensorPrimitives.Multiply(w.Span, 1f - Rate, w.Span);
        return w;
    }

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        int batch = x.BatchSize, inputs = InputShape[0];
        var y = ctx.Buffer(this, 0, [batch, Units]);
        if (!ctx.IsStochastic || Rate == 0f)
        {
            // The expected weights (1 − rate)·W formed element by element, then one plain GEMM: exactly what the
            // inference network's Dense (InferenceFolding) and the exported Gemm compute, bit for bit.
            var weights = Weight.Value;
            if (Rate != 0f)
            {
                weights = ctx.Buffer(this, 3, Weight.Value.Shape);
                TensorPrimitives.Multiply(Weight.Value.Span, 1f - Rate, weights.Span);
            }

            Gemm.MultiplyAddBias(false, true, batch, Units, inputs, x.Span, inputs, weights.Span, inputs, Bias.Value.Span, GemmActivation.None, y.Span, Units, ctx.Threads);
            if (ctx.IsTraining)
            {
                _x = x;
                _mask = null;
                _exampleMaskRng = null;
            }

            return y;
        }

        if (MaskMode == DropConnectMaskMode.PerMiniBatch)
        {
            var mask = ctx.Buffer(this, 1, Weight.Value.Shape);
            var effective = ctx.Buffer(this, 2, Weight.Value.Shape);
            DrawMaskedWeights(ctx.Rng, Rate, Weight.Value.Data, mask.Data, effective.Data, ctx.Threads);
            return ForwardEffective(x, mask, effective, y, ctx);
        }

        ulong start = ctx.Rng.Reserve(checked(batch * Units * inputs));
        ForwardPerExample(x, y, ctx.Rng, start, ctx.Threads);
        if (ctx.IsTraining)
        {
            _x = x;
            _mask = null;
            _exampleMaskRng = ctx.Rng;
            _exampleMaskStart = start;
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        var x = _x ?? throw NoForward(Name);
        int batch = x.BatchSize, inputs = InputShape[0];
        Dense.SumRows(dy.Span, Bias.Gradient.Span);
        if (_exampleMaskRng is not null)
        {
            BackwardPerExample(x, dy, _exampleMaskRng, _exampleMaskStart, ctx.Threads);
            return NeedsInputGradient ? _dx! : dy;
        }

        // Without a mask (rate 0) the effective weights are W itself.
        Gemm.Multiply(true, false, Units, inputs, batch, 1f, dy.Span, Units, x.Span, inputs, 0f, Weight.Gradient.Span, inputs, ctx.Threads);
        var effective = Weight.Value;
        if (_mask is not null)
        {
            MaskGradient(Weight.Gradient.Data, _mask.Data, ctx.Threads);
            effective = ctx.Buffer(this, 2, Weight.Value.Shape);
        }

        if (!NeedsInputGradient)
        {
            return dy;
        }

        _dx = Tensor.Reuse(_dx, x.Shape);
        Gemm.Multiply(false, false, batch, inputs, Units, 1f, dy.Span, Units, effective.Span, inputs, 0f, _dx.Span, inputs, ctx.Threads);
        return _dx;
    }

    /// <summary>Training forward with a given mask [units × inputs] (per mini-batch mode; used by gradient tests).</summary>
    internal Tensor ForwardWithMask(Tensor x, Tensor mask, ForwardContext ctx)
    {
        var y = ctx.Buffer(this, 0, [x.BatchSize, Units]);
        return ForwardMasked(x, mask, y, ctx);
    }

    /// <summary>ONNX, inference: <c>Gemm</c> with the expected weights (1 − rate)·W (the exporter normally meets this
    /// layer already turned into such a Dense by inference folding). Monte Carlo: the weights are masked afresh on
    /// every run, <c>Gemm(x, W ⊙ Cast(mask), b)</c>, where <c>mask</c> is the keep mask (Bernoulli(1 − rate)) that an
    /// active ONNX <c>Dropout</c> draws over W; one mask serves all rows of the batch, as in
    /// <see cref="DropConnectMaskMode.PerMiniBatch"/> (run one example at a time for per-example masks).</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        string bias = g.AddInitializer("bias", Bias.Value.Span, Bias.Value.Shape);
        if (!ctx.MonteCarlo || Rate == 0f)
        {
            g.Then("Gemm", [g.AddInitializer("expected_weight", ExpectedWeights().Span, Weight.Value.Shape), bias], OnnxAttribute.Int("transB", 1));
            return;
        }

        string w = g.AddInitializer("weight", Weight.Value.Span, Weight.Value.Shape);
        string[] dropped = g.AddNode("Dropout", [w, g.AddScalar("ratio", Rate), g.AddBoolScalar("training_mode", true)], 2, Dropout.SeedAttribute(ctx));
        string mask = g.AddNode("Cast", [dropped[1]], [OnnxAttribute.Int("to", (long)OnnxElementType.Float)]);
        string masked = g.AddNode("Mul", [w, mask]);
        g.Then("Gemm", [masked, bias], OnnxAttribute.Int("transB", 1));
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new DropConnectDense(Units, Rate, MaskMode, Init, Inference, InferenceSamples);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 1)
        {
            throw new ArgumentException($"DropConnectDense expects flat input [features], got {Tensor.FormatShape(inputShape)}; put a Flatten layer before it.");
        }

        int inputs = inputShape[0];
        var w = new Tensor(Units, inputs);
        WeightInitializer.Fill(w.Span, Init, inputs, Units, init);
        _weight = new Parameter("weight", w, ParameterKind.Weight, inputs);
        _bias = new Parameter("bias", new Tensor(Units), ParameterKind.Bias);
        return [Units];
    }

    private Tensor ForwardMasked(Tensor x, Tensor mask, Tensor y, ForwardContext ctx)
    {
        var effective = ctx.Buffer(this, 2, Weight.Value.Shape);
        TensorPrimitives.Multiply(Weight.Value.Span, mask.Span, effective.Span);
        return ForwardEffective(x, mask, effective, y, ctx);
    }

    /// <summary>
    /// A per-mini-batch DropConnect mask (1 kept, 0 dropped; weight i uses counter start + i of a range reserved
    /// here, as <see cref="Rng.FillBernoulli(Span{float}, float, float)"/> would) and W ⊙ mask, in blocks small
    /// enough for the mask to be read back from cache, split over the threads (the mask does not depend on the
    /// split). Shared with <see cref="DropConnectConv2D"/> and the recurrent layers' weight drop, which keeps its
    /// entries at <paramref name="keptValue"/> = 1/(1 − rate) (inverted scaling).
    /// </summary>
    internal static void DrawMaskedWeights(Rng rng, float rate, float[] weight, float[] mask, float[] effective, int threads, float keptValue = 1f)
    {
        const int Block = 4096;
        ulong start = rng.Reserve(mask.Length);
        StaticParallel.For(mask.Length, threads, (rng, start, rate, mask, weight, effective, keptValue), static (s, from, to) =>
        {
            for (int b = from; b < to; b += Block)
            {
                int n = Math.Min(Block, to - b);
                var m = s.mask.AsSpan(b, n);
                s.rng.FillBernoulli(m, s.rate, s.keptValue, s.start + (ulong)b);
                TensorPrimitives.Multiply(s.weight.AsSpan(b, n), m, s.effective.AsSpan(b, n));
            }
        });
    }

    /// <summary>dW ⊙= mask, split over the threads (shared with <see cref="DropConnectConv2D"/>).</summary>
    internal static void MaskGradient(float[] gradient, float[] mask, int threads) =>
        StaticParallel.For(mask.Length, threads, (gradient, mask), static (s, from, to) =>
            TensorPrimitives.Multiply(s.gradient.AsSpan(from, to - from), s.mask.AsSpan(from, to - from), s.gradient.AsSpan(from, to - from)));

    private Tensor ForwardEffective(Tensor x, Tensor mask, Tensor effective, Tensor y, ForwardContext ctx)
    {
        int batch = x.BatchSize, inputs = InputShape[0];
        Gemm.MultiplyAddBias(false, true, batch, Units, inputs, x.Span, inputs, effective.Span, inputs, Bias.Value.Span, GemmActivation.None, y.Span, Units, ctx.Threads);
        if (ctx.IsTraining)
        {
            _x = x;
            _mask = mask;
            _exampleMaskRng = null;
        }

        return y;
    }

    private uint Threshold => Rng.BernoulliThreshold(Rate);

    // Mask bit for (example i, unit o, input j) lives at counter start + (i·units + o)·inputs + j.
    private void ForwardPerExample(Tensor x, Tensor y, Rng rng, ulong start, int threads)
    {
        int units = Units, inputs = InputShape[0];
        uint threshold = Threshold;
        float[] xd = x.Data, yd = y.Data, w = Weight.Value.Data, b = Bias.Value.Data;
        StaticParallel.For(x.BatchSize, threads, (xd, yd, w, b, rng, start, threshold, units, inputs), static (s, from, to) =>
            ForwardExamples(s.xd, s.yd, s.w, s.b, s.rng, s.start, s.threshold, s.units, s.inputs, from, to));
    }

    private static void ForwardExamples(float[] xd, float[] yd, float[] w, float[] b, Rng rng, ulong start, uint threshold, int units, int inputs, int from, int to)
    {
        for (int i = from; i < to; i++)
        {
            for (int o = 0; o < units; o++)
            {
                ulong c0 = start + ((ulong)i * (ulong)units + (ulong)o) * (ulong)inputs;
                float s = 0f;
                int wo = o * inputs, xi = i * inputs;
                for (int j = 0; j < inputs; j++)
                {
                    if (!rng.Fires(c0 + (ulong)j, threshold))
                    {
                        s += w[wo + j] * xd[xi + j];
                    }
                }

                yd[i * units + o] = s + b[o];
            }
        }
    }

    private void BackwardPerExample(Tensor x, Tensor dy, Rng rng, ulong start, int threads)
    {
        int units = Units, inputs = InputShape[0], batch = x.BatchSize;
        uint threshold = Threshold;
        float[] xd = x.Data, dyd = dy.Data, w = Weight.Value.Data, dw = Weight.Gradient.Data;
        StaticParallel.For(units, threads, (xd, dyd, dw, rng, start, threshold, units, inputs, batch), static (s, from, to) =>
            WeightGradientUnits(s.xd, s.dyd, s.dw, s.rng, s.start, s.threshold, s.units, s.inputs, s.batch, from, to));
        if (!NeedsInputGradient)
        {
            return;
        }

        _dx = Tensor.Reuse(_dx, x.Shape);
        float[] dx = _dx.Data;
        StaticParallel.For(batch, threads, (dyd, dx, w, rng, start, threshold, units, inputs), static (s, from, to) =>
            InputGradientExamples(s.dyd, s.dx, s.w, s.rng, s.start, s.threshold, s.units, s.inputs, from, to));
    }

    private static void WeightGradientUnits(float[] xd, float[] dyd, float[] dw, Rng rng, ulong start, uint threshold, int units, int inputs, int batch, int from, int to)
    {
        for (int o = from; o < to; o++)
        {
            Array.Clear(dw, o * inputs, inputs);
            for (int i = 0; i < batch; i++)
            {
                float g = dyd[i * units + o];
                ulong c0 = start + ((ulong)i * (ulong)units + (ulong)o) * (ulong)inputs;
                for (int j = 0; j < inputs; j++)
                {
                    if (!rng.Fires(c0 + (ulong)j, threshold))
                    {
                        dw[o * inputs + j] += g * xd[i * inputs + j];
                    }
                }
            }
        }
    }

    private static void InputGradientExamples(float[] dyd, float[] dx, float[] w, Rng rng, ulong start, uint threshold, int units, int inputs, int from, int to)
    {
        for (int i = from; i < to; i++)
        {
            Array.Clear(dx, i * inputs, inputs);
            for (int o = 0; o < units; o++)
            {
                float g = dyd[i * units + o];
                ulong c0 = start + ((ulong)i * (ulong)units + (ulong)o) * (ulong)inputs;
                for (int j = 0; j < inputs; j++)
                {
                    if (!rng.Fires(c0 + (ulong)j, threshold))
                    {
                        dx[i * inputs + j] += g * w[o * inputs + j];
                    }
                }
            }
        }
    }
}
