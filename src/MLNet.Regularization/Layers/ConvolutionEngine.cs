using System.Numerics.Tensors;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// The im2col + GEMM machinery shared by <see cref="Conv2D"/> and <see cref="DropConnectConv2D"/>. Works on fixed
/// chunks of images (about 2^18 unrolled values each, a size that depends only on the layer's shapes) that run in
/// parallel. Forward unrolls a group of g images of a chunk into cols[K, g·P] (see <see cref="Im2Col"/>) and computes
/// Y[F, g·P] = W[F, K] · cols with the bias (and a fused ReLU) in the GEMM's epilogue, copied to the NCHW output
/// (written there directly when g is 1; see <see cref="GroupImages"/>); backward is, per chunk of m images,
/// dW = Σ_chunks dY[F, m·P] · colsᵀ (the chunk unrolled again; computed as its transpose when K &lt; F) and
/// dcols[K, m·P] = Wᵀ · dY, then col2im.
/// When the batch is a single chunk the GEMM itself gets the thread budget (its results do not depend on it either).
/// Chunk boundaries do not depend on the thread count and the per-chunk weight gradients are added in chunk
/// order, so results are bit-identical with 1 or many threads. The engine keeps no state: every buffer comes from
/// the forward context, so inference may run on several contexts at once.
/// </summary>
internal sealed class ConvolutionEngine(ConvGeometry geometry, int filters)
{
    private const int ChunkValues = 1 << 18;
    private const int SlotScaledWeight = 1001, SlotPartialWeight = 1002, SlotPartialBias = 1003;
    private const int SlotChunkColumns = 2000, SlotChunkOutput = 3000, SlotChunkInputGrad = 4000, SlotChunkWeightT = 5000, SlotGroupOutput = 6000;

    /// <summary>Most values of a forward GEMM's output over a group of images: 256 KB, so it is copied out of L2.</summary>
    private const int GroupOutputValues = 1 << 16;

    public ConvGeometry Geometry { get; } = geometry;

    public int Filters { get; } = filters;

    /// <summary>The most images in a chunk: fixed by the shapes, never by the thread count (a batch is cut into
    /// ⌈N / ChunkImages⌉ chunks of nearly equal size).</summary>
    public int ChunkImages => Math.Max(1, ChunkValues / (Geometry.OutPositions * Geometry.PatchSize));

    /// <summary>y = act(conv(x, alpha·W) + b) into <paramref name="y"/> [N, F, outH, outW], act being a ReLU when
    /// <paramref name="relu"/> (a fused activation) and the identity otherwise. The unrolled columns live only in
    /// per-thread scratch, chunk by chunk, while they are in cache; backward unrolls them again (cheaper than
    /// writing the whole batch's columns to memory and reading them back).</summary>
    public void Forward(Layer owner, Tensor x, float[] weight, float alpha, float[]? bias, Tensor y, ForwardContext ctx, bool relu = false)
    {
        var g = Geometry;
        int n = x.BatchSize, p = g.OutPositions, k = g.PatchSize, f = Filters;
        int chunkImages = ChunkImages, chunks = (n + chunkImages - 1) / chunkImages, parts = Math.Min(ctx.Threads, chunks);
        int gemmThreads = parts == 1 ? ctx.Threads : 1;

        // Decided here, on the calling thread, whose GEMM path (a test may force one) the parts' GEMMs take too.
        int groupImages = GroupImages;

        // alpha·W formed element by element (as the expected weights that inference folding and export use).
        float[] w = weight;
        if (alpha != 1f)
        {
            w = ctx.Buffer(owner, SlotScaledWeight, [f, k]).Data;
            TensorPrimitives.Multiply(weight, alpha, w);
        }

        for (int part = 0; part < parts; part++)
        {
            // Created here, only looked up by the parts (the context's buffer table is not thread-safe to grow).
            ChunkScratch(owner, ctx, part, chunkImages * p * k);
            GroupOutput(owner, ctx, part, groupImages);
        }

        var plan = new Plan(this, owner, ctx, n, chunks, parts, gemmThreads, groupImages);
        StaticParallel.For(parts, ctx.Threads, (plan, x.Data, y.Data, w, bias, relu), static (s, from, to) =>
        {
            var (plan, xs, ys, w, bias, relu) = s;
            var g = plan.Engine.Geometry;
            int p = g.OutPositions, k = g.PatchSize, f = plan.Engine.Filters;
            for (int part = from; part < to; part++)
            {
                float[] scratch = ChunkScratch(plan.Owner, plan.Context, part, plan.ChunkImages * p * k);
                float[] output = plan.Engine.GroupOutput(plan.Owner, plan.Context, part, plan.GroupImages);
                for (int chunk = plan.FirstChunk(part); chunk < plan.FirstChunk(part + 1); chunk++)
                {
                    (int i0, int i1) = plan.Images(chunk);
                    ForwardChunk(plan.GroupImages, g, f, xs, ys, scratch.AsSpan(0, (i1 - i0) * p * k), output, w, bias, relu, i0, i1, plan.GemmThreads);
                }
            }
        });
    }

