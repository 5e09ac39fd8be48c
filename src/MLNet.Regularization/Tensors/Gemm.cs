using System.Numerics.Tensors;

namespace MLNet.Regularization.Tensors;

/// <summary>
/// Single-precision matrix multiply on row-major storage:
/// <c>C[m×n] = alpha · op(A) · op(B) + beta · C</c>, where <c>op(A)</c> is m×k (A itself is k×m when
/// transA) and <c>op(B)</c> is k×n (B is n×k when transB).
/// </summary>
/// <remarks>
/// Every element of C is accumulated over k in the same order whatever the thread count, so results are
/// bit-identical with 1 or many threads: threads only split the rows/columns of C, never the k sum.
/// </remarks>
internal static partial class Gemm
{
    /// <summary>Computes <c>C = alpha·op(A)·op(B) + beta·C</c>.</summary>
    public static void Multiply(
        bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc, int threads = 1)
    {
        Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0)
        {
            return;
        }

        MultiplyReference(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
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
}
