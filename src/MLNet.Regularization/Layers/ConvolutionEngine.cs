using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// The im2col + GEMM machinery shared by <see cref="Conv2D"/> and <see cref="DropConnectConv2D"/>. Works on fixed
/// chunks of images (about 2^18 unrolled values each, a size that depends only on the layer's shapes) that run in
/// parallel, one GEMM per chunk:
/// forward Yᵀ[rows, F] = cols[rows, K] · Wᵀ[K, F]; backward dW = Σ_chunks (dYᵀ)ᵀ · cols and dcols = dYᵀ · W, then col2im.
/// When the batch is a single chunk the GEMM itself gets the thread budget (its results do not depend on it either).
/// Chunk boundaries do not depend on the thread count and the per-chunk weight gradients are added in chunk
/// order, so results are bit-identical with 1 or many threads. The engine keeps no state: every buffer comes from
/// the forward context, so inference may run on several contexts at once.
/// </summary>
internal sealed class ConvolutionEngine(ConvGeometry geometry, int filters)
{
    private const int ChunkValues = 1 << 18;
    private const int SlotColumns = 1000, SlotTransposedWeight = 1001, SlotPartialWeight = 1002, SlotPartialBias = 1003;
    private const int SlotChunkColumns = 2000, SlotChunkOutput = 3000, SlotChunkInputGrad = 4000;

    public ConvGeometry Geometry { get; } = geometry;

    public int Filters { get; } = filters;

    /// <summary>Images per chunk: fixed by the shapes, never by the thread count.</summary>
    public int ChunkImages => Math.Max(1, ChunkValues / (Geometry.OutPositions * Geometry.PatchSize));

    /// <summary>y = conv(x, alpha·W) + b into <paramref name="y"/> [N, F, outH, outW]. When
    /// <paramref name="keepColumns"/> the unrolled batch [N·P, K] is kept in a context buffer and returned for the
    /// backward pass; otherwise only per-thread scratch is used.</summary>
    public Tensor? Forward(Layer owner, Tensor x, float[] weight, float alpha, float[]? bias, Tensor y, ForwardContext ctx, bool keepColumns, bool relu = false)
    {
        var g = Geometry;
        int n = x.BatchSize, p = g.OutPositions, k = g.PatchSize, f = Filters;
        int chunkImages = ChunkImages, chunks = (n + chunkImages - 1) / chunkImages, parts = Math.Min(ctx.Threads, chunks);
        int gemmThreads = parts == 1 ? ctx.Threads : 1;

        var wt = ctx.Buffer(owner, SlotTransposedWeight, [k, f]).Data;
        for (int o = 0; o < f; o++)
        {
            for (int t = 0; t < k; t++)
            {
                wt[t * f + o] = alpha * weight[o * k + t];
            }
        }

        var columns = keepColumns ? ctx.Buffer(owner, SlotColumns, [n * p, k]) : null;
        for (int part = 0; part < parts; part++)
        {
            // Created here, only looked up by the parts (the context's buffer table is not thread-safe to grow).
            ChunkScratch(owner, ctx, part, keepColumns ? 0 : chunkImages * p * k);
            ctx.Buffer(owner, SlotChunkOutput + part, [chunkImages * p, f]);
        }

        var plan = new Plan(this, owner, ctx, n, chunks, parts, gemmThreads);
        StaticParallel.For(parts, ctx.Threads, (plan, x.Data, y.Data, columns?.Data, wt, bias, relu), static (s, from, to) =>
        {
            var (plan, xs, ys, columns, wt, bias, relu) = s;
            var g = plan.Engine.Geometry;
            int p = g.OutPositions, k = g.PatchSize, f = plan.Engine.Filters;
            for (int part = from; part < to; part++)
            {
                float[] scratch = ChunkScratch(plan.Owner, plan.Context, part, columns is null ? plan.ChunkImages * p * k : 0);
                float[] output = plan.Context.Buffer(plan.Owner, SlotChunkOutput + part, [plan.ChunkImages * p, f]).Data;
                for (int chunk = plan.FirstChunk(part); chunk < plan.FirstChunk(part + 1); chunk++)
                {
                    (int i0, int i1) = plan.Images(chunk);
                    var cols = columns is not null ? columns.AsSpan(i0 * p * k, (i1 - i0) * p * k) : scratch.AsSpan(0, (i1 - i0) * p * k);
                    ForwardChunk(g, f, xs, ys, cols, wt, output, bias, relu, i0, i1, plan.GemmThreads);
                }
            }
        });

        return columns;
    }

