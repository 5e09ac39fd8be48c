using System.Numerics;
using System.Numerics.Tensors;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Batch normalization (Ioffe &amp; Szegedy, 2015). For input [N, C] or [N, C, H, W] each channel c is normalized
/// over the batch (and the spatial positions): x̂ = (x − μ_B) / √(σ²_B + ε), y = γ x̂ + β. Training uses the
/// batch statistics and updates running ones, running = (1 − momentum)·running + momentum·batch (the variance
/// with Bessel's correction, as PyTorch does); inference and Monte Carlo mode use the running statistics.
/// Backward: dx = γ/(m·√(σ²+ε)) · (m·dy − Σdy − x̂·Σ(dy·x̂)), with m the count per channel.
/// </summary>
public sealed class BatchNorm : Layer, IFusesActivation
{
    private Parameter? _gamma;
    private Parameter? _beta;
    private Tensor? _runningMean;
    private Tensor? _runningVar;
    private float[] _batchMean = [];
    private float[] _invStd = [];
    private float[] _rowSum = [];
    private float[] _rowScratch = [];
    private Tensor? _xhat;
    private Tensor? _dx;

    /// <summary>Creates batch normalization.</summary>
    /// <param name="momentum">Weight of the current batch in the running statistics, in (0, 1]; 0.1 as in PyTorch (Keras' 0.99 means 0.01 here).</param>
    /// <param name="epsilon">Added to the variance for numerical stability.</param>
    public BatchNorm(float momentum = 0.1f, float epsilon = 1e-5f)
    {
        if (!(momentum > 0f && momentum <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "BatchNorm momentum must be in (0, 1].");
        }

        if (!(epsilon > 0f) || !float.IsFinite(epsilon))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "BatchNorm epsilon must be positive.");
        }

        Momentum = momentum;
        Epsilon = epsilon;
    }

    /// <summary>Weight of the current batch in the running statistics.</summary>
    public float Momentum { get; }

    /// <summary>Variance epsilon.</summary>
    public float Epsilon { get; }

    /// <summary>Number of channels (features for 2-D input).</summary>
    public int Channels => InputShape[0];

    /// <summary>The scale γ [C].</summary>
    public Parameter Gamma => _gamma ?? throw new InvalidOperationException("BatchNorm is not built.");

    /// <summary>The shift β [C].</summary>
    public Parameter Beta => _beta ?? throw new InvalidOperationException("BatchNorm is not built.");

    /// <summary>The activation this layer applies itself (see <see cref="IFusesActivation"/>).</summary>
    internal GemmActivation FusedActivation { get; set; }

    /// <inheritdoc />
    GemmActivation IFusesActivation.FusedActivation { get => FusedActivation; set => FusedActivation = value; }

    /// <summary>Running mean [C], used at inference.</summary>
    public Tensor RunningMean => _runningMean ?? throw new InvalidOperationException("BatchNorm is not built.");

    /// <summary>Running (unbiased) variance [C], used at inference.</summary>
    public Tensor RunningVariance => _runningVar ?? throw new InvalidOperationException("BatchNorm is not built.");

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => _gamma is null ? [] : [_gamma, _beta!];

    /// <inheritdoc />
    public override IReadOnlyList<Tensor> State => _runningMean is null ? [] : [_runningMean, _runningVar!];

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"momentum={Momentum}, eps={Epsilon}");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        int n = x.BatchSize, c = Channels, spatial = x.SampleSize / c;
        var y = ctx.Buffer(this, 0, x.Shape);
        var xs = x.Span;
        var ys = y.Span;
        var gamma = Gamma.Value.Span;
        var beta = Beta.Value.Span;
        if (!ctx.IsTraining)
        {
            var rm = RunningMean.Span;
            var rv = RunningVariance.Span;
            for (int ch = 0; ch < c; ch++)
            {
                float scale = gamma[ch] / MathF.Sqrt(rv[ch] + Epsilon);
                float shift = beta[ch] - rm[ch] * scale;
                for (int b = 0; b < n; b++)
                {
                    int o = (b * c + ch) * spatial;
                    if (spatial >= 16)
                    {
                        // The same x·scale + shift, a plane at a time with SIMD.
                        var run = ys.Slice(o, spatial);
                        TensorPrimitives.Multiply(xs.Slice(o, spatial), scale, run);
                        TensorPrimitives.Add(run, shift, run);
                        ApplyFused(run);
                        continue;
                    }

                    for (int i = o; i < o + spatial; i++)
                    {
                        ys[i] = xs[i] * scale + shift;
                    }
                }
            }

            if (spatial < 16)
            {
                ApplyFused(ys);
            }

            return y;
        }

        int m = n * spatial;
        if (m < 2)
        {
            throw new ArgumentException("BatchNorm in training needs more than one value per channel; use a batch size of at least 2.", nameof(x));
        }

        if (_batchMean.Length != c)
        {
            _batchMean = new float[c];
            _invStd = new float[c];
        }

        _xhat = Tensor.Reuse(_xhat, x.Shape);
        if (spatial == 1)
        {
            ForwardTrainRows(xs, ys, n, c);
            return y;
        }

        // Channels are independent: split them over the threads (each channel's arithmetic is the same whoever runs it).
        StaticParallel.For(c, ctx.Threads, (this, x.Data, y.Data, n), static (s, from, to) => s.Item1.ForwardTrainPlanes(s.Item2, s.Item3, s.Item4, from, to));
        return y;
    }

    /// <summary>
    /// Training forward of channels [from, to) for [N, C, H, W] input, plane by plane with SIMD: the mean, then the
    /// centred sum of squares (two passes, stable for large offsets), each summed in float within a plane and in
    /// double across planes.
    /// </summary>
    private void ForwardTrainPlanes(float[] xs, float[] ys, int n, int from, int to)
    {
        int c = Channels, spatial = xs.Length / (n * c), m = n * spatial;
        float[] xhat = _xhat!.Data, gamma = Gamma.Value.Data, beta = Beta.Value.Data;
        float[] runMean = RunningMean.Data, runVar = RunningVariance.Data;
        for (int ch = from; ch < to; ch++)
        {
            double sum = 0;
            for (int b = 0; b < n; b++)
            {
                sum += TensorPrimitives.Sum(xs.AsSpan((b * c + ch) * spatial, spatial));
            }

            float mu = (float)(sum / m);
            double sq = 0;
            for (int b = 0; b < n; b++)
            {
                sq += CentredSumOfSquares(xs.AsSpan((b * c + ch) * spatial, spatial), mu);
            }

            float invStd = (float)(1.0 / Math.Sqrt(sq / m + Epsilon));
            _batchMean[ch] = mu;
            _invStd[ch] = invStd;
            for (int b = 0; b < n; b++)
            {
                int o = (b * c + ch) * spatial;
                var h = xhat.AsSpan(o, spatial);
                TensorPrimitives.Subtract(xs.AsSpan(o, spatial), mu, h);
                TensorPrimitives.Multiply(h, invStd, h);
                var yRun = ys.AsSpan(o, spatial);
                TensorPrimitives.Multiply(h, gamma[ch], yRun);
                TensorPrimitives.Add(yRun, beta[ch], yRun);
                ApplyFused(yRun);
            }

            runMean[ch] = (1f - Momentum) * runMean[ch] + Momentum * mu;
            runVar[ch] = (1f - Momentum) * runVar[ch] + Momentum * (float)(sq / (m - 1));
        }
    }

    /// <summary>A fused ReLU on a run of output that was just written (the ReLU layer's own operation, so the
    /// same bits).</summary>
    private void ApplyFused(Span<float> run)
    {
        if (FusedActivation == GemmActivation.ReLU)
        {
            TensorPrimitives.Max(run, 0f, run);
        }
    }

    /// <summary>Σ (v − mean)² over <paramref name="values"/>, in float lanes.</summary>
    private static double CentredSumOfSquares(ReadOnlySpan<float> values, float mean)
    {
        int i = 0;
        float total = 0f;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<float>.Count)
        {
            var mu = new Vector<float>(mean);
            var acc = Vector<float>.Zero;
            for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var d = new Vector<float>(values[i..]) - mu;
                acc += d * d;
            }

            total = Vector.Sum(acc);
        }

        for (; i < values.Length; i++)
        {
            float d = values[i] - mean;
            total += d * d;
        }

        return total;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        var xhatT = _xhat ?? throw NoForward(Name);
        int n = dy.BatchSize, c = Channels, spatial = dy.SampleSize / c;
        _dx = Tensor.Reuse(_dx, dy.Shape);
        if (spatial == 1)
        {
            BackwardRows(dy.Span, xhatT.Span, _dx.Span, n, c);
            return _dx;
        }

        StaticParallel.For(c, ctx.Threads, (this, dy.Data, xhatT.Data, _dx.Data, n), static (s, from, to) => s.Item1.BackwardPlanes(s.Item2, s.Item3, s.Item4, s.Item5, from, to));
        return _dx;
    }

    /// <summary>Backward of channels [from, to) for [N, C, H, W] input, plane by plane: dβ = Σdy, dγ = Σdy·x̂,
    /// dx = (γ·invStd/m)·(m·dy − Σdy − x̂·Σ(dy·x̂)).</summary>
    private void BackwardPlanes(float[] dys, float[] xhat, float[] dx, int n, int from, int to)
    {
        int c = Channels, spatial = dys.Length / (n * c), m = n * spatial;
        float[] gamma = Gamma.Value.Data, dGamma = Gamma.Gradient.Data, dBeta = Beta.Gradient.Data;
        for (int ch = from; ch < to; ch++)
        {
            double sumDy = 0, sumDyXhat = 0;
            for (int b = 0; b < n; b++)
            {
                int o = (b * c + ch) * spatial;
                sumDy += TensorPrimitives.Sum(dys.AsSpan(o, spatial));
                sumDyXhat += TensorPrimitives.Dot(dys.AsSpan(o, spatial), xhat.AsSpan(o, spatial));
            }

            dBeta[ch] = (float)sumDy;
            dGamma[ch] = (float)sumDyXhat;
            if (!NeedsInputGradient)
            {
                continue;
            }

            float k = gamma[ch] * _invStd[ch] / m;
            float sDy = (float)sumDy, sDyX = (float)sumDyXhat;
            for (int b = 0; b < n; b++)
            {
                int o = (b * c + ch) * spatial;
                var d = dx.AsSpan(o, spatial);
                TensorPrimitives.Multiply(dys.AsSpan(o, spatial), (float)m, d);
                TensorPrimitives.Subtract(d, sDy, d);
                TensorPrimitives.MultiplyAdd(xhat.AsSpan(o, spatial), -sDyX, d, d);
                TensorPrimitives.Multiply(d, k, d);
            }
        }
    }

    /// <summary>ONNX (when not folded into the preceding Gemm): <c>BatchNormalization(x, γ, β, running mean, running
    /// variance)</c> in inference form, normalizing axis 1 as here. ONNX's <c>momentum</c> weighs the old running
    /// value, so it is written as 1 − <see cref="Momentum"/>; it only matters for training.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        string[] inputs =
        [
            g.AddInitializer("gamma", Gamma.Value.Span, Gamma.Value.Shape), g.AddInitializer("beta", Beta.Value.Span, Beta.Value.Shape),
            g.AddInitializer("running_mean", RunningMean.Span, RunningMean.Shape), g.AddInitializer("running_var", RunningVariance.Span, RunningVariance.Shape),
        ];
        g.Then("BatchNormalization", inputs, OnnxAttribute.Float("epsilon", Epsilon), OnnxAttribute.Float("momentum", 1f - Momentum));
    }

    /// <summary>
    /// Training forward for [N, C] input, row by row so every operation runs over contiguous features with SIMD:
    /// the mean, then the centred sum of squares (two passes, as in the strided path), both in float.
    /// </summary>
    private void ForwardTrainRows(ReadOnlySpan<float> xs, Span<float> ys, int n, int c)
    {
        EnsureRowScratch(c);
        Span<float> mean = _batchMean, invStd = _invStd, sq = _rowSum, row = _rowScratch;
        mean.Clear();
        for (int b = 0; b < n; b++)
        {
            TensorPrimitives.Add(mean, xs.Slice(b * c, c), mean);
        }

        TensorPrimitives.Multiply(mean, 1f / n, mean);
        sq.Clear();
        for (int b = 0; b < n; b++)
        {
            TensorPrimitives.Subtract(xs.Slice(b * c, c), mean, row);
            TensorPrimitives.MultiplyAdd(row, row, sq, sq);
        }

        var runMean = RunningMean.Span;
        var runVar = RunningVariance.Span;
        for (int ch = 0; ch < c; ch++)
        {
            invStd[ch] = 1f / MathF.Sqrt(sq[ch] / n + Epsilon);
            runMean[ch] = (1f - Momentum) * runMean[ch] + Momentum * mean[ch];
            runVar[ch] = (1f - Momentum) * runVar[ch] + Momentum * (sq[ch] / (n - 1));
        }

        var xhat = _xhat!.Span;
        var gamma = Gamma.Value.Span;
        var beta = Beta.Value.Span;
        for (int b = 0; b < n; b++)
        {
            var h = xhat.Slice(b * c, c);
            TensorPrimitives.Subtract(xs.Slice(b * c, c), mean, h);
            TensorPrimitives.Multiply(h, invStd, h);
            TensorPrimitives.MultiplyAdd(h, gamma, beta, ys.Slice(b * c, c));
            ApplyFused(ys.Slice(b * c, c));
        }
    }

    /// <summary>Backward for [N, C] input, row by row: dβ = Σdy, dγ = Σdy·x̂,
    /// dx = (γ·invStd/m)·(m·dy − Σdy − x̂·Σ(dy·x̂)).</summary>
    private void BackwardRows(ReadOnlySpan<float> dys, ReadOnlySpan<float> xhat, Span<float> dx, int n, int c)
    {
        EnsureRowScratch(c);
        Span<float> dBeta = Beta.Gradient.Span, dGamma = Gamma.Gradient.Span, k = _rowSum, row = _rowScratch;
        dBeta.Clear();
        dGamma.Clear();
        for (int b = 0; b < n; b++)
        {
            var dyRow = dys.Slice(b * c, c);
            TensorPrimitives.Add(dBeta, dyRow, dBeta);
            TensorPrimitives.MultiplyAdd(dyRow, xhat.Slice(b * c, c), dGamma, dGamma);
        }

        if (!NeedsInputGradient)
        {
            return;
        }

        TensorPrimitives.Multiply(Gamma.Value.Span, _invStd, k);
        TensorPrimitives.Multiply(k, 1f / n, k);
        for (int b = 0; b < n; b++)
        {
            // row = m·dy − Σdy − x̂·Σ(dy·x̂), then dx = k·row.
            var dxRow = dx.Slice(b * c, c);
            TensorPrimitives.Multiply(dys.Slice(b * c, c), (float)n, row);
            TensorPrimitives.Subtract(row, dBeta, row);
            TensorPrimitives.Multiply(xhat.Slice(b * c, c), dGamma, dxRow);
            TensorPrimitives.Subtract(row, dxRow, row);
            TensorPrimitives.Multiply(row, k, dxRow);
        }
    }

    private void EnsureRowScratch(int c)
    {
        if (_rowSum.Length != c)
        {
            _rowSum = new float[c];
            _rowScratch = new float[c];
        }
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new BatchNorm(Momentum, Epsilon);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 1 && inputShape.Length != 3)
        {
            throw new ArgumentException($"BatchNorm expects [features] or [channels, height, width], got {Tensor.FormatShape(inputShape)}.");
        }

        int c = inputShape[0];
        var gamma = new Tensor(c);
        gamma.Span.Fill(1f);
        _gamma = new Parameter("gamma", gamma, ParameterKind.Scale);
        _beta = new Parameter("beta", new Tensor(c), ParameterKind.Shift);
        _runningMean = new Tensor(c);
        var rv = new Tensor(c);
        rv.Span.Fill(1f);
        _runningVar = rv;
        return inputShape.ToArray();
    }
}
