using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// DropBlock (Ghiasi, Lin &amp; Le, 2018, "DropBlock: a regularization method for convolutional networks"): drops
/// contiguous block_size × block_size squares of a feature map instead of single units, since neighbouring
/// activations carry the same information. Training (the paper's Algorithm 1): block seeds
/// M'[n, c, i, j] ~ Bernoulli(γ) at every position whose block lies fully inside the map, every unit of a seeded
/// block is zeroed (overlapping blocks merge), and the result is renormalized, y = x ⊙ M · count(M) / count_ones(M)
/// (counted over the whole batch). The seed rate
/// γ = rate / block² · (H·W) / ((H − block + 1)(W − block + 1)) makes about <see cref="Rate"/> of the units drop
/// (exactly so when blocks do not overlap). A block larger than the map is clipped to the map's side.
/// Masks are drawn per example and channel, or shared by all channels of an example. Inference is the identity;
/// Monte Carlo mode drops as in training and keeps nothing. Backward: dx = dy ⊙ M · count(M) / count_ones(M).
/// The paper's linearly increasing schedule for the rate is not built in: use one rate per run.
/// </summary>
public sealed class DropBlock : Layer
{
    private Tensor? _mask;
    private float _scale;
    private Tensor? _dx;

    /// <summary>Creates DropBlock.</summary>
    /// <param name="rate">Target fraction of units dropped (1 − keep_prob), in [0, 1).</param>
    /// <param name="blockSize">Side of each dropped square (the paper used 7 on ImageNet's ResNet-50; 3 suits 14×14 maps).</param>
    /// <param name="shareMaskAcrossChannels">One mask per example for all channels instead of one per channel (default false).</param>
    public DropBlock(float rate, int blockSize = 3, bool shareMaskAcrossChannels = false)
    {
        Rate = Dropout.CheckRate(rate, nameof(rate));
        if (blockSize <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "DropBlock block size must be positive.");
        }

        BlockSize = blockSize;
        ShareMaskAcrossChannels = shareMaskAcrossChannels;
    }

    /// <summary>Target fraction of dropped units.</summary>
    public float Rate { get; }

    /// <summary>Side of each dropped square.</summary>
    public int BlockSize { get; }

    /// <summary>Whether all channels of an example share one mask.</summary>
    public bool ShareMaskAcrossChannels { get; }

    /// <summary>The seed probability γ for the built input shape.</summary>
    public float Gamma
    {
        get
        {
            var (bh, bw) = Block;
            int h = InputShape[1], w = InputShape[2];
            double gamma = Rate / ((double)bh * bw) * ((double)h * w) / ((double)(h - bh + 1) * (w - bw + 1));
            return (float)Math.Min(1.0, gamma);
        }
    }

    /// <inheritdoc />
    public override bool IsStochastic => Rate > 0f;

    private (int Height, int Width) Block => (Math.Min(BlockSize, InputShape[1]), Math.Min(BlockSize, InputShape[2]));

    /// <inheritdoc />
    public override string Describe() =>
        FormattableString.Invariant($"rate={Rate}, block={BlockSize}") + (ShareMaskAcrossChannels ? ", shared across channels" : "");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        if (!ctx.IsStochastic || Rate == 0f)
        {
            if (ctx.IsTraining)
            {
                _mask = null;
            }

            return x;
        }

        int n = x.BatchSize, c = InputShape[0], h = InputShape[1], w = InputShape[2], hw = h * w;
        int maskPlanes = ShareMaskAcrossChannels ? n : n * c;
        var mask = ctx.Buffer(this, 1, [maskPlanes, h, w]);
        long ones = DrawMask(mask.Data, maskPlanes, ctx.Rng, ctx.Threads);
        float scale = ones == 0 ? 0f : (float)((double)mask.Length / ones);
        var y = ctx.Buffer(this, 0, x.Shape);
        Apply(x.Data, mask.Data, scale, y.Data, n, c, hw);
        if (ctx.IsTraining)
        {
            _mask = mask;
            _scale = scale;
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        if (_mask is null)
        {
            return dy;
        }

        _dx = Tensor.Reuse(_dx, dy.Shape);
        Apply(dy.Data, _mask.Data, _scale, _dx.Data, dy.BatchSize, InputShape[0], InputShape[1] * InputShape[2]);
        return _dx;
    }

    /// <summary>ONNX: nothing, as the layer is the identity at inference; a Monte Carlo export of it is refused.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx) => ConvOnnx.TrainingOnly(this, ctx);

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new DropBlock(Rate, BlockSize, ShareMaskAcrossChannels);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 3)
        {
            throw new ArgumentException($"DropBlock expects feature maps [channels, height, width], got {Tensor.FormatShape(inputShape)}.");
        }

        return inputShape.ToArray();
    }

    /// <summary>Fills mask planes with 1 and 0 inside seeded blocks; returns the number of ones. Plane m draws its
    /// seeds at counters start + m·seeds + (i·seedWidth + j), so planes can be filled in parallel.</summary>
    private long DrawMask(float[] mask, int planes, Rng rng, int threads)
    {
        int h = InputShape[1], w = InputShape[2];
        var (bh, bw) = Block;
        int seedRows = h - bh + 1, seedCols = w - bw + 1, seeds = seedRows * seedCols;
        ulong start = rng.Reserve(checked(planes * seeds));
        uint threshold = Rng.BernoulliThreshold(Gamma);
        var onesPerPlane = new int[planes];
        StaticParallel.For(planes, threads, (mask, onesPerPlane, rng, start, threshold, h, w, bh, bw), static (s, from, to) =>
            SeedPlanes(s.mask, s.onesPerPlane, s.rng, s.start, s.threshold, s.h, s.w, s.bh, s.bw, from, to));

        long total = 0;
        foreach (int o in onesPerPlane)
        {
            total += o;
        }

        return total;
    }

    private void Apply(float[] x, float[] mask, float scale, float[] y, int n, int c, int hw)
    {
        for (int i = 0; i < n; i++)
        {
            for (int ch = 0; ch < c; ch++)
            {
                int plane = ShareMaskAcrossChannels ? i : i * c + ch;
                var src = x.AsSpan((i * c + ch) * hw, hw);
                var m = mask.AsSpan(plane * hw, hw);
                var dst = y.AsSpan((i * c + ch) * hw, hw);
                for (int p = 0; p < hw; p++)
                {
                    dst[p] = src[p] * m[p] * scale;
                }
            }
        }
    }

    private static void SeedPlanes(float[] mask, int[] onesPerPlane, Rng rng, ulong start, uint threshold, int h, int w, int bh, int bw, int from, int to)
    {
        int hw = h * w, seedRows = h - bh + 1, seedCols = w - bw + 1, seeds = seedRows * seedCols;
        for (int m = from; m < to; m++)
        {
            var plane = mask.AsSpan(m * hw, hw);
            plane.Fill(1f);
            ulong c0 = start + (ulong)m * (ulong)seeds;
            for (int i = 0; i < seedRows; i++)
            {
                for (int j = 0; j < seedCols; j++)
                {
                    if (rng.Fires(c0 + (ulong)(i * seedCols + j), threshold))
                    {
                        for (int r = i; r < i + bh; r++)
                        {
                            plane.Slice(r * w + j, bw).Clear();
                        }
                    }
                }
            }

            int ones = 0;
            foreach (float v in plane)
            {
                ones += v != 0f ? 1 : 0;
            }

            onesPerPlane[m] = ones;
        }
    }
}
