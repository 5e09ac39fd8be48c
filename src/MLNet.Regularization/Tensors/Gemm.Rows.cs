using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MLNet.Regularization.Tensors;

/// <summary>The row-streaming path for products with very few rows (one example at inference, a tiny batch).</summary>
internal static partial class Gemm
{
    /// <summary>Products with at most this many rows (and B not transposed) skip packing.</summary>
    private const int RowStreamingMaxRows = 4;

    /// <summary>Columns of C accumulated at once: four rows of them (16 KB) stay in L1.</summary>
    private const int RowStreamingColumns = 1024;

    /// <summary>
    /// With one to four rows, packing op(B) would cost as much as the product itself (each value of B is used
    /// once per row), so this path streams B row by row instead: for each k step p, row i of the accumulator
    /// gets <c>acc[i, :] = fma(op(A)[i, p], B[p, :], acc[i, :])</c>. That is the operation sequence of the
    /// FMA micro-kernels (same k blocks, same write-back), so a row's bits do not depend on how many rows
    /// are multiplied with it. Only for the FMA paths and for B stored k×n.
    /// </summary>
    private static unsafe void RowStreaming(in Job job, int r0, int r1, int c0, int c1)
    {
        PackBuffers buffers = PackBuffers.ForCurrentThread(
            Math.Min(RowStreamingMaxRows, r1 - r0) * Math.Min(RowStreamingColumns, c1 - c0), 0);
        float* acc = buffers.A;
        bool wide = job.Path == GemmPath.Vector512;
        bool narrow = job.Path == GemmPath.Vector128;
        int kBlocks = DivCeil(job.K, FmaKBlock);
        float* values = stackalloc float[RowStreamingMaxRows];

        for (int i0 = r0; i0 < r1; i0 += RowStreamingMaxRows)
        {
            int rows = Math.Min(RowStreamingMaxRows, r1 - i0);
            for (int jc = c0; jc < c1; jc += RowStreamingColumns)
            {
                int nc = Math.Min(RowStreamingColumns, c1 - jc);
                int pc = 0;
                for (int kb = 0; kb < kBlocks; kb++)
                {
                    int kc = (int)((long)job.K * (kb + 1) / kBlocks) - pc;
                    new Span<float>(acc, rows * nc).Clear();
                    for (int p = pc; p < pc + kc; p++)
                    {
                        float* bRow = job.B + (nint)p * job.Ldb + jc;
                        for (int r = 0; r < rows; r++)
                        {
                            values[r] = job.TransA ? job.A[(nint)p * job.Lda + i0 + r] : job.A[(nint)(i0 + r) * job.Lda + p];
                        }

                        if (rows == 4)
                        {
                            Axpy4(acc, nc, bRow, values, wide, narrow);
                        }
                        else
                        {
                            for (int r = 0; r < rows; r++)
                            {
                                Axpy1(acc + (nint)r * nc, nc, bRow, values[r], wide, narrow);
                            }
                        }
                    }

                    bool first = kb == 0;
                    bool readC = !(first && job.Beta == 0f);
                    float beta = first ? job.Beta : 1f;
                    for (int r = 0; r < rows; r++)
                    {
                        WriteBack(job.C + (nint)(i0 + r) * job.Ldc + jc, acc + (nint)r * nc, nc, job.Alpha, beta, readC, wide);
                    }

                    pc += kc;
                }

                ApplyEpilogue(in job, i0, i0 + rows, jc, jc + nc);
            }
        }
    }

    /// <summary><c>acc[j] = fma(x, b[j], acc[j])</c> for j &lt; n.</summary>
    private static unsafe void Axpy1(float* acc, int n, float* b, float x, bool wide, bool narrow)
    {
        int j = 0;
        if (narrow)
        {
            // The 128-bit path (ARM64): AVX2 may not exist here.
            Vector128<float> qx = Vector128.Create(x);
            for (; j + 4 <= n; j += 4)
            {
                Vector128.Store(Vector128.FusedMultiplyAdd(qx, Vector128.Load(b + j), Vector128.Load(acc + j)), acc + j);
            }

            for (; j < n; j++)
            {
                acc[j] = MathF.FusedMultiplyAdd(x, b[j], acc[j]);
            }

            return;
        }

        if (wide)
        {
            Vector512<float> vx = Vector512.Create(x);
            for (; j + 16 <= n; j += 16)
            {
                Vector512.Store(Avx512F.FusedMultiplyAdd(vx, Vector512.Load(b + j), Vector512.Load(acc + j)), acc + j);
            }
        }

        Vector256<float> hx = Vector256.Create(x);
        for (; j + 8 <= n; j += 8)
        {
            Vector256.Store(Fma.MultiplyAdd(hx, Vector256.Load(b + j), Vector256.Load(acc + j)), acc + j);
        }

        for (; j < n; j++)
        {
            acc[j] = MathF.FusedMultiplyAdd(x, b[j], acc[j]);
        }
    }

