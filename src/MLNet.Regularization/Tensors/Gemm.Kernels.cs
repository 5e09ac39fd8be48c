using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MLNet.Regularization.Tensors;

/// <summary>The blocked driver and the register-blocked micro-kernels.</summary>
internal static partial class Gemm
{
    /// <summary>
    /// Depth of the k blocks of every FMA path (the AVX-512 and AVX2 kernels and row streaming): sharing it
    /// makes them all compute an element of C with the same operations, whichever of them runs.
    /// </summary>
    internal const int FmaKBlock = 256;

    /// <summary>
    /// Products of at most this many rows with op(B) = B (not transposed) read B's full NR-column micro-panels where
    /// they lie, k rows ldb apart, instead of packing them: packing copies k·n values, repaid over only m rows, while
    /// a panel read in place stays in L1 across the m / MR row tiles that use it. A convolution's forward (filters ×
    /// patch values × positions) is such a product: 64×784×288 ran 6–9 % faster on the AVX2 kernel and 11–12 % on the
    /// AVX-512 one, timed alternately in one process. At 128 rows (a Dense layer's input gradient at batch 128) the
    /// gain was 2–4 % on AVX2 and a 1–4 % loss on AVX-512, hence the limit. The kernel multiplies the same values
    /// either way, so the bits do not change.
    /// </summary>
    internal const int StreamBMaxRows = 96;

    /// <summary>Largest MR·NR of any kernel: the size of the stack tile used for edge tiles.</summary>
    private const int MaxTile = 16 * 32;

    /// <summary>
    /// A micro-kernel computes one MR×NR tile of C from an MR-row micro-panel of A and an NR-column
    /// micro-panel of B (both packed, kc deep): <c>C = alpha·acc + beta·C</c>, where C is not read when
    /// <c>readC</c> is false. The static members let the JIT specialize <see cref="Blocked{TKernel}"/> per kernel.
    /// </summary>
    private interface IMicroKernel
    {
        /// <summary>Rows of C per micro-tile.</summary>
        static abstract int MR { get; }

        /// <summary>Columns of C per micro-tile.</summary>
        static abstract int NR { get; }

        /// <summary>Depth of one k block (the packed B micro-panel, KC·NR floats, should sit in L1). It fixes the order of
        /// the k sum, so it is a constant; MC and NC come from the caches (<see cref="BlockingOf{TKernel}"/>).</summary>
        static abstract int KC { get; }

        /// <summary>Multiplies the micro-panels into the tile at <paramref name="c"/> (row stride <paramref name="ldc"/>);
        /// the k steps of B's micro-panel lie <paramref name="ldb"/> floats apart (NR when packed).</summary>
        static abstract unsafe void Run(float* a, float* b, nint ldb, int kc, float* c, int ldc, float alpha, float beta, bool readC);
    }

