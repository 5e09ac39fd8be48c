using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using MLNet.Regularization.Tensors;
using Xunit;

namespace MLNet.Regularization.Tests.Tensors;

/// <summary>
/// Checks every GEMM kernel family against <see cref="Gemm.MultiplyReference"/>. The tests go through
/// <see cref="Gemm.MultiplyWithPath"/>, so none of them touches the global <see cref="Gemm.ForcedPath"/>
/// and they can run alongside any other test class.
/// </summary>
public class GemmTests
{
    private static readonly GemmPath[] Paths = [GemmPath.Vector512, GemmPath.Vector256, GemmPath.Vector128, GemmPath.Scalar];

    /// <summary>Shapes (m, n, k): single elements, vectors, awkward edges, several k blocks, MC/NC crossings.</summary>
    private static readonly (int M, int N, int K)[] Shapes =
    [
        (1, 1, 1), (7, 13, 5), (33, 65, 17), (130, 257, 300), (1, 300, 40), (300, 1, 40), (40, 50, 1),
        (1, 1, 600), (8, 32, 256), (6, 16, 7), (17, 33, 513), (600, 70, 20), (9, 2100, 3), (3, 1100, 600), (4, 41, 9),
    ];

    private static readonly (float Alpha, float Beta)[] Scalings = [(1f, 0f), (0.5f, 2f), (1f, 1f), (-1.5f, 0.25f)];

    /// <summary>A fixed seed per case (HashCode.Combine is randomized per process, which would make a failure
    /// impossible to reproduce).</summary>
    private static int Seed(GemmPath path, bool transA, bool transB) => 4 * (int)path + (transA ? 2 : 0) + (transB ? 1 : 0);

    // The kernel family travels as its name: GemmPath is internal and xunit theories must be public.
    public static TheoryData<string, bool, bool> PathsAndTransposes()
    {
        var data = new TheoryData<string, bool, bool>();
        foreach (GemmPath path in Paths)
        {
            foreach (bool transA in new[] { false, true })
            {
                foreach (bool transB in new[] { false, true })
                {
                    data.Add(path.ToString(), transA, transB);
                }
            }
        }

        return data;
    }

