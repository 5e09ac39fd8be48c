using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>What a <see cref="MaxPoolingDropout"/> layer computes at inference.</summary>
public enum MaxPoolingDropoutInference
{
    /// <summary>The paper's probabilistic weighted pooling: the expected value of the training-time output, each
    /// activation weighted by the probability that it is the maximum of the retained ones (default).</summary>
    ProbabilisticWeighted,

    /// <summary>Plain max pooling, the rule most frameworks would use; exportable as an ONNX MaxPool.</summary>
    Max,
}

/// <summary>
/// Max-pooling dropout (Wu &amp; Gu, 2015, "Towards dropout training for convolutional neural networks"). Training:
/// every input unit is dropped (set to 0) with probability p = <see cref="Rate"/> before max pooling, without
/// rescaling: y = max_{i ∈ window} (m_i · a_i), m_i ~ Bernoulli(q), q = 1 − p. This picks activation a_(i) — the i-th
/// largest of the n units in the window, a_(1) ≥ … ≥ a_(n) — with probability q·p^(i−1) (it is kept and every larger
/// one dropped), and 0 with probability p^n. Inference (probabilistic weighted pooling, the paper's eq. for
/// non-negative, e.g. ReLU, inputs): y = Σ_{i=1}^{n} q·p^(i−1)·a_(i), the exact expectation of the training output.
/// For inputs of any sign the expectation computed here is exact as well: dropped units contribute a 0 that beats
/// negative values, so y = Σ_{i: a_(i) &gt; 0} q·p^(i−1)·a_(i), plus q^n·a_(1) when every value is negative.
/// Padding never takes part (n counts the window's pixels inside the image). Backward (training): the gradient goes
/// to the arg-max of the masked window (the first on ties), and nowhere if that unit was dropped. Monte Carlo mode
/// samples masks as in training and keeps nothing.
/// </summary>
public sealed class MaxPoolingDropout : Layer
{
    private const int MaxWindow = 256;
    private ConvGeometry _g;
    private int[] _argmax = [];
    private bool _trained;
    private Tensor? _dx;

    /// <summary>Creates max-pooling dropout with a square window.</summary>
    /// <param name="rate">Drop probability p of each input unit, in [0, 1) (the paper found 0.1–0.3 good at this place).</param>
    /// <param name="pool">Window height and width (default 2).</param>
    /// <param name="stride">Step between windows; null (default) means the window size.</param>
    /// <param name="padding">Padding: pixels (smaller than the window), <c>"valid"</c> (default) or <c>"same"</c>.</param>
    /// <param name="inference">Probabilistic weighted pooling (default, the paper's) or plain max pooling.</param>
    public MaxPoolingDropout(float rate, int pool = 2, int? stride = null, Padding2D padding = default, MaxPoolingDropoutInference inference = MaxPoolingDropoutInference.ProbabilisticWeighted)
    {
        Rate = Dropout.CheckRate(rate, nameof(rate));
        Settings = PoolSettings.Validate(nameof(MaxPoolingDropout), (pool, pool), stride, padding);
        if (pool * pool > MaxWindow)
        {
            throw new ArgumentOutOfRangeException(nameof(pool), pool, $"MaxPoolingDropout windows are limited to {MaxWindow} pixels.");
        }

        Inference = inference;
    }

    /// <summary>The drop probability of each input unit.</summary>
    public float Rate { get; }

    /// <summary>The inference rule.</summary>
    public MaxPoolingDropoutInference Inference { get; }

    /// <summary>Window side.</summary>
    public int Pool => Settings.Height;

    /// <summary>Step between windows.</summary>
    public int Stride => Settings.Stride;

    /// <summary>The padding as configured.</summary>
    public Padding2D Padding => Settings.Padding;

    /// <inheritdoc />
    public override bool IsStochastic => Rate > 0f;