    /// <summary>
    /// The most images whose outputs one forward GEMM computes together: one when an image's P columns fill the
    /// GEMM's micro-tiles but for at most 1/32 of them (then the copy to NCHW would cost more than the tiles waste),
    /// else as many of a chunk as fit <see cref="GroupOutputValues"/>. Grouping never changes a value, only which
    /// product computes it, so it may depend on the kernel path.
    /// </summary>
    public int GroupImages
    {
        get
        {
            int p = Geometry.OutPositions, nr = Gemm.ColumnTile;
            int wasted = (p + nr - 1) / nr * nr - p;
            return wasted * 32 <= p ? 1 : Math.Clamp(GroupOutputValues / (Filters * p), 1, ChunkImages);
        }
    }

    /// <summary>A part's group output Y[F, g·P] (none when a group is one image, whose GEMM writes its NCHW output
    /// directly).</summary>
    private float[] GroupOutput(Layer owner, ForwardContext ctx, int part, int groupImages) =>
        groupImages == 1 ? [] : ctx.Buffer(owner, SlotGroupOutput + part, [Filters * groupImages * Geometry.OutPositions]).Data;

    /// <summary>What every part of a parallel forward or backward pass shares.</summary>
    private readonly record struct Plan(ConvolutionEngine Engine, Layer Owner, ForwardContext Context, int Batch, int Chunks, int Parts, int GemmThreads, int GroupImages = 1)
    {
        public int ChunkImages => Engine.ChunkImages;

        /// <summary>The first chunk of <paramref name="part"/> (chunks are split evenly over the parts).</summary>
        public int FirstChunk(int part) => Chunks * part / Parts;

        /// <summary>The images [i0, i1) of <paramref name="chunk"/>: the batch split evenly over the chunks (sizes
        /// differ by at most one, none above <see cref="ChunkImages"/>), so the parts get similar work.</summary>
        public (int I0, int I1) Images(int chunk) => ((int)((long)Batch * chunk / Chunks), (int)((long)Batch * (chunk + 1) / Chunks));
    }

    /// <summary>A part's unrolled-columns scratch of <paramref name="length"/> values.</summary>
    private static float[] ChunkScratch(Layer owner, ForwardContext ctx, int part, int length) =>
        ctx.Buffer(owner, SlotChunkColumns + part, [length]).Data;

    /// <summary>A part's column-gradient scratch of <paramref name="length"/> values (none when 0).</summary>
    private static float[] ChunkInputGradient(Layer owner, ForwardContext ctx, int part, int length) =>
        length == 0 ? [] : ctx.Buffer(owner, SlotChunkInputGrad + part, [length]).Data;

    private static void ForwardChunk(int groupImages, in ConvGeometry g, int f, float[] xs, float[] ys, Span<float> cols, float[] output, float[] w, float[]? bias, bool relu, int i0, int i1, int threads)
    {
        // Bias per output plane and a fused ReLU in the GEMM's epilogue. The chunk is unrolled and multiplied a
        // group of images at a time (the group's columns stay in cache between the two): one GEMM per group (an
        // image's P columns rarely fill whole micro-tiles, a group's mostly do, and the weights are packed once
        // per group), then each image's planes copied to NCHW; a group of one image writes its NCHW output in
        // place. Every element is computed exactly as by a GEMM per image.
        int p = g.OutPositions, k = g.PatchSize;
        var activation = relu ? GemmActivation.ReLU : GemmActivation.None;
        for (int first = i0; first < i1; first += groupImages)
        {
            int images = Math.Min(groupImages, i1 - first), width = images * p;
            for (int i = 0; i < images; i++)
            {
                Im2Col.Unroll(g, xs, first + i, cols, width, i * p);
            }

            if (images == 1)
            {
                Gemm.MultiplyAddRowBias(false, false, f, p, k, w, k, cols, p, bias, activation, ys.AsSpan(first * f * p, f * p), p, threads);
                continue;
            }

            Span<float> y = output.AsSpan(0, f * width);
            Gemm.MultiplyAddRowBias(false, false, f, width, k, w, k, cols, width, bias, activation, y, width, threads);
            for (int i = 0; i < images; i++)
            {
                for (int o = 0; o < f; o++)
                {
                    y.Slice(o * width + i * p, p).CopyTo(ys.AsSpan(((first + i) * f + o) * p, p));
                }
            }
        }
    }

