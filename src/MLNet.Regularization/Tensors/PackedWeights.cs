using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MLNet.Regularization.Tensors;

/// <summary>
/// A weight matrix W [n, k] (a Dense layer's [units, inputs]) packed once for inference, so that a product with a
/// few rows, <c>C = act(X · Wᵀ + bias)</c>, streams W straight from memory: matrix-vector products (GEMV) instead of
/// a GEMM that would pack all of W again for every call. This is what makes scoring one row at a time cheap.
/// </summary>
/// <remarks>
/// <para>
/// W is stored in panels of <see cref="PanelWidth"/> outputs, k-major inside a panel
/// (<c>panel[t][p·64 + j] = W[t·64 + j, p]</c>, zero past n), so each k step of a row reads 256 contiguous bytes
/// and keeps 64 independent accumulators (4 zmm, 8 ymm or 16 xmm) busy: the lanes run along the outputs, never
/// along k.
/// </para>
/// <para>
/// That is why the result is bit-identical to <see cref="Gemm.MultiplyAddBias"/> on the same FMA path: each output
/// is summed over k in <see cref="Gemm"/>'s k blocks, one fused multiply-add per step in order, and the blocks are
/// added in order, exactly as the micro-kernels do. The scalar path (no FMA) goes through the GEMM itself. Threads
/// split whole panels, so the thread count does not change a bit either.
/// </para>
/// </remarks>
internal sealed unsafe class PackedWeights
{
    /// <summary>Outputs per panel: 64 floats, a whole number of vectors on every path.</summary>
    public const int PanelWidth = 64;

    /// <summary>Products with more rows than this go to the GEMM: from there on packing pays for itself.</summary>
    public const int MaxRows = 4;

    /// <summary>Below this many weights a second thread costs more to wake than it saves.</summary>
    private const long ParallelWeightThreshold = 1L << 17;

    [ThreadStatic]
    private static GemvWork? t_work;

    private readonly float[] _storage;
    private readonly float* _panels;
    private readonly float[] _weights;

    /// <summary>Packs <paramref name="weights"/> (n rows of k values, row-major). The original array is kept for the
    /// scalar path, so neither may be changed afterwards.</summary>
    public PackedWeights(float[] weights, int n, int k)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (n <= 0 || k <= 0 || weights.Length != (long)n * k)
        {
            throw new ArgumentException($"PackedWeights: {weights.Length} weights for {n}x{k}.", nameof(weights));
        }

