using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace MLNet.Regularization.Tensors;

/// <summary>Which micro-kernel family <see cref="Gemm"/> runs.</summary>
internal enum GemmPath
{
    /// <summary>The widest kernel the hardware supports.</summary>
    Auto,

    /// <summary>AVX-512F kernel: 8 rows × 32 columns of C per micro-tile (16 × 16 when C has ≤ 16 columns).</summary>
    Vector512,

    /// <summary>AVX2 + FMA kernel: 6 rows × 16 columns of C per micro-tile.</summary>
    Vector256,

    /// <summary>128-bit FMA kernel (AdvSimd on ARM64, SSE + FMA on x86): 6 rows × 8 columns of C per micro-tile.
    /// The widest path on ARM64.</summary>
    Vector128,

    /// <summary>Portable scalar kernel: 4 × 4 micro-tile, no SIMD.</summary>
    Scalar,
}

/// <summary>An activation <see cref="Gemm.MultiplyAddBias"/> applies in its epilogue.</summary>
internal enum GemmActivation
{
    /// <summary>No activation.</summary>
    None,

    /// <summary>max(0, x).</summary>
    ReLU,
}

/// <summary>
/// Single-precision matrix multiply on row-major storage:
/// <c>C[m×n] = alpha · op(A) · op(B) + beta · C</c>, where <c>op(A)</c> is m×k (A itself is k×m when
/// transA) and <c>op(B)</c> is k×n (B is n×k when transB).
/// </summary>
/// <remarks>
/// <para>
/// The fast path is a packed, cache-blocked GEMM in the GotoBLAS/BLIS style (Goto and van de Geijn, 2008,
/// "Anatomy of high-performance matrix multiplication"): op(B) is copied block by block (KC×NC) into
/// NR-column micro-panels, op(A) into MR-row micro-panels (MC×KC), and a register-blocked micro-kernel
/// multiplies one A micro-panel by one B micro-panel into an MR×NR tile of C held in registers. Packing
/// absorbs the transposes, so one micro-kernel serves all four transpose cases, and zero padding absorbs
/// the edges. Products of at most four rows skip packing and stream B instead (<c>Gemm.Rows.cs</c>), and products of
/// at most <see cref="StreamBMaxRows"/> rows read B's full micro-panels in place when B is not transposed. The other
/// pieces live in <c>Gemm.Kernels.cs</c> and <c>Gemm.Packing.cs</c>; threads come from <see cref="WorkerPool"/>.
/// </para>
/// <para>
/// Every element of C is accumulated over k in the same order whatever the thread count, so results are
/// bit-identical with 1 or many threads: threads only split the rows/columns of C (statically, in whole
/// micro-tiles), never the k sum. The k blocking depends on k alone, and an element's arithmetic does not
/// depend on where its tile sits, so within one path a row of C has the same bits whatever other rows are
/// multiplied with it. The FMA paths round differently from the scalar path, which has no fused multiply-add.
/// </para>
/// </remarks>
internal static partial class Gemm
{
    /// <summary>
    /// Products with fewer flops than this (2·m·n·k) run on the calling thread: waking a worker costs
    /// several microseconds, which a product this small does not repay.
    /// </summary>
    private const long ParallelFlopThreshold = 1L << 21;

    [ThreadStatic]
    private static GemmPath t_forcedPath;

    private static GemmPath s_processPath;

    [ThreadStatic]
    private static GemmWork? t_work;

    /// <summary>
    /// The path every <see cref="Multiply"/> call made on this thread asks for; <see cref="GemmPath.Auto"/> (the
    /// default) picks the widest the hardware supports. Thread-static, so a test can run whole layers and training
    /// steps on one path without touching tests that run at the same time on other threads (the path is resolved on
    /// the calling thread and travels with the job to the workers).
    /// </summary>
    internal static GemmPath ForcedPath
    {
        get => t_forcedPath;
        set => t_forcedPath = value;
    }

    /// <summary>
    /// The path every thread asks for while its own <see cref="ForcedPath"/> is <see cref="GemmPath.Auto"/>: a
    /// process-wide switch for the benchmark runner's <c>--path</c>, so that GEMMs started on worker threads (a
    /// convolution's per-sample loop) take the forced path too. Tests use <see cref="ForcedPath"/> instead.
    /// </summary>
    internal static GemmPath ProcessPath
    {
        get => s_processPath;
        set => s_processPath = value;
    }

    /// <summary>The path <see cref="Multiply"/> runs now: <see cref="ForcedPath"/> after hardware fallback.</summary>
    internal static GemmPath ActivePath => Resolve(Requested);

    /// <summary>The path this thread asked for: its <see cref="ForcedPath"/>, else the <see cref="ProcessPath"/>.</summary>
    private static GemmPath Requested => t_forcedPath != GemmPath.Auto ? t_forcedPath : s_processPath;