    internal PoolSettings Settings { get; }

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"rate={Rate}, ") + Settings.Describe() + $", inference={Inference}";

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        var y = ctx.Buffer(this, 0, x.BatchSize, OutputShape);
        if (ctx.IsStochastic)
        {
            int[]? argmax = null;
            if (ctx.IsTraining)
            {
                if (_argmax.Length != y.Length)
                {
                    _argmax = new int[y.Length];
                }

                argmax = _argmax;
                _trained = true;
            }

            ulong start = ctx.Rng.Reserve(x.Length);
            MaskedMax(x.Data, y.Data, argmax, ctx.Rng, start, x.BatchSize, ctx.Threads);
        }
        else
        {
            Expected(x.Data, y.Data, x.BatchSize, ctx.Threads);
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        if (!_trained)
        {
            throw NoForward(Name);
        }

        _dx = Tensor.Reuse(_dx, dy.BatchSize, InputShape);
        MaxPool2D.RouteToArgmax(dy.Data, _argmax, _dx.Data, _g, dy.BatchSize, ctx.Threads);
        return _dx;
    }

    /// <summary>The inference output for one window of values: the exact expectation of the training output (see the
    /// class summary), or the plain maximum.</summary>
    internal static float ExpectedMax(Span<float> window, float rate, MaxPoolingDropoutInference rule)
    {
        if (rule == MaxPoolingDropoutInference.Max || rate == 0f)
        {
            float m = float.NegativeInfinity;
            foreach (float v in window)
            {
                m = Math.Max(m, v);
            }

            return m;
        }

        window.Sort((a, b) => b.CompareTo(a)); // descending
        double p = rate, q = 1.0 - rate;
        if (window[0] < 0f)
        {
            return (float)(Math.Pow(q, window.Length) * window[0]);
        }

        double sum = 0, weight = q; // q·p^(i−1)
        foreach (float v in window)
        {
            if (v <= 0f)
            {
                break;
            }

            sum += weight * v;
            weight *= p;
        }

        return (float)sum;
    }

    /// <summary>ONNX: <c>MaxPool</c> when the inference rule is plain max (or the rate is 0). Probabilistic weighted
    /// pooling has no ONNX form here and is refused, as is a Monte Carlo export.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        if (ctx.MonteCarlo && Rate > 0f)
        {
            throw new NotSupportedException("MaxPoolingDropout has no Monte Carlo ONNX form; export without MonteCarlo.");
        }

        if (Inference == MaxPoolingDropoutInference.ProbabilisticWeighted && Rate > 0f)
        {
            throw new NotSupportedException(
                "MaxPoolingDropout's probabilistic weighted pooling (the default inference rule) has no ONNX form; to export the network, create the layer with inference: MaxPoolingDropoutInference.Max, which becomes an ONNX MaxPool.");
        }

        ConvOnnx.Pool(g, "MaxPool", Pool, Pool, Stride, _g.Pads);
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new MaxPoolingDropout(Rate, Pool, Stride, Padding, Inference);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        _g = Settings.Geometry(Name, inputShape);
        return [_g.Channels, _g.OutHeight, _g.OutWidth];
    }

    // Unit at flat input index j is kept when the 24-bit draw at counter start + j is at or above rate·2^24.
    private void MaskedMax(float[] xs, float[] ys, int[]? argmax, Rng rng, ulong start, int batch, int threads)
    {
        var g = _g;
        uint threshold = Rng.BernoulliThreshold(Rate);
        StaticParallel.For(batch * g.Channels, threads, (g, xs, ys, argmax, rng, start, threshold), static (s, from, to) =>
            MaskedMaxPlanes(s.g, s.xs, s.ys, s.argmax, s.rng, s.start, s.threshold, from, to));
    }

    private void Expected(float[] xs, float[] ys, int batch, int threads)
    {
        var g = _g;
        float rate = Rate;
        var rule = Inference;
        StaticParallel.For(batch * g.Channels, threads, (g, xs, ys, rate, rule), static (s, from, to) => ExpectedPlanes(s.g, s.xs, s.ys, s.rate, s.rule, from, to));
    }

    private static void MaskedMaxPlanes(in ConvGeometry g, float[] xs, float[] ys, int[]? argmax, Rng rng, ulong start, uint threshold, int from, int to)
    {
        int hw = g.Height * g.Width, outH = g.OutHeight, outW = g.OutWidth, width = g.Width;
        for (int plane = from; plane < to; plane++)
        {
            int o = plane * outH * outW;
            for (int oh = 0; oh < outH; oh++)
            {
                var (h0, h1) = g.WindowRows(oh);
                for (int ow = 0; ow < outW; ow++, o++)
                {
                    var (w0, w1) = g.WindowColumns(ow);
                    int best = -1;
                    bool bestKept = false;
                    float max = float.NegativeInfinity;
                    for (int ih = h0; ih < h1; ih++)
                    {
                        int row = plane * hw + ih * width;
                        for (int idx = row + w0; idx < row + w1; idx++)
                        {
                            bool kept = !rng.Fires(start + (ulong)idx, threshold);
                            float v = kept ? xs[idx] : 0f;
                            if (best < 0 || v > max)
                            {
                                max = v;
                                best = idx;
                                bestKept = kept;
                            }
                        }
                    }

                    ys[o] = best < 0 ? 0f : max;
                    if (argmax is not null)
                    {
                        argmax[o] = bestKept ? best : -1;
                    }
                }
            }
        }
    }

    private static void ExpectedPlanes(in ConvGeometry g, float[] xs, float[] ys, float rate, MaxPoolingDropoutInference rule, int from, int to)
    {
        int hw = g.Height * g.Width, outH = g.OutHeight, outW = g.OutWidth, width = g.Width;
        Span<float> window = stackalloc float[MaxWindow];
        for (int plane = from; plane < to; plane++)
        {
            int o = plane * outH * outW;
            for (int oh = 0; oh < outH; oh++)
            {
                var (h0, h1) = g.WindowRows(oh);
                for (int ow = 0; ow < outW; ow++, o++)
                {
                    var (w0, w1) = g.WindowColumns(ow);
                    int count = 0;
                    for (int ih = h0; ih < h1; ih++)
                    {
                        int row = plane * hw + ih * width;
                        for (int idx = row + w0; idx < row + w1; idx++)
                        {
                            window[count++] = xs[idx];
                        }
                    }

                    ys[o] = count == 0 ? 0f : ExpectedMax(window[..count], rate, rule);
                }
            }
        }
    }
}