    /// <summary>
    /// The five loops around the micro-kernel (Goto/BLIS order jc → pc → ic → jr → ir) over the C block
    /// rows [r0, r1) × columns [c0, c1). The k range is cut into equal blocks that depend on k alone, so
    /// each element of C sees the same sequence of operations whichever block of C a thread owns.
    /// </summary>
    private static unsafe void Blocked<TKernel>(in Job job, int r0, int r1, int c0, int c1)
        where TKernel : struct, IMicroKernel
    {
        int mr = TKernel.MR, nr = TKernel.NR;
        Blocking blocking = BlockingOf<TKernel>.Value;
        int mcMax = blocking.MC, ncMax = blocking.NC;
        int kcMax = Math.Min(TKernel.KC, job.K);
        PackBuffers buffers = PackBuffers.ForCurrentThread(
            Math.Min(mcMax, RoundUp(r1 - r0, mr)) * kcMax, kcMax * Math.Min(ncMax, RoundUp(c1 - c0, nr)));
        float* packedA = buffers.A, packedB = buffers.B;
        float* tile = stackalloc float[MaxTile];
        int ldc = job.Ldc;
        int kBlocks = DivCeil(job.K, TKernel.KC);
        bool streamB = !job.TransB && job.M <= StreamBMaxRows;

        for (int jc = c0; jc < c1; jc += ncMax)
        {
            int nc = Math.Min(ncMax, c1 - jc);
            int pc = 0;
            for (int kb = 0; kb < kBlocks; kb++)
            {
                int kc = (int)((long)job.K * (kb + 1) / kBlocks) - pc;
                if (!streamB)
                {
                    PackB(in job, packedB, pc, kc, jc, nc, nr);
                }
                else if (nc % nr != 0)
                {
                    // Only the last, partial panel is packed (zero padded); the full ones are read in place.
                    int fullCols = nc - nc % nr;
                    PackB(in job, packedB + (nint)fullCols * kc, pc, kc, jc + fullCols, nc - fullCols, nr);
                }

                // Only the first k block applies the caller's beta; later blocks add onto what it wrote.
                bool first = kb == 0;
                float beta = first ? job.Beta : 1f;
                bool readC = !(first && job.Beta == 0f);

                for (int ic = r0; ic < r1; ic += mcMax)
                {
                    int mc = Math.Min(mcMax, r1 - ic);
                    PackA(in job, packedA, ic, mc, pc, kc, mr);

                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        int cols = Math.Min(nr, nc - jr);
                        float* panelB = packedB + (nint)jr * kc;
                        nint bStride = nr;
                        if (streamB && cols == nr)
                        {
                            panelB = job.B + (nint)pc * job.Ldb + jc + jr;
                            bStride = job.Ldb;
                        }
                        for (int ir = 0; ir < mc; ir += mr)
                        {
                            int rows = Math.Min(mr, mc - ir);
                            float* panelA = packedA + (nint)ir * kc;
                            float* c = job.C + (nint)(ic + ir) * ldc + jc + jr;
                            if (rows == mr && cols == nr)
                            {
                                TKernel.Run(panelA, panelB, bStride, kc, c, ldc, job.Alpha, beta, readC);
                            }
                            else
                            {
                                // Edge tile: run the same kernel on a stack copy so that only the valid
                                // rows/columns of C are read and written, with identical arithmetic.
                                if (readC)
                                {
                                    CopyTile(c, ldc, tile, nr, rows, cols);
                                }

                                TKernel.Run(panelA, panelB, bStride, kc, tile, nr, job.Alpha, beta, readC);
                                CopyTile(tile, nr, c, ldc, rows, cols);
                            }
                        }
                    }

                    if (kb == kBlocks - 1)
                    {
                        // The block of C is final and still in cache: bias and activation now.
                        ApplyEpilogue(in job, ic, ic + mc, jc, jc + nc);
                    }
                }

                pc += kc;
            }
        }
    }

    private static unsafe void CopyTile(float* src, int srcStride, float* dst, int dstStride, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
        {
            new ReadOnlySpan<float>(src + (nint)r * srcStride, cols).CopyTo(new Span<float>(dst + (nint)r * dstStride, cols));
        }
    }

    /// <summary>AVX-512 kernel: 8×32 tile in 16 zmm accumulators, 2 B loads and 8 broadcasts per k step.</summary>
    private readonly struct Kernel512 : IMicroKernel
    {
        public static int MR => 8;

        public static int NR => 32;



        public static int KC => FmaKBlock;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static unsafe void Run(float* a, float* b, nint ldb, int kc, float* c, int ldc, float alpha, float beta, bool readC)
        {
            Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
            Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
            Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
            Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;

            for (int p = 0; p < kc; p++)
            {
                Vector512<float> b0 = Vector512.Load(b);
                Vector512<float> b1 = Vector512.Load(b + 16);
                Vector512<float> x = Vector512.Create(a[0]);
                c00 = Avx512F.FusedMultiplyAdd(x, b0, c00);
                c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
                x = Vector512.Create(a[1]);
                c10 = Avx512F.FusedMultiplyAdd(x, b0, c10);
                c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
                x = Vector512.Create(a[2]);
                c20 = Avx512F.FusedMultiplyAdd(x, b0, c20);
                c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
                x = Vector512.Create(a[3]);
                c30 = Avx512F.FusedMultiplyAdd(x, b0, c30);
                c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
                x = Vector512.Create(a[4]);
                c40 = Avx512F.FusedMultiplyAdd(x, b0, c40);
                c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
                x = Vector512.Create(a[5]);
                c50 = Avx512F.FusedMultiplyAdd(x, b0, c50);
                c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
                x = Vector512.Create(a[6]);
                c60 = Avx512F.FusedMultiplyAdd(x, b0, c60);
                c61 = Avx512F.FusedMultiplyAdd(x, b1, c61);
                x = Vector512.Create(a[7]);
                c70 = Avx512F.FusedMultiplyAdd(x, b0, c70);
                c71 = Avx512F.FusedMultiplyAdd(x, b1, c71);
                a += 8;
                b += ldb;
            }

            Vector512<float> va = Vector512.Create(alpha), vb = Vector512.Create(beta);
            Store(c, c00, va, vb, readC);
            Store(c + 16, c01, va, vb, readC);
            c += ldc;
            Store(c, c10, va, vb, readC);
            Store(c + 16, c11, va, vb, readC);
            c += ldc;
            Store(c, c20, va, vb, readC);
            Store(c + 16, c21, va, vb, readC);
            c += ldc;
            Store(c, c30, va, vb, readC);
            Store(c + 16, c31, va, vb, readC);
            c += ldc;
            Store(c, c40, va, vb, readC);
            Store(c + 16, c41, va, vb, readC);
            c += ldc;
            Store(c, c50, va, vb, readC);
            Store(c + 16, c51, va, vb, readC);
            c += ldc;
            Store(c, c60, va, vb, readC);
            Store(c + 16, c61, va, vb, readC);
            c += ldc;
            Store(c, c70, va, vb, readC);
            Store(c + 16, c71, va, vb, readC);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static unsafe void Store(float* c, Vector512<float> acc, Vector512<float> alpha, Vector512<float> beta, bool readC)
        {
            Vector512<float> r = Avx512F.Multiply(acc, alpha);
            if (readC)
            {
                r = Avx512F.FusedMultiplyAdd(Vector512.Load(c), beta, r);
            }

            Vector512.Store(r, c);
        }
    }

    /// <summary>
    /// AVX-512 kernel for narrow products (n ≤ 16, e.g. a classifier's output layer): 16×16 tile in 16 zmm
    /// accumulators, 1 B load and 16 broadcasts per k step, so a 10-column C wastes 6 lanes, not 22.
    /// Each element sees exactly the operations of <see cref="Kernel512"/>, so the two give identical bits.
    /// </summary>
    private readonly struct Kernel512Narrow : IMicroKernel
    {
        public static int MR => 16;

        public static int NR => 16;



        public static int KC => FmaKBlock;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static unsafe void Run(float* a, float* b, nint ldb, int kc, float* c, int ldc, float alpha, float beta, bool readC)
        {
            Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
            Vector512<float> c04 = default, c05 = default, c06 = default, c07 = default;
            Vector512<float> c08 = default, c09 = default, c10 = default, c11 = default;
            Vector512<float> c12 = default, c13 = default, c14 = default, c15 = default;

            for (int p = 0; p < kc; p++)
            {
                Vector512<float> b0 = Vector512.Load(b);
                c00 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c00);
                c01 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c01);
                c02 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c02);
                c03 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c03);
                c04 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[4]), b0, c04);
                c05 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[5]), b0, c05);
                c06 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[6]), b0, c06);
                c07 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[7]), b0, c07);
                c08 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[8]), b0, c08);
                c09 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[9]), b0, c09);
                c10 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[10]), b0, c10);
                c11 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[11]), b0, c11);
                c12 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[12]), b0, c12);
                c13 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[13]), b0, c13);
                c14 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[14]), b0, c14);
                c15 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[15]), b0, c15);
                a += 16;
                b += ldb;
            }

            Vector512<float> va = Vector512.Create(alpha), vb = Vector512.Create(beta);
            Kernel512.Store(c, c00, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c01, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c02, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c03, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c04, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c05, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c06, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c07, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c08, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c09, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c10, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c11, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c12, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c13, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c14, va, vb, readC);
            c += ldc;
            Kernel512.Store(c, c15, va, vb, readC);
        }
    }

    /// <summary>AVX2 + FMA kernel: 6×16 tile in 12 ymm accumulators, 2 B loads and 6 broadcasts per k step.</summary>
    private readonly struct Kernel256 : IMicroKernel
    {
        public static int MR => 6;

        public static int NR => 16;



        public static int KC => FmaKBlock;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static unsafe void Run(float* a, float* b, nint ldb, int kc, float* c, int ldc, float alpha, float beta, bool readC)
        {
            Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
            Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
            Vector256<float> c40 = default, c41 = default, c50 = default, c51 = default;

            for (int p = 0; p < kc; p++)
            {
                Vector256<float> b0 = Vector256.Load(b);
                Vector256<float> b1 = Vector256.Load(b + 8);
                Vector256<float> x = Vector256.Create(a[0]);
                c00 = Fma.MultiplyAdd(x, b0, c00);
                c01 = Fma.MultiplyAdd(x, b1, c01);
                x = Vector256.Create(a[1]);
                c10 = Fma.MultiplyAdd(x, b0, c10);
                c11 = Fma.MultiplyAdd(x, b1, c11);
                x = Vector256.Create(a[2]);
                c20 = Fma.MultiplyAdd(x, b0, c20);
                c21 = Fma.MultiplyAdd(x, b1, c21);
                x = Vector256.Create(a[3]);
                c30 = Fma.MultiplyAdd(x, b0, c30);
                c31 = Fma.MultiplyAdd(x, b1, c31);
                x = Vector256.Create(a[4]);
                c40 = Fma.MultiplyAdd(x, b0, c40);
                c41 = Fma.MultiplyAdd(x, b1, c41);
                x = Vector256.Create(a[5]);
                c50 = Fma.MultiplyAdd(x, b0, c50);
                c51 = Fma.MultiplyAdd(x, b1, c51);
                a += 6;
                b += ldb;
            }

            Vector256<float> va = Vector256.Create(alpha), vb = Vector256.Create(beta);
            Store(c, c00, va, vb, readC);
            Store(c + 8, c01, va, vb, readC);
            c += ldc;
            Store(c, c10, va, vb, readC);
            Store(c + 8, c11, va, vb, readC);
            c += ldc;
            Store(c, c20, va, vb, readC);
            Store(c + 8, c21, va, vb, readC);
            c += ldc;
            Store(c, c30, va, vb, readC);
            Store(c + 8, c31, va, vb, readC);
            c += ldc;
            Store(c, c40, va, vb, readC);
            Store(c + 8, c41, va, vb, readC);
            c += ldc;
            Store(c, c50, va, vb, readC);
            Store(c + 8, c51, va, vb, readC);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static unsafe void Store(float* c, Vector256<float> acc, Vector256<float> alpha, Vector256<float> beta, bool readC)
        {
            Vector256<float> r = Avx.Multiply(acc, alpha);
            if (readC)
            {
                r = Fma.MultiplyAdd(Vector256.Load(c), beta, r);
            }

            Vector256.Store(r, c);
        }
    }

    /// <summary>
    /// 128-bit kernel for ARM64 (AdvSimd, 32 vector registers) and FMA-capable x86 forced onto 128 bits: 8×8 tile
    /// in 16 accumulators, 2 B loads and 8 broadcasts per k step. Fused multiply-adds like the wider kernels, and
    /// the same k blocks, so an element of C gets the same bits as on the AVX2 and AVX-512 paths.
    /// </summary>
    private readonly struct Kernel128 : IMicroKernel
    {
        public static int MR => 8;

        public static int NR => 8;



        public static int KC => FmaKBlock;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static unsafe void Run(float* a, float* b, nint ldb, int kc, float* c, int ldc, float alpha, float beta, bool readC)
        {
            Vector128<float> c00 = default, c01 = default, c10 = default, c11 = default;
            Vector128<float> c20 = default, c21 = default, c30 = default, c31 = default;
            Vector128<float> c40 = default, c41 = default, c50 = default, c51 = default;
            Vector128<float> c60 = default, c61 = default, c70 = default, c71 = default;

            for (int p = 0; p < kc; p++)
            {
                Vector128<float> b0 = Vector128.Load(b);
                Vector128<float> b1 = Vector128.Load(b + 4);
                Vector128<float> x = Vector128.Create(a[0]);
                c00 = Vector128.FusedMultiplyAdd(x, b0, c00);
                c01 = Vector128.FusedMultiplyAdd(x, b1, c01);
                x = Vector128.Create(a[1]);
                c10 = Vector128.FusedMultiplyAdd(x, b0, c10);
                c11 = Vector128.FusedMultiplyAdd(x, b1, c11);
                x = Vector128.Create(a[2]);
                c20 = Vector128.FusedMultiplyAdd(x, b0, c20);
                c21 = Vector128.FusedMultiplyAdd(x, b1, c21);
                x = Vector128.Create(a[3]);
                c30 = Vector128.FusedMultiplyAdd(x, b0, c30);
                c31 = Vector128.FusedMultiplyAdd(x, b1, c31);
                x = Vector128.Create(a[4]);
                c40 = Vector128.FusedMultiplyAdd(x, b0, c40);
                c41 = Vector128.FusedMultiplyAdd(x, b1, c41);
                x = Vector128.Create(a[5]);
                c50 = Vector128.FusedMultiplyAdd(x, b0, c50);
                c51 = Vector128.FusedMultiplyAdd(x, b1, c51);
                x = Vector128.Create(a[6]);
                c60 = Vector128.FusedMultiplyAdd(x, b0, c60);
                c61 = Vector128.FusedMultiplyAdd(x, b1, c61);
                x = Vector128.Create(a[7]);
                c70 = Vector128.FusedMultiplyAdd(x, b0, c70);
                c71 = Vector128.FusedMultiplyAdd(x, b1, c71);
                a += 8;
                b += ldb;
            }

            Vector128<float> va = Vector128.Create(alpha), vb = Vector128.Create(beta);
            Store(c, c00, va, vb, readC);
            Store(c + 4, c01, va, vb, readC);
            c += ldc;
            Store(c, c10, va, vb, readC);
            Store(c + 4, c11, va, vb, readC);
            c += ldc;
            Store(c, c20, va, vb, readC);
            Store(c + 4, c21, va, vb, readC);
            c += ldc;
            Store(c, c30, va, vb, readC);
            Store(c + 4, c31, va, vb, readC);
            c += ldc;
            Store(c, c40, va, vb, readC);
            Store(c + 4, c41, va, vb, readC);
            c += ldc;
            Store(c, c50, va, vb, readC);
            Store(c + 4, c51, va, vb, readC);
            c += ldc;
            Store(c, c60, va, vb, readC);
            Store(c + 4, c61, va, vb, readC);
            c += ldc;
            Store(c, c70, va, vb, readC);
            Store(c + 4, c71, va, vb, readC);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static unsafe void Store(float* c, Vector128<float> acc, Vector128<float> alpha, Vector128<float> beta, bool readC)
        {
            Vector128<float> r = acc * alpha;
            if (readC)
            {
                r = Vector128.FusedMultiplyAdd(Vector128.Load(c), beta, r);
            }

            Vector128.Store(r, c);
        }
    }

    /// <summary>
    /// Portable kernel: 4×4 tile in 16 scalar accumulators. It multiplies and adds separately (the JIT never
    /// fuses them), so it needs no FMA hardware and gives the same bits on every machine.
    /// </summary>
    private readonly struct KernelScalar : IMicroKernel
    {
        public static int MR => 4;

        public static int NR => 4;



        public static int KC => 256;

        public static unsafe void Run(float* a, float* b, nint ldb, int kc, float* c, int ldc, float alpha, float beta, bool readC)
        {
            float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
            float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
            for (int p = 0; p < kc; p++)
            {
                float b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
                float x = a[0];
                c00 += x * b0; c01 += x * b1; c02 += x * b2; c03 += x * b3;
                x = a[1];
                c10 += x * b0; c11 += x * b1; c12 += x * b2; c13 += x * b3;
                x = a[2];
                c20 += x * b0; c21 += x * b1; c22 += x * b2; c23 += x * b3;
                x = a[3];
                c30 += x * b0; c31 += x * b1; c32 += x * b2; c33 += x * b3;
                a += 4;
                b += ldb;
            }

            StoreRow(c, c00, c01, c02, c03, alpha, beta, readC);
            StoreRow(c + ldc, c10, c11, c12, c13, alpha, beta, readC);
            StoreRow(c + 2 * ldc, c20, c21, c22, c23, alpha, beta, readC);
            StoreRow(c + 3 * ldc, c30, c31, c32, c33, alpha, beta, readC);
        }

        private static unsafe void StoreRow(float* c, float x0, float x1, float x2, float x3, float alpha, float beta, bool readC)
        {
            if (readC)
            {
                c[0] = alpha * x0 + beta * c[0];
                c[1] = alpha * x1 + beta * c[1];
                c[2] = alpha * x2 + beta * c[2];
                c[3] = alpha * x3 + beta * c[3];
            }
            else
            {
                c[0] = alpha * x0;
                c[1] = alpha * x1;
                c[2] = alpha * x2;
                c[3] = alpha * x3;
            }
        }
    }
}