    /// <summary>Given dy [N, F, outH, outW] and forward's input <paramref name="x"/>, writes dW (overwriting) and db
    /// (overwriting, when not null) and, when <paramref name="dx"/> is not null, dx = col2im(Wᵀ · dY).</summary>
    public void Backward(Layer owner, Tensor dy, Tensor x, float[] weight, float[] dWeight, float[]? dBias, Tensor? dx, ForwardContext ctx)
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
            ctx.Buffer(owner, SlotChunkOutput + part, [f, chunkImages * p]);
            ChunkScratch(owner, ctx, part, chunkImages * p * k);
            ChunkInputGradient(owner, ctx, part, dx is null ? 0 : chunkImages * p * k);
            ChunkWeightTranspose(owner, ctx, part, k, f);
        }

        var plan = new Plan(this, owner, ctx, n, chunks, parts, gemmThreads);
        StaticParallel.For(parts, ctx.Threads, (plan, dy.Data, x.Data, weight, partialW, partialB, dx?.Data), static (s, from, to) =>
        {
            var (plan, dys, xs, weight, partialW, partialB, dxs) = s;
            var g = plan.Engine.Geometry;
            int p = g.OutPositions, k = g.PatchSize, f = plan.Engine.Filters;
            for (int part = from; part < to; part++)
            {
                float[] grad = plan.Context.Buffer(plan.Owner, SlotChunkOutput + part, [f, plan.ChunkImages * p]).Data;
                float[] cols = ChunkScratch(plan.Owner, plan.Context, part, plan.ChunkImages * p * k);
                float[] inputGrad = ChunkInputGradient(plan.Owner, plan.Context, part, dxs is null ? 0 : plan.ChunkImages * p * k);
                float[] weightT = ChunkWeightTranspose(plan.Owner, plan.Context, part, k, f);
                for (int chunk = plan.FirstChunk(part); chunk < plan.FirstChunk(part + 1); chunk++)
                {
                    (int i0, int i1) = plan.Images(chunk);
                    BackwardChunk(g, f, dys, xs, cols, weight, grad, inputGrad, weightT, partialW.AsSpan(chunk * f * k, f * k), partialB.AsSpan(chunk * f, f), dxs, i0, i1, plan.GemmThreads);
                }
            }
        });

        // Per-chunk partial sums added in chunk order: the same result for every thread count.
        partialW.AsSpan(0, f * k).CopyTo(dWeight);
        for (int chunk = 1; chunk < chunks; chunk++)
        {
            TensorPrimitives.Add(dWeight, partialW.AsSpan(chunk * f * k, f * k), dWeight);
        }

        if (dBias is not null)
        {
            partialB.AsSpan(0, f).CopyTo(dBias);
            for (int chunk = 1; chunk < chunks; chunk++)
            {
                TensorPrimitives.Add(dBias, partialB.AsSpan(chunk * f, f), dBias);
            }
        }
    }

    /// <summary>A part's scratch for dWᵀ [K, F] when K &lt; F (empty otherwise).</summary>
    private static float[] ChunkWeightTranspose(Layer owner, ForwardContext ctx, int part, int k, int f) =>
        k < f ? ctx.Buffer(owner, SlotChunkWeightT + part, [k * f]).Data : [];

    private static void BackwardChunk(in ConvGeometry g, int f, float[] dys, float[] xs, float[] cols, float[] weight, float[] dyc, float[] dcols, float[] weightT, Span<float> partialW, Span<float> partialB, float[]? dxs, int i0, int i1, int threads)
    {
        int p = g.OutPositions, k = g.PatchSize, q = (i1 - i0) * p;

        // NCHW → dY[F, m·P], a contiguous plane at a time.
        for (int i = i0; i < i1; i++)
        {
            for (int o = 0; o < f; o++)
            {
                dys.AsSpan((i * f + o) * p, p).CopyTo(dyc.AsSpan(o * q + (i - i0) * p, p));
            }
        }

        var chunkCols = cols.AsSpan(0, q * k);
        for (int i = i0; i < i1; i++)
        {
            Im2Col.Unroll(g, xs, i, chunkCols, q, (i - i0) * p);
        }

        if (k < f)
        {
            // Few values per patch (a first layer on one or three channels): dWᵀ[K, F] = cols · dYᵀ fills the
            // micro-tiles' columns with the F filters instead of the K patch values (a 16-column tile would carry
            // 9 of them), then is transposed. Each element is the same sum of the same products in the same order.
            Gemm.Multiply(false, true, k, f, q, 1f, chunkCols, q, dyc, q, 0f, weightT, f, threads);
            for (int o = 0; o < f; o++)
            {
                for (int j = 0; j < k; j++)
                {
                    partialW[o * k + j] = weightT[j * f + o];
                }
            }
        }
        else
        {
            Gemm.Multiply(false, true, f, k, q, 1f, dyc, q, chunkCols, q, 0f, partialW, k, threads);
        }

        for (int o = 0; o < f; o++)
        {
            partialB[o] = TensorPrimitives.Sum(dyc.AsSpan(o * q, q));
        }

        if (dxs is not null)
        {
            Gemm.Multiply(true, false, k, q, f, 1f, weight, k, dyc, q, 0f, dcols, q, threads);
            dxs.AsSpan(i0 * g.ImageSize, (i1 - i0) * g.ImageSize).Clear();
            for (int i = i0; i < i1; i++)
            {
                Im2Col.Fold(g, dcols.AsSpan(0, q * k), q, (i - i0) * p, dxs, i);
            }
        }
    }
}