    /// <summary>What every part of a parallel forward or backward pass shares.</summary>
    private readonly record struct Plan(ConvolutionEngine Engine, Layer Owner, ForwardContext Context, int Batch, int Chunks, int Parts, int GemmThreads)
    {
        public int ChunkImages => Engine.ChunkImages;

        /// <summary>The first chunk of <paramref name="part"/> (chunks are split evenly over the parts).</summary>
        public int FirstChunk(int part) => Chunks * part / Parts;

        /// <summary>The images [i0, i1) of <paramref name="chunk"/>.</summary>
        public (int I0, int I1) Images(int chunk)
        {
            int i0 = chunk * ChunkImages;
            return (i0, Math.Min(Batch, i0 + ChunkImages));
        }
    }

    /// <summary>A part's unrolled-columns scratch of <paramref name="length"/> values (none when 0).</summary>
    private static float[] ChunkScratch(Layer owner, ForwardContext ctx, int part, int length) =>
        length == 0 ? [] : ctx.Buffer(owner, SlotChunkColumns + part, [length]).Data;

    /// <summary>A part's column-gradient scratch of <paramref name="length"/> values (none when 0).</summary>
    private static float[] ChunkInputGradient(Layer owner, ForwardContext ctx, int part, int length) =>
        length == 0 ? [] : ctx.Buffer(owner, SlotChunkInputGrad + part, [length]).Data;

    private static void ForwardChunk(in ConvGeometry g, int f, float[] xs, float[] ys, Span<float> cols, float[] wt, float[] yt, float[]? bias, bool relu, int i0, int i1, int threads)
    {
        int p = g.OutPositions, k = g.PatchSize, rows = (i1 - i0) * p;
        for (int i = i0; i < i1; i++)
        {
            Im2Col.Unroll(g, xs, i, cols.Slice((i - i0) * p * k, p * k));
        }

        Gemm.Multiply(false, false, rows, f, k, 1f, cols, k, wt, f, 0f, yt, f, threads);

        // [rows, F] → NCHW, adding the bias on the way (and applying a fused ReLU: MathF.Max(v, 0) is what
        // the ReLU layer's TensorPrimitives.Max computes, NaN and −0 included).
        for (int i = i0; i < i1; i++)
        {
            int r0 = (i - i0) * p;
            for (int o = 0; o < f; o++)
            {
                float b = bias is null ? 0f : bias[o];
                var dst = ys.AsSpan((i * f + o) * p, p);
                var src = yt.AsSpan(r0 * f + o);
                if (relu)
                {
                    for (int q = 0, t = 0; q < dst.Length; q++, t += f)
                    {
                        dst[q] = MathF.Max(src[t] + b, 0f);
                    }
                }
                else
                {
                    for (int q = 0, t = 0; q < dst.Length; q++, t += f)
                    {
                        dst[q] = src[t] + b;
                    }
                }
            }
        }
    }