    public static TheoryData<string> AllPaths()
    {
        var data = new TheoryData<string>();
        foreach (GemmPath path in Paths)
        {
            data.Add(path.ToString());
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(PathsAndTransposes))]
    public void MatchesReference(string pathName, bool transA, bool transB)
    {
        GemmPath path = Enum.Parse<GemmPath>(pathName);
        var rng = new Random(Seed(path, transA, transB));
        foreach ((int m, int n, int k) in Shapes)
        {
            // The large shapes take only the two scalings that matter most, to keep the suite quick.
            foreach ((float alpha, float beta) in (long)m * n * k > 200_000 ? Scalings[..2] : Scalings)
            {
                foreach (int pad in new[] { 0, 3 })
                {
                    var p = Problem.Create(rng, transA, transB, m, n, k, pad);
                    string label = $"{path} transA={transA} transB={transB} {m}x{n}x{k} alpha={alpha} beta={beta} pad={pad}";
                    p.CheckAgainstReference(path, alpha, beta, threads: 1, label);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(PathsAndTransposes))]
    public void BetaZeroNeverReadsC(string pathName, bool transA, bool transB)
    {
        GemmPath path = Enum.Parse<GemmPath>(pathName);
        var rng = new Random(7);
        foreach ((int m, int n, int k) in new[] { (7, 13, 5), (33, 65, 300), (130, 257, 40) })
        {
            var p = Problem.Create(rng, transA, transB, m, n, k, pad: 2);
            p.FillC(float.NaN);
            float[] expected = p.Reference(1.25f, 0f);
            double[] tolerance = p.Tolerances(1.25f, 0f);
            foreach (int threads in new[] { 1, 2 })
            {
                p.FillC(float.NaN);
                p.Run(path, 1.25f, 0f, threads);
                for (int i = 0; i < m; i++)
                {
                    for (int j = 0; j < n; j++)
                    {
                        float got = p.C[i * p.Ldc + j];
                        Assert.True(float.IsFinite(got), $"{path} {m}x{n}x{k} threads={threads}: C[{i},{j}] = {got}");
                        Assert.True(
                            Math.Abs(got - expected[i * p.Ldc + j]) <= tolerance[i * p.Ldc + j],
                            $"{path} {m}x{n}x{k} threads={threads}: C[{i},{j}] = {got}, reference {expected[i * p.Ldc + j]}");
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(PathsAndTransposes))]
    public void ThreadCountDoesNotChangeAnyBit(string pathName, bool transA, bool transB)
    {
        GemmPath path = Enum.Parse<GemmPath>(pathName);
        var rng = new Random(11);

        // Wide (split by columns), tall (split by rows), square, and narrow (the 16-column kernel) shapes;
        // k spans several k blocks.
        foreach ((int m, int n, int k) in new[] { (130, 1030, 520), (517, 300, 300), (256, 256, 777), (700, 10, 300) })
        {
            foreach ((float alpha, float beta) in new[] { (1f, 0f), (0.5f, 2f) })
            {
                var p = Problem.Create(rng, transA, transB, m, n, k, pad: 1);
                float[] initialC = (float[])p.C.Clone();
                p.Run(path, alpha, beta, threads: 1);
                int[] single = MemoryMarshal.Cast<float, int>(p.C).ToArray();
                foreach (int threads in new[] { 2, 3 })
                {
                    initialC.CopyTo(p.C, 0);
                    p.Run(path, alpha, beta, threads);
                    int[] multi = MemoryMarshal.Cast<float, int>(p.C).ToArray();
                    Assert.True(
                        single.AsSpan().SequenceEqual(multi),
                        $"{path} transA={transA} transB={transB} {m}x{n}x{k} alpha={alpha} beta={beta}: threads={threads} differs from threads=1");
                }

                // And the result is right, not merely reproducible (once per shape: the reference is slow).
                if (beta != 0f)
                {
                    initialC.CopyTo(p.C, 0);
                    p.CheckAgainstReference(path, alpha, beta, threads: 2, $"{path} {m}x{n}x{k} threads=2");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(PathsAndTransposes))]
    public void ARowsBitsDoNotDependOnTheOtherRows(string pathName, bool transA, bool transB)
    {
        // Few-row products may take another route (row streaming) than the packed kernels; within a path,
        // every route must compute an element with the same operations.
        GemmPath path = Enum.Parse<GemmPath>(pathName);
        var p = Problem.Create(new Random(17), transA, transB, 37, 1100, 600, pad: 0);
        float[] initialC = (float[])p.C.Clone();
        p.Run(path, 0.75f, 1.5f, threads: 2);
        foreach ((int first, int rows) in new[] { (0, 1), (5, 2), (17, 3), (33, 4) })
        {
            // op(A) restricted to the chosen rows: for transA those are columns of the stored A.
            float[] c = initialC.AsSpan(first * p.Ldc, rows * p.Ldc).ToArray();
            ReadOnlySpan<float> a = transA ? p.A.AsSpan(first) : p.A.AsSpan(first * p.Lda, rows * p.Lda);
            Gemm.MultiplyWithPath(path, transA, transB, rows, p.N, p.K, 0.75f, a, p.Lda, p.B, p.Ldb, 1.5f, c, p.Ldc, threads: 1);
            Assert.True(
                MemoryMarshal.Cast<float, int>(p.C.AsSpan(first * p.Ldc, rows * p.Ldc)).SequenceEqual(MemoryMarshal.Cast<float, int>(c.AsSpan())),
                $"{path} transA={transA} transB={transB}: rows {first}..{first + rows - 1} alone differ from the full product");
        }
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public void ManyQuickParallelCallsGetTheSameBits(string pathName)
    {
        // Products just above the parallel threshold, back to back: some parts are run by the worker, some
        // are taken back by the caller before the worker starts them; either way the bits must not change.
        GemmPath path = Enum.Parse<GemmPath>(pathName);
        var p = Problem.Create(new Random(19), transA: false, transB: false, 72, 130, 128, pad: 0);
        float[] initialC = (float[])p.C.Clone();
        p.Run(path, 1f, 1f, threads: 1);
        int[] expected = MemoryMarshal.Cast<float, int>(p.C).ToArray();
        for (int call = 0; call < 300; call++)
        {
            initialC.CopyTo(p.C, 0);
            p.Run(path, 1f, 1f, threads: 2);
            Assert.True(expected.AsSpan().SequenceEqual(MemoryMarshal.Cast<float, int>(p.C)), $"{path}: call {call} differs");
        }
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public void ConcurrentCallersGetTheSameBits(string pathName)
    {
        // Several threads ask for 2 workers at once: one owns the worker pool, the others run alone.
        GemmPath path = Enum.Parse<GemmPath>(pathName);
        var rng = new Random(13);
        Problem[] problems = Enumerable.Range(0, 4)
            .Select(i => Problem.Create(rng, transA: i % 2 == 1, transB: i >= 2, 150 + i, 200 - i, 300, pad: 0))
            .ToArray();
        float[][] initial = problems.Select(p => (float[])p.C.Clone()).ToArray();
        int[][] expected = problems.Select(p =>
        {
            p.Run(path, 1f, 0.5f, threads: 1);
            return MemoryMarshal.Cast<float, int>(p.C).ToArray();
        }).ToArray();

        for (int round = 0; round < 5; round++)
        {
            for (int i = 0; i < problems.Length; i++)
            {
                initial[i].CopyTo(problems[i].C, 0);
            }

            Parallel.For(0, problems.Length, new ParallelOptions { MaxDegreeOfParallelism = problems.Length }, i =>
            {
                for (int repeat = 0; repeat < 3; repeat++)
                {
                    initial[i].CopyTo(problems[i].C, 0);
                    problems[i].Run(path, 1f, 0.5f, threads: 2);
                }
            });

            for (int i = 0; i < problems.Length; i++)
            {
                Assert.True(
                    expected[i].AsSpan().SequenceEqual(MemoryMarshal.Cast<float, int>(problems[i].C)),
                    $"{path}: concurrent call {i} in round {round} differs from the sequential result");
            }
        }
    }

    [Theory]
    [MemberData(nameof(PathsAndTransposes))]
    public void EpilogueGivesTheBitsOfSeparateBiasAndReluPasses(string pathName, bool transA, bool transB)
    {
        GemmPath path = Enum.Parse<GemmPath>(pathName);
        var rng = new Random(31 + Seed(path, transA, transB));

        // Edge tiles, one row (the row-streaming path when B is not transposed), several k blocks, k = 0, and a
        // product large enough to be split over threads.
        int clamped = 0;
        foreach ((int m, int n, int k) in new[] { (7, 13, 5), (1, 300, 40), (4, 41, 9), (33, 65, 600), (130, 1030, 300), (5, 9, 0) })
        {
            foreach (int threads in new[] { 1, 2 })
            {
                var p = Problem.Create(rng, transA, transB, m, n, k, pad: 3);

                // One bias per column (Dense), then one per row (a convolution's bias per output plane).
                foreach (bool perRow in new[] { false, true })
                {
                    float[] bias = Enumerable.Range(0, perRow ? m : n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
                    float[] expected = (float[])p.C.Clone();
                    Gemm.MultiplyWithPath(path, transA, transB, m, n, k, 1f, p.A, p.Lda, p.B, p.Ldb, 0f, expected, p.Ldc, threads);
                    for (int i = 0; i < m; i++)
                    {
                        var row = expected.AsSpan(i * p.Ldc, n);
                        if (perRow)
                        {
                            System.Numerics.Tensors.TensorPrimitives.Add(row, bias[i], row);
                        }
                        else
                        {
                            System.Numerics.Tensors.TensorPrimitives.Add(row, bias, row);
                        }

                        System.Numerics.Tensors.TensorPrimitives.Max(row, 0f, row);
                    }

                    Gemm.MultiplyWithPath(path, transA, transB, m, n, k, 1f, p.A, p.Lda, p.B, p.Ldb, 0f, p.C, p.Ldc, threads, bias, GemmActivation.ReLU, perRow);
                    Assert.True(
                        MemoryMarshal.Cast<float, int>(expected).SequenceEqual(MemoryMarshal.Cast<float, int>(p.C)),
                        $"{path} transA={transA} transB={transB} {m}x{n}x{k} threads={threads} bias per {(perRow ? "row" : "column")}: the epilogue differs from separate passes (or wrote the padding)");
                    if (!perRow)
                    {
                        clamped += p.C.Count(v => v == 0f);
                    }
                }
            }
        }

        Assert.True(clamped > 100, $"the ReLU clamped only {clamped} values"); // the activation really acted
    }

    [Fact]
    public void EpilogueRejectsABiasOfTheWrongLength()
    {
        var e = Assert.Throws<ArgumentException>(() => Gemm.MultiplyAddBias(false, false, 2, 3, 4, new float[8], 4, new float[12], 3, new float[2], GemmActivation.None, new float[6], 3));
        Assert.Contains("bias has 2 values for 3 columns", e.Message);
        e = Assert.Throws<ArgumentException>(() => Gemm.MultiplyAddRowBias(false, false, 2, 3, 4, new float[8], 4, new float[12], 3, new float[3], GemmActivation.None, new float[6], 3));
        Assert.Contains("bias has 3 values for 2 rows", e.Message);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public void ZeroDepthOrZeroAlphaScalesC(string pathName)
    {
        GemmPath path = Enum.Parse<GemmPath>(pathName);
        var rng = new Random(3);
        foreach (int k in new[] { 0, 9 })
        {
            var p = Problem.Create(rng, transA: false, transB: true, 5, 6, k, pad: 1);
            float alpha = k == 0 ? 1f : 0f;
            if (k > 0)
            {
                p.A.AsSpan().Fill(float.NaN); // alpha = 0: A and B are not read, as in BLAS
            }

            float[] before = (float[])p.C.Clone();
            p.Run(path, alpha, 3f, threads: 1);
            for (int i = 0; i < 5; i++)
            {
                for (int j = 0; j < 6; j++)
                {
                    Assert.Equal(3f * before[i * p.Ldc + j], p.C[i * p.Ldc + j]);
                }
            }

            p.FillC(float.NaN);
            p.Run(path, alpha, 0f, threads: 1);
            for (int i = 0; i < 5; i++)
            {
                for (int j = 0; j < 6; j++)
                {
                    Assert.Equal(0f, p.C[i * p.Ldc + j]);
                }
            }
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void FmaPathsAgreeBitForBit(bool transA, bool transB)
    {
        // AVX-512, AVX2 and 128-bit kernels sum each element in the same k blocks with one fused multiply-add per step,
        // so a model gives the same bits on an AVX-512 server, an AVX2 laptop and an ARM64 machine.
        foreach ((int m, int n, int k) in new[] { (1, 300, 40), (4, 41, 600), (37, 1030, 520), (300, 10, 300) })
        {
            var p = Problem.Create(new Random(23), transA, transB, m, n, k, pad: 1);
            float[] initialC = (float[])p.C.Clone();
            int[]? first = null;
            foreach (GemmPath path in new[] { GemmPath.Vector512, GemmPath.Vector256, GemmPath.Vector128 })
            {
                initialC.CopyTo(p.C, 0);
                p.Run(path, 0.5f, 1.5f, threads: 2);
                int[] bits = MemoryMarshal.Cast<float, int>(p.C).ToArray();
                first ??= bits;
                Assert.True(first.AsSpan().SequenceEqual(bits), $"{Gemm.Resolve(path)} transA={transA} transB={transB} {m}x{n}x{k} differs from the widest path");
            }
        }
    }

    [Fact]
    public void PublicEntryMatchesReference()
    {
        Assert.Equal(Gemm.Resolve(Gemm.ForcedPath), Gemm.ActivePath);
        var p = Problem.Create(new Random(5), transA: true, transB: false, 65, 70, 130, pad: 0);
        float[] expected = p.Reference(1f, 0f);
        double[] tolerance = p.Tolerances(1f, 0f);
        Gemm.Multiply(p.TransA, p.TransB, 65, 70, 130, 1f, p.A, p.Lda, p.B, p.Ldb, 0f, p.C, p.Ldc, threads: 2);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(p.C[i] - expected[i]) <= tolerance[i]);
        }
    }

    [Fact]
    public void ForcedPathFallsBackToWhatTheHardwareHas()
    {
        bool has512 = Avx512F.IsSupported, has256 = Avx.IsSupported && Fma.IsSupported;
        bool has128 = System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated
            && (Fma.IsSupported || System.Runtime.Intrinsics.Arm.AdvSimd.Arm64.IsSupported);
        GemmPath narrowest = has128 ? GemmPath.Vector128 : GemmPath.Scalar;
        GemmPath widest = has512 ? GemmPath.Vector512 : has256 ? GemmPath.Vector256 : narrowest;
        Assert.Equal(widest, Gemm.Resolve(GemmPath.Auto));
        Assert.Equal(widest, Gemm.Resolve(GemmPath.Vector512));
        Assert.Equal(has256 ? GemmPath.Vector256 : narrowest, Gemm.Resolve(GemmPath.Vector256));
        Assert.Equal(narrowest, Gemm.Resolve(GemmPath.Vector128));
        Assert.Equal(GemmPath.Scalar, Gemm.Resolve(GemmPath.Scalar));

        // ARM64 has no AVX: there the 128-bit path is the automatic choice.
        if (System.Runtime.Intrinsics.Arm.AdvSimd.Arm64.IsSupported)
        {
            Assert.Equal(GemmPath.Vector128, Gemm.Resolve(GemmPath.Auto));
        }
    }

    [Fact]
    public void RejectsOperandsThatAreTooSmall()
    {
        float[] a = new float[6], b = new float[6], c = new float[4];
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 2, b, 2, 0f, c, 2));
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 3, b, 2, 0f, c, 3));
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 3, 3, 1f, a, 3, b, 3, 0f, c, 3));
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, -1, 2, 3, 1f, a, 3, b, 2, 0f, c, 2));
    }

    /// <summary>One random GEMM problem with leading dimensions <c>pad</c> wider than the rows.</summary>
    private sealed class Problem
    {
        private const float Sentinel = 12345.5f;

        public bool TransA, TransB;
        public int M, N, K, Lda, Ldb, Ldc;
        public float[] A = [], B = [], C = [];

        public static Problem Create(Random rng, bool transA, bool transB, int m, int n, int k, int pad)
        {
            var p = new Problem { TransA = transA, TransB = transB, M = m, N = n, K = k };
            int aRows = transA ? k : m, aCols = transA ? m : k;
            int bRows = transB ? n : k, bCols = transB ? k : n;
            p.Lda = aCols + pad;
            p.Ldb = bCols + pad;
            p.Ldc = n + pad;
            p.A = Random(rng, aRows * p.Lda);
            p.B = Random(rng, bRows * p.Ldb);
            p.C = Random(rng, m * p.Ldc);
            for (int i = 0; i < m; i++)
            {
                p.C.AsSpan(i * p.Ldc + n, pad).Fill(Sentinel); // the padding must never be written
            }

            return p;
        }

        public void FillC(float value)
        {
            for (int i = 0; i < M; i++)
            {
                C.AsSpan(i * Ldc, N).Fill(value);
            }
        }

        public void Run(GemmPath path, float alpha, float beta, int threads) =>
            Gemm.MultiplyWithPath(path, TransA, TransB, M, N, K, alpha, A, Lda, B, Ldb, beta, C, Ldc, threads);

        public float[] Reference(float alpha, float beta)
        {
            float[] expected = (float[])C.Clone();
            Gemm.MultiplyReference(TransA, TransB, M, N, K, alpha, A, Lda, B, Ldb, beta, expected, Ldc);
            return expected;
        }

        /// <summary>
        /// Per-element tolerances (indexed like C) for comparing against the reference. Both implementations
        /// compute each element with at most n = 2k + 4 roundings along any term's path (k for the sum — in any
        /// order —, one per k block where the partial result is re-added to C, and the alpha/beta updates), so
        /// each is within γ_n·S of the exact value, where γ_n = n·u/(1 − n·u), u = 2⁻²⁴ and
        /// S = |alpha|·Σ_p |op(A)[i,p]|·|op(B)[p,j]| + |beta·C[i,j]| (Higham, Accuracy and Stability of Numerical
        /// Algorithms, §3.1). Their difference is therefore at most 2·γ_n·S. The bound is a worst case, yet a
        /// wrong or missing term (of size ~|a·b|, about S/k) exceeds it by orders of magnitude. S itself is
        /// computed in float by the reference on |A| and |B|; the 1% margin covers its own rounding (≤ γ_k).
        /// </summary>
        public double[] Tolerances(float alpha, float beta)
        {
            float[] absA = A.Select(Math.Abs).ToArray(), absB = B.Select(Math.Abs).ToArray();
            float[] sums = new float[C.Length];
            Gemm.MultiplyReference(TransA, TransB, M, N, K, 1f, absA, Lda, absB, Ldb, 0f, sums, Ldc);
            double n = 2.0 * K + 4, u = Math.Pow(2, -24), gamma = n * u / (1 - n * u);
            double[] tolerances = new double[C.Length];
            for (int i = 0; i < M; i++)
            {
                for (int j = 0; j < N; j++)
                {
                    int at = i * Ldc + j;
                    double s = Math.Abs(alpha) * sums[at] + (beta == 0f ? 0 : Math.Abs((double)beta * C[at]));
                    tolerances[at] = 1.01 * 2 * gamma * s + 1e-30;
                }
            }

            return tolerances;
        }

        public void CheckAgainstReference(GemmPath path, float alpha, float beta, int threads, string label)
        {
            float[] expected = Reference(alpha, beta);
            double[] tolerance = Tolerances(alpha, beta); // from C before the call

            Run(path, alpha, beta, threads);
            for (int i = 0; i < M; i++)
            {
                for (int j = 0; j < N; j++)
                {
                    float got = C[i * Ldc + j], want = expected[i * Ldc + j];
                    Assert.True(
                        Math.Abs(got - want) <= tolerance[i * Ldc + j],
                        $"{label}: C[{i},{j}] = {got}, reference {want}, tolerance {tolerance[i * Ldc + j]:G3}");
                }

                for (int j = N; j < Ldc; j++)
                {
                    Assert.True(C[i * Ldc + j] == Sentinel, $"{label}: padding C[{i},{j}] was overwritten");
                }
            }
        }

        private static float[] Random(Random rng, int length)
        {
            float[] values = new float[length];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = (float)(rng.NextDouble() * 2 - 1);
            }

            return values;
        }
    }
}