    /// <summary>Computes <c>C = alpha·op(A)·op(B) + beta·C</c>.</summary>
    public static void Multiply(
        bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc, int threads = 1)
    {
        MultiplyWithPath(Requested, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
    }

    /// <summary>
    /// <c>C = act(op(A)·op(B) + bias)</c>, bias added to every row (one value per column of C) and the activation
    /// applied in the GEMM's epilogue, block by block while the block of C is still in cache. The result has the
    /// bits of <see cref="Multiply"/> followed by a separate bias pass and activation pass. The bias has n values,
    /// or is empty for none.
    /// </summary>
    public static void MultiplyAddBias(
        bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        ReadOnlySpan<float> bias, GemmActivation activation, Span<float> c, int ldc, int threads = 1)
    {
        MultiplyWithPath(Requested, transA, transB, m, n, k, 1f, a, lda, b, ldb, 0f, c, ldc, threads, bias, activation);
    }

    /// <summary><see cref="MultiplyAddBias"/> with one bias value per row of C (m values) instead of per column.</summary>
    public static void MultiplyAddRowBias(
        bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        ReadOnlySpan<float> rowBias, GemmActivation activation, Span<float> c, int ldc, int threads = 1)
    {
        MultiplyWithPath(Requested, transA, transB, m, n, k, 1f, a, lda, b, ldb, 0f, c, ldc, threads, rowBias, activation, biasPerRow: true);
    }

    /// <summary>
    /// <see cref="Multiply"/> on an explicitly chosen kernel family (falling back to a narrower one when the
    /// hardware lacks it), so tests can cover every path without mutating <see cref="ForcedPath"/>; with an
    /// optional epilogue (see <see cref="MultiplyAddBias"/>).
    /// </summary>
    internal static unsafe void MultiplyWithPath(
        GemmPath path, bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc, int threads = 1,
        ReadOnlySpan<float> bias = default, GemmActivation activation = GemmActivation.None, bool biasPerRow = false)
    {
        Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (!bias.IsEmpty && bias.Length != (biasPerRow ? m : n))
        {
            throw new ArgumentException($"GEMM: the bias has {bias.Length} values for {(biasPerRow ? m : n)} {(biasPerRow ? "rows" : "columns")} of C.", nameof(bias));
        }

        if (m == 0 || n == 0)
        {
            return;
        }

        if (k == 0 || alpha == 0f)
        {
            // op(A)·op(B) contributes nothing; like BLAS, A and B are not read.
            ScaleC(m, n, beta, c, ldc);
            for (int i = 0; i < m; i++)
            {
                ApplyEpilogue(c.Slice(i * ldc, n), biasPerRow ? default : bias, biasPerRow && !bias.IsEmpty ? bias[i] : null, activation);
            }

            return;
        }

        fixed (float* pa = a, pb = b, pc = c, pbias = bias)
        {
            GemmPath resolved = Resolve(path);
            var job = new Job
            {
                Path = resolved,
                Narrow = resolved == GemmPath.Vector512 && n <= Kernel512Narrow.NR,
                RowStreaming = resolved != GemmPath.Scalar && !transB && m <= RowStreamingMaxRows,
                TransA = transA,
                TransB = transB,
                M = m,
                N = n,
                K = k,
                Alpha = alpha,
                Beta = beta,
                A = pa,
                Lda = lda,
                B = pb,
                Ldb = ldb,
                C = pc,
                Ldc = ldc,
                Bias = pbias,
                BiasPerRow = biasPerRow,
                Activation = activation,
            };

            int parts = 1;
            if (threads > 1 && 2L * m * n * k >= ParallelFlopThreshold)
            {
                // Split the larger of m and n: the other operand is packed by every thread, so the
                // duplicated packing (m·k or k·n values) is the smaller one.
                job.SplitColumns = n >= m;
                (int mr, int nr) = TileShape(in job);
                int units = job.SplitColumns ? DivCeil(n, nr) : DivCeil(m, mr);
                parts = Math.Min(threads, units);
            }

            if (parts <= 1 || !RunOnPool(in job, parts))
            {
                // One thread, or the pool is busy (a concurrent or nested call): the whole product here, packing once.
                Execute(in job, 0, m, 0, n);
            }
        }
    }

    /// <summary>A plain, obviously correct implementation used as the oracle in tests.</summary>
    internal static void MultiplyReference(
        bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        float[] row = new float[n];
        for (int i = 0; i < m; i++)
        {
            Array.Clear(row);
            for (int p = 0; p < k; p++)
            {
                float aip = transA ? a[p * lda + i] : a[i * lda + p];
                if (transB)
                {
                    for (int j = 0; j < n; j++)
                    {
                        row[j] += aip * b[j * ldb + p];
                    }
                }
                else
                {
                    TensorPrimitives.MultiplyAdd(b.Slice(p * ldb, n), aip, row, row);
                }
            }

            Span<float> ci = c.Slice(i * ldc, n);
            for (int j = 0; j < n; j++)
            {
                ci[j] = beta == 0f ? alpha * row[j] : alpha * row[j] + beta * ci[j];
            }
        }
    }

    /// <summary>Maps a requested path to one the hardware can run, falling back to narrower vectors.</summary>
    internal static GemmPath Resolve(GemmPath requested)
    {
        bool has512 = Avx512F.IsSupported;
        bool has256 = Avx.IsSupported && Fma.IsSupported;
        bool has128 = Has128;
        GemmPath narrowest = has128 ? GemmPath.Vector128 : GemmPath.Scalar;
        return requested switch
        {
            GemmPath.Scalar => GemmPath.Scalar,
            GemmPath.Vector128 => narrowest,
            GemmPath.Vector256 => has256 ? GemmPath.Vector256 : narrowest,
            _ => has512 ? GemmPath.Vector512 : has256 ? GemmPath.Vector256 : narrowest,
        };
    }

    /// <summary>
    /// Whether the 128-bit path can run: a fused multiply-add on 128-bit vectors in hardware (AdvSimd on ARM64,
    /// FMA3 on x86). Without a hardware FMA, <see cref="Vector128.FusedMultiplyAdd(Vector128{float}, Vector128{float}, Vector128{float})"/>
    /// would be emulated element by element.
    /// </summary>
    internal static bool Has128 => Vector128.IsHardwareAccelerated && (Fma.IsSupported || AdvSimd.Arm64.IsSupported);

    /// <summary>Columns of C per micro-tile of the main kernel of the path this thread runs now (a caller that can
    /// choose its product's width uses it to fill whole tiles).</summary>
    internal static int ColumnTile => ActivePath switch
    {
        GemmPath.Vector512 => Kernel512.NR,
        GemmPath.Vector256 => Kernel256.NR,
        GemmPath.Vector128 => Kernel128.NR,
        _ => KernelScalar.NR,
    };

    /// <summary>The MR×NR micro-tile of a job's kernel (the partition unit for threads).</summary>
    private static (int Mr, int Nr) TileShape(in Job job) => job.Path switch
    {
        GemmPath.Vector512 when job.Narrow => (Kernel512Narrow.MR, Kernel512Narrow.NR),
        GemmPath.Vector512 => (Kernel512.MR, Kernel512.NR),
        GemmPath.Vector256 => (Kernel256.MR, Kernel256.NR),
        GemmPath.Vector128 => (Kernel128.MR, Kernel128.NR),
        _ => (KernelScalar.MR, KernelScalar.NR),
    };

    /// <summary>Runs one thread's share of a job: the C block rows [r0, r1) × columns [c0, c1).</summary>
    private static void Execute(in Job job, int r0, int r1, int c0, int c1)
    {
        if (job.RowStreaming)
        {
            RowStreaming(in job, r0, r1, c0, c1);
            return;
        }

        switch (job.Path)
        {
            case GemmPath.Vector512 when job.Narrow:
                Blocked<Kernel512Narrow>(in job, r0, r1, c0, c1);
                break;
            case GemmPath.Vector512:
                Blocked<Kernel512>(in job, r0, r1, c0, c1);
                break;
            case GemmPath.Vector256:
                Blocked<Kernel256>(in job, r0, r1, c0, c1);
                break;
            case GemmPath.Vector128:
                Blocked<Kernel128>(in job, r0, r1, c0, c1);
                break;
            default:
                Blocked<KernelScalar>(in job, r0, r1, c0, c1);
                break;
        }
    }

    /// <summary>Runs part <paramref name="part"/> of <paramref name="parts"/> of a job split by rows or columns.</summary>
    private static void ExecutePart(in Job job, int part, int parts)
    {
        (int mr, int nr) = TileShape(in job);
        if (job.SplitColumns)
        {
            (int lo, int hi) = Share(DivCeil(job.N, nr), part, parts);
            Execute(in job, 0, job.M, Math.Min(job.N, lo * nr), Math.Min(job.N, hi * nr));
        }
        else
        {
            (int lo, int hi) = Share(DivCeil(job.M, mr), part, parts);
            Execute(in job, Math.Min(job.M, lo * mr), Math.Min(job.M, hi * mr), 0, job.N);
        }
    }

    /// <summary>Runs a job's parts on <see cref="WorkerPool"/>; false when the pool is busy.</summary>
    private static bool RunOnPool(in Job job, int parts)
    {
        // One cached work object per thread, taken out of the cache while in use.
        var work = t_work ?? new GemmWork();
        t_work = null;
        work.Job = job;
        try
        {
            return WorkerPool.TryRun(work, parts);
        }
        finally
        {
            work.Job = default;
            t_work = work;
        }
    }

    /// <summary>The epilogue on the finished block of C rows [r0, r1) × columns [c0, c1).</summary>
    private static unsafe void ApplyEpilogue(in Job job, int r0, int r1, int c0, int c1)
    {
        if (job.Bias == null && job.Activation == GemmActivation.None)
        {
            return;
        }

        var bias = job.Bias == null || job.BiasPerRow ? default : new ReadOnlySpan<float>(job.Bias + c0, c1 - c0);
        for (int i = r0; i < r1; i++)
        {
            float? rowBias = job.Bias != null && job.BiasPerRow ? job.Bias[i] : null;
            ApplyEpilogue(new Span<float>(job.C + (nint)i * job.Ldc + c0, c1 - c0), bias, rowBias, job.Activation);
        }
    }

    /// <summary>row = act(row + bias + rowBias): the same element-wise operations as a separate bias pass
    /// (Dense's per column, a convolution's per output plane) and ReLU's forward.</summary>
    private static void ApplyEpilogue(Span<float> row, ReadOnlySpan<float> bias, float? rowBias, GemmActivation activation)
    {
        if (!bias.IsEmpty)
        {
            TensorPrimitives.Add(row, bias, row);
        }

        if (rowBias is float value)
        {
            TensorPrimitives.Add(row, value, row);
        }

        if (activation == GemmActivation.ReLU)
        {
            TensorPrimitives.Max(row, 0f, row);
        }
    }

    /// <summary>Static split of <paramref name="units"/> into <paramref name="parts"/> contiguous near-equal ranges.</summary>
    private static (int Lo, int Hi) Share(int units, int part, int parts) =>
        ((int)((long)units * part / parts), (int)((long)units * (part + 1) / parts));

    private static int DivCeil(int x, int y) => (x + y - 1) / y;

    private static int RoundUp(int x, int multiple) => DivCeil(x, multiple) * multiple;

    /// <summary>C = beta·C (C is overwritten with zeros, never read, when beta is 0).</summary>
    private static void ScaleC(int m, int n, float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            Span<float> ci = c.Slice(i * ldc, n);
            if (beta == 0f)
            {
                ci.Clear();
            }
            else if (beta != 1f)
            {
                TensorPrimitives.Multiply(ci, beta, ci);
            }
        }
    }