        N = n;
        K = k;
        _weights = weights;
        Panels = (n + PanelWidth - 1) / PanelWidth;
        long floats = (long)Panels * PanelWidth * k;
        _storage = GC.AllocateUninitializedArray<float>(checked((int)(floats + 16)), pinned: true);
        float* start = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
        _panels = (float*)(((nuint)start + 63) & ~(nuint)63);
        for (int t = 0; t < Panels; t++)
        {
            float* panel = _panels + (nint)t * PanelWidth * k;
            int valid = Math.Min(PanelWidth, n - t * PanelWidth);
            for (int p = 0; p < k; p++)
            {
                float* d = panel + (nint)p * PanelWidth;
                for (int j = 0; j < valid; j++)
                {
                    d[j] = weights[(long)(t * PanelWidth + j) * k + p];
                }

                for (int j = valid; j < PanelWidth; j++)
                {
                    d[j] = 0f;
                }
            }
        }
    }

    /// <summary>Outputs (rows of W).</summary>
    public int N { get; }

    /// <summary>Inputs (columns of W).</summary>
    public int K { get; }

    private int Panels { get; }

    /// <summary>
    /// <c>C[m×n] = act(X[m×k] · Wᵀ + bias)</c> for m ≤ <see cref="MaxRows"/>, on the calling thread's GEMM path. The
    /// caller (a layer that built these weights for its own input width) guarantees the sizes; they are asserted in
    /// debug builds only, the hot path checks nothing.
    /// </summary>
    public void Multiply(int m, ReadOnlySpan<float> x, int ldx, ReadOnlySpan<float> bias, GemmActivation activation, Span<float> c, int ldc, int threads)
    {
        System.Diagnostics.Debug.Assert(m is >= 1 and <= MaxRows && x.Length >= (m - 1) * ldx + K && c.Length >= (m - 1) * ldc + N);
        GemmPath path = Gemm.ActivePath;
        if (path == GemmPath.Scalar)
        {
            Gemm.MultiplyAddBias(false, true, m, N, K, x, ldx, _weights, K, bias, activation, c, ldc, threads);
            return;
        }

        fixed (float* px = x, pc = c)
        {
            var job = new Job { Path = path, M = m, X = px, Ldx = ldx, C = pc, Ldc = ldc };
            int parts = threads > 1 && (long)N * K >= ParallelWeightThreshold ? Math.Min(threads, Panels) : 1;
            if (parts > 1)
            {
                var work = t_work ?? new GemvWork();
                t_work = null;
                work.Owner = this;
                work.Job = job;
                try
                {
                    WorkerPool.Run(work, parts);
                }
                finally
                {
                    work.Owner = null;
                    t_work = work;
                }
            }
            else
            {
                RunPanels(in job, 0, Panels);
            }
        }

        // Bias and activation: the same element-wise passes as the GEMM's epilogue.
        for (int i = 0; i < m; i++)
        {
            Span<float> row = c.Slice(i * ldc, N);
            if (!bias.IsEmpty)
            {
                TensorPrimitives.Add(row, bias, row);
            }

            if (activation == GemmActivation.ReLU)
            {
                TensorPrimitives.Max(row, 0f, row);
            }
        }
    }

    private void RunPanels(in Job job, int first, int last)
    {
        float* sums = stackalloc float[PanelWidth];
        int kBlocks = (K + Gemm.FmaKBlock - 1) / Gemm.FmaKBlock;
        for (int t = first; t < last; t++)
        {
            float* panel = _panels + (nint)t * PanelWidth * K;
            int valid = Math.Min(PanelWidth, N - t * PanelWidth);
            for (int i = 0; i < job.M; i++)
            {
                float* x = job.X + (nint)i * job.Ldx;
                int pc = 0;
                for (int kb = 0; kb < kBlocks; kb++)
                {
                    // The GEMM's k blocks: the same boundaries, each summed from zero, then added in order.
                    int kc = (int)((long)K * (kb + 1) / kBlocks) - pc;
                    float* w = panel + (nint)pc * PanelWidth;
                    switch (job.Path)
                    {
                        case GemmPath.Vector512:
                            Block512(x + pc, w, kc, sums, kb == 0);
                            break;
                        case GemmPath.Vector256:
                            Block256(x + pc, w, kc, sums, kb == 0);
                            break;
                        default:
                            Block128(x + pc, w, kc, sums, kb == 0);
                            break;
                    }

                    pc += kc;
                }

                new ReadOnlySpan<float>(sums, valid).CopyTo(new Span<float>(job.C + (nint)i * job.Ldc + t * PanelWidth, valid));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block512(float* x, float* w, int kc, float* sums, bool first)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int p = 0; p < kc; p++, w += PanelWidth)
        {
            Vector512<float> v = Vector512.Create(x[p]);
            a0 = Avx512F.FusedMultiplyAdd(v, Vector512.Load(w), a0);
            a1 = Avx512F.FusedMultiplyAdd(v, Vector512.Load(w + 16), a1);
            a2 = Avx512F.FusedMultiplyAdd(v, Vector512.Load(w + 32), a2);
            a3 = Avx512F.FusedMultiplyAdd(v, Vector512.Load(w + 48), a3);
        }

        if (!first)
        {
            a0 += Vector512.Load(sums);
            a1 += Vector512.Load(sums + 16);
            a2 += Vector512.Load(sums + 32);
            a3 += Vector512.Load(sums + 48);
        }

        Vector512.Store(a0, sums);
        Vector512.Store(a1, sums + 16);
        Vector512.Store(a2, sums + 32);
        Vector512.Store(a3, sums + 48);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block256(float* x, float* w, int kc, float* sums, bool first)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> a4 = default, a5 = default, a6 = default, a7 = default;
        for (int p = 0; p < kc; p++, w += PanelWidth)
        {
            Vector256<float> v = Vector256.Create(x[p]);
            a0 = Fma.MultiplyAdd(v, Vector256.Load(w), a0);
            a1 = Fma.MultiplyAdd(v, Vector256.Load(w + 8), a1);
            a2 = Fma.MultiplyAdd(v, Vector256.Load(w + 16), a2);
            a3 = Fma.MultiplyAdd(v, Vector256.Load(w + 24), a3);
            a4 = Fma.MultiplyAdd(v, Vector256.Load(w + 32), a4);
            a5 = Fma.MultiplyAdd(v, Vector256.Load(w + 40), a5);
            a6 = Fma.MultiplyAdd(v, Vector256.Load(w + 48), a6);
            a7 = Fma.MultiplyAdd(v, Vector256.Load(w + 56), a7);
        }

        Finish(a0, sums, first);
        Finish(a1, sums + 8, first);
        Finish(a2, sums + 16, first);
        Finish(a3, sums + 24, first);
        Finish(a4, sums + 32, first);
        Finish(a5, sums + 40, first);
        Finish(a6, sums + 48, first);
        Finish(a7, sums + 56, first);

        static void Finish(Vector256<float> acc, float* sum, bool first) =>
            Vector256.Store(first ? acc : acc + Vector256.Load(sum), sum);
    }

    /// <summary>The 128-bit path (ARM64's AdvSimd): 16 accumulators, which ARM64's 32 vector registers hold with the
    /// loads; forced onto an x86 without AVX-512's 32 registers it spills, which only tests do.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block128(float* x, float* w, int kc, float* sums, bool first)
    {
        Vector128<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector128<float> a8 = default, a9 = default, a10 = default, a11 = default, a12 = default, a13 = default, a14 = default, a15 = default;
        for (int p = 0; p < kc; p++, w += PanelWidth)
        {
            Vector128<float> v = Vector128.Create(x[p]);
            a0 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w), a0);
            a1 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 4), a1);
            a2 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 8), a2);
            a3 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 12), a3);
            a4 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 16), a4);
            a5 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 20), a5);
            a6 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 24), a6);
            a7 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 28), a7);
            a8 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 32), a8);
            a9 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 36), a9);
            a10 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 40), a10);
            a11 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 44), a11);
            a12 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 48), a12);
            a13 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 52), a13);
            a14 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 56), a14);
            a15 = Vector128.FusedMultiplyAdd(v, Vector128.Load(w + 60), a15);
        }

        Finish(a0, sums, first);
        Finish(a1, sums + 4, first);
        Finish(a2, sums + 8, first);
        Finish(a3, sums + 12, first);
        Finish(a4, sums + 16, first);
        Finish(a5, sums + 20, first);
        Finish(a6, sums + 24, first);
        Finish(a7, sums + 28, first);
        Finish(a8, sums + 32, first);
        Finish(a9, sums + 36, first);
        Finish(a10, sums + 40, first);
        Finish(a11, sums + 44, first);
        Finish(a12, sums + 48, first);
        Finish(a13, sums + 52, first);
        Finish(a14, sums + 56, first);
        Finish(a15, sums + 60, first);

        static void Finish(Vector128<float> acc, float* sum, bool first) =>
            Vector128.Store(first ? acc : acc + Vector128.Load(sum), sum);
    }

    /// <summary>One call's operands, pinned by the caller until every part has finished.</summary>
    private struct Job
    {
        public GemmPath Path;
        public int M, Ldx, Ldc;
        public float* X, C;
    }

    /// <summary>Part p of the static split of the panels.</summary>
    private sealed class GemvWork : ParallelWork
    {
        public PackedWeights? Owner;
        public Job Job;

        public override void RunPart(int part, int parts)
        {
            var owner = Owner!;
            int lo = (int)((long)owner.Panels * part / parts), hi = (int)((long)owner.Panels * (part + 1) / parts);
            owner.RunPanels(in Job, lo, hi);
        }
    }
}