    /// <summary>Four accumulator rows (n apart) at once, sharing each load of <paramref name="b"/>.</summary>
    private static unsafe void Axpy4(float* acc, int n, float* b, float* x, bool wide, bool narrow)
    {
        float* acc1 = acc + n, acc2 = acc1 + n, acc3 = acc2 + n;
        if (narrow)
        {
            for (int r = 0; r < 4; r++)
            {
                Axpy1(acc + (nint)r * n, n, b, x[r], wide, narrow);
            }

            return;
        }

        int j = 0;
        if (wide)
        {
            Vector512<float> x0 = Vector512.Create(x[0]), x1 = Vector512.Create(x[1]);
            Vector512<float> x2 = Vector512.Create(x[2]), x3 = Vector512.Create(x[3]);
            for (; j + 16 <= n; j += 16)
            {
                Vector512<float> bj = Vector512.Load(b + j);
                Vector512.Store(Avx512F.FusedMultiplyAdd(x0, bj, Vector512.Load(acc + j)), acc + j);
                Vector512.Store(Avx512F.FusedMultiplyAdd(x1, bj, Vector512.Load(acc1 + j)), acc1 + j);
                Vector512.Store(Avx512F.FusedMultiplyAdd(x2, bj, Vector512.Load(acc2 + j)), acc2 + j);
                Vector512.Store(Avx512F.FusedMultiplyAdd(x3, bj, Vector512.Load(acc3 + j)), acc3 + j);
            }
        }

        Vector256<float> h0 = Vector256.Create(x[0]), h1 = Vector256.Create(x[1]);
        Vector256<float> h2 = Vector256.Create(x[2]), h3 = Vector256.Create(x[3]);
        for (; j + 8 <= n; j += 8)
        {
            Vector256<float> bj = Vector256.Load(b + j);
            Vector256.Store(Fma.MultiplyAdd(h0, bj, Vector256.Load(acc + j)), acc + j);
            Vector256.Store(Fma.MultiplyAdd(h1, bj, Vector256.Load(acc1 + j)), acc1 + j);
            Vector256.Store(Fma.MultiplyAdd(h2, bj, Vector256.Load(acc2 + j)), acc2 + j);
            Vector256.Store(Fma.MultiplyAdd(h3, bj, Vector256.Load(acc3 + j)), acc3 + j);
        }

        for (; j < n; j++)
        {
            acc[j] = MathF.FusedMultiplyAdd(x[0], b[j], acc[j]);
            acc1[j] = MathF.FusedMultiplyAdd(x[1], b[j], acc1[j]);
            acc2[j] = MathF.FusedMultiplyAdd(x[2], b[j], acc2[j]);
            acc3[j] = MathF.FusedMultiplyAdd(x[3], b[j], acc3[j]);
        }
    }

    /// <summary><c>c = alpha·acc + beta·c</c> as <c>fma(c, beta, alpha·acc)</c>, the micro-kernels' write-back.</summary>
    private static unsafe void WriteBack(float* c, float* acc, int n, float alpha, float beta, bool readC, bool wide)
    {
        int j = 0;
        if (wide)
        {
            Vector512<float> va = Vector512.Create(alpha), vb = Vector512.Create(beta);
            for (; j + 16 <= n; j += 16)
            {
                Vector512<float> r = Avx512F.Multiply(Vector512.Load(acc + j), va);
                if (readC)
                {
                    r = Avx512F.FusedMultiplyAdd(Vector512.Load(c + j), vb, r);
                }

                Vector512.Store(r, c + j);
            }
        }

        for (; j < n; j++)
        {
            float r = alpha * acc[j];
            c[j] = readC ? MathF.FusedMultiplyAdd(c[j], beta, r) : r;
        }
    }
}