    /// <summary>Given dy [N, F, outH, outW] and the columns kept by forward, writes dW (overwriting) and db
    /// (overwriting, when not null) and, when <paramref name="dx"/> is not null, dx = col2im(dYᵀ · W).</summary>
    public void Backward(Layer owner, Tensor dy, Tensor columns, float[] weight, float[] dWeight, float[]? dBias, Tensor? dx, ForwardContext ctx)
    {
        var g = Geometry;
        int n = dy.BatchSize, p = g.OutPositions, k = g.PatchSize, f = Filters;
        int chunkImages = ChunkImages, chunks = (n + chunkImages - 1) / chunkImages, parts = Math.Min(ctx.Threads, chunks);
        int gemmThreads = parts == 1 ? ctx.Threads : 1;
        var partialW = ctx.Buffer(owner, SlotPartialWeight, [chunks, f * k]).Data;
        var partialB = ctx.Buffer(owner, SlotPartialBias, [chunks, f]).Data;
        for (int part = 0; part < parts; part++)
        {
            // Created here, only looked up by the parts (the context's buffer table is not thread-safe to grow).
            ctx.Buffer(owner, SlotChunkOutput + part, [chunkImages * p, f]);
            ChunkInputGradient(owner, ctx, part, dx is null ? 0 : chunkImages * p * k);
        }

        var plan = new Plan(this, owner, ctx, n, chunks, parts, gemmThreads);
        StaticParallel.For(parts, ctx.Threads, (plan, dy.Data, columns.Data, weight, partialW, partialB, dx?.Data), static (s, from, to) =>
        {
            var (plan, dys, cols, weight, partialW, partialB, dxs) = s;
            var g = plan.Engine.Geometry;
            int p = g.OutPositions, k = g.PatchSize, f = plan.Engine.Filters;
            for (int part = from; part < to; part++)
            {
                float[] grad = plan.Context.Buffer(plan.Owner, SlotChunkOutput + part, [plan.ChunkImages * p, f]).Data;
                float[] inputGrad = ChunkInputGradient(plan.Owner, plan.Context, part, dxs is null ? 0 : plan.ChunkImages * p * k);
                for (int chunk = plan.FirstChunk(part); chunk < plan.FirstChunk(part + 1); chunk++)
                {
                    (int i0, int i1) = plan.Images(chunk);
                    BackwardChunk(g, f, dys, cols, weight, grad, inputGrad, partialW.AsSpan(chunk * f * k, f * k), partialB.AsSpan(chunk * f, f), dxs, i0, i1, plan.GemmThreads);
                }
            }
        });

        // Per-chunk partial sums added in chunk order: the same result for every thread count.
        partialW.AsSpan(0, f * k).CopyTo(dWeight);
        for (int chunk = 1; chunk < chunks; chunk++)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(dWeight, partialW.AsSpan(chunk * f * k, f * k), dWeight);
        }

        if (dBias is not null)
        {
            partialB.AsSpan(0, f).CopyTo(dBias);
            for (int chunk = 1; chunk < chunks; chunk++)
            {
                System.Numerics.Tensors.TensorPrimitives.Add(dBias, partialB.AsSpan(chunk * f, f), dBias);
            }
        }
    }

    private static void BackwardChunk(in ConvGeometry g, int f, float[] dys, float[] cols, float[] weight, float[] dyt, float[] dcols, Span<float> partialW, Span<float> partialB, float[]? dxs, int i0, int i1, int threads)
    {
        int p = g.OutPositions, k = g.PatchSize, rows = (i1 - i0) * p;

        // NCHW → [rows, F].
        for (int i = i0; i < i1; i++)
        {
            int r0 = (i - i0) * p;
            for (int o = 0; o < f; o++)
            {
                var src = dys.AsSpan((i * f + o) * p, p);
                var dst = dyt.AsSpan(r0 * f + o);
                for (int q = 0, t = 0; q < src.Length; q++, t += f)
                {
                    dst[t] = src[q];
                }
            }
        }

        var chunkCols = cols.AsSpan(i0 * p * k, rows * k);
        Gemm.Multiply(true, false, f, k, rows, 1f, dyt, f, chunkCols, k, 0f, partialW, k, threads);
        partialB.Clear();
        for (int r = 0; r < rows; r++)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(partialB, dyt.AsSpan(r * f, f), partialB);
        }

        if (dxs is not null)
        {
            Gemm.Multiply(false, false, rows, k, f, 1f, dyt, f, weight, k, 0f, dcols, k, threads);
            dxs.AsSpan(i0 * g.ImageSize, (i1 - i0) * g.ImageSize).Clear();
            for (int i = i0; i < i1; i++)
            {
                Im2Col.Fold(g, dcols.AsSpan((i - i0) * p * k, p * k), dxs, i);
            }
        }
    }
}