    private static void Validate(
        bool transA, bool transB, int m, int n, int k, int aLength, int lda, int bLength, int ldb, int cLength, int ldc)
    {
        if (m < 0 || n < 0 || k < 0)
        {
            throw new ArgumentException($"GEMM sizes must be non-negative, got m={m}, n={n}, k={k}.");
        }

        int aRows = transA ? k : m, aCols = transA ? m : k;
        int bRows = transB ? n : k, bCols = transB ? k : n;
        Check("A", aRows, aCols, aLength, lda);
        Check("B", bRows, bCols, bLength, ldb);
        Check("C", m, n, cLength, ldc);

        static void Check(string name, int rows, int cols, int length, int ld)
        {
            if (rows == 0 || cols == 0)
            {
                return;
            }

            if (ld < cols)
            {
                throw new ArgumentException($"GEMM: leading dimension of {name} is {ld}, smaller than its {cols} columns.");
            }

            if ((long)(rows - 1) * ld + cols > length)
            {
                throw new ArgumentException($"GEMM: {name} needs {rows}x{cols} with leading dimension {ld} but has {length} values.");
            }
        }
    }

    /// <summary>A job as <see cref="ParallelWork"/>: part p of the static row or column split.</summary>
    private sealed class GemmWork : ParallelWork
    {
        public Job Job;

        public override void RunPart(int part, int parts) => ExecutePart(in Job, part, parts);
    }

    /// <summary>
    /// One GEMM call with its operands pinned: the calling thread keeps the spans fixed until every worker
    /// has finished, so raw pointers are safe to hand to the workers.
    /// </summary>
    private unsafe struct Job
    {
        public GemmPath Path;
        public bool TransA, TransB, SplitColumns;

        /// <summary>Use the 16-column AVX-512 kernel: C has at most 16 columns.</summary>
        public bool Narrow;

        /// <summary>Skip packing and stream B (see <see cref="RowStreaming"/>): C has at most 4 rows.</summary>
        public bool RowStreaming;
        public int M, N, K, Lda, Ldb, Ldc;
        public float Alpha, Beta;
        public float* A, B, C;

        /// <summary>Epilogue: a bias per column of C, or per row when <see cref="BiasPerRow"/> (null for none),
        /// then the activation.</summary>
        public float* Bias;
        public bool BiasPerRow;
        public GemmActivation Activation;
    }
}
