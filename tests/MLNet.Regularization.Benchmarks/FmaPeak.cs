using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Benchmarks;

/// <summary>
/// The peak FLOP/s one core reaches on a GEMM path, measured: twelve independent chains of fused multiply-adds on
/// the path's vectors (separate multiplies and adds on the scalar path, as its kernel does), no memory traffic, on
/// the calling thread, best of several short runs. Unlike a peak computed from a nominal clock it counts the clock
/// the core really runs at (boost included) and how the hardware executes the width (Zen 4 splits a 512-bit FMA in
/// two), so a GEMM row's share of it says how far the kernel is from the limit.
/// </summary>
internal static class FmaPeak
{
    private const int Iterations = 1 << 22;

    private static readonly Dictionary<GemmPath, double> s_measured = [];

    /// <summary>Measured FLOP/s of one core on <paramref name="path"/> (measured once per process).</summary>
    public static double PerCore(GemmPath path)
    {
        path = Gemm.Resolve(path);
        lock (s_measured)
        {
            if (!s_measured.TryGetValue(path, out double flops))
            {
                flops = Measure(path);
                s_measured[path] = flops;
            }

            return flops;
        }
    }

    private static double Measure(GemmPath path)
    {
        Func<int, float> run = path switch
        {
            GemmPath.Vector512 => Chains512,
            GemmPath.Vector256 => Chains256,
            GemmPath.Vector128 => Chains128,
            _ => ChainsScalar,
        };
        int lanes = path switch { GemmPath.Vector512 => 16, GemmPath.Vector256 => 8, GemmPath.Vector128 => 4, _ => 1 };
        float sink = run(Iterations / 16); // warm-up (tiered JIT)
        double best = double.MaxValue;
        for (int round = 0; round < 7; round++)
        {
            long start = Stopwatch.GetTimestamp();
            sink += run(Iterations);
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }

        if (float.IsNaN(sink))
        {
            throw new InvalidOperationException("The FMA chains diverged.");
        }

        return (double)Iterations * 12 * lanes * 2 / best;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains512(int iterations)
    {
        var x = Vector512.Create(0.999999f);
        var y = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512<float>.One, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
        Vector512<float> a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (int i = 0; i < iterations; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(a0, x, y);
            a1 = Avx512F.FusedMultiplyAdd(a1, x, y);
            a2 = Avx512F.FusedMultiplyAdd(a2, x, y);
            a3 = Avx512F.FusedMultiplyAdd(a3, x, y);
            a4 = Avx512F.FusedMultiplyAdd(a4, x, y);
            a5 = Avx512F.FusedMultiplyAdd(a5, x, y);
            a6 = Avx512F.FusedMultiplyAdd(a6, x, y);
            a7 = Avx512F.FusedMultiplyAdd(a7, x, y);
            a8 = Avx512F.FusedMultiplyAdd(a8, x, y);
            a9 = Avx512F.FusedMultiplyAdd(a9, x, y);
            a10 = Avx512F.FusedMultiplyAdd(a10, x, y);
            a11 = Avx512F.FusedMultiplyAdd(a11, x, y);
        }

        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains256(int iterations)
    {
        var x = Vector256.Create(0.999999f);
        var y = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256<float>.One, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
        Vector256<float> a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (int i = 0; i < iterations; i++)
        {
            a0 = Fma.MultiplyAdd(a0, x, y);
            a1 = Fma.MultiplyAdd(a1, x, y);
            a2 = Fma.MultiplyAdd(a2, x, y);
            a3 = Fma.MultiplyAdd(a3, x, y);
            a4 = Fma.MultiplyAdd(a4, x, y);
            a5 = Fma.MultiplyAdd(a5, x, y);
            a6 = Fma.MultiplyAdd(a6, x, y);
            a7 = Fma.MultiplyAdd(a7, x, y);
            a8 = Fma.MultiplyAdd(a8, x, y);
            a9 = Fma.MultiplyAdd(a9, x, y);
            a10 = Fma.MultiplyAdd(a10, x, y);
            a11 = Fma.MultiplyAdd(a11, x, y);
        }

        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains128(int iterations)
    {
        var x = Vector128.Create(0.999999f);
        var y = Vector128.Create(1e-7f);
        Vector128<float> a0 = Vector128<float>.One, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
        Vector128<float> a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (int i = 0; i < iterations; i++)
        {
            a0 = Vector128.FusedMultiplyAdd(a0, x, y);
            a1 = Vector128.FusedMultiplyAdd(a1, x, y);
            a2 = Vector128.FusedMultiplyAdd(a2, x, y);
            a3 = Vector128.FusedMultiplyAdd(a3, x, y);
            a4 = Vector128.FusedMultiplyAdd(a4, x, y);
            a5 = Vector128.FusedMultiplyAdd(a5, x, y);
            a6 = Vector128.FusedMultiplyAdd(a6, x, y);
            a7 = Vector128.FusedMultiplyAdd(a7, x, y);
            a8 = Vector128.FusedMultiplyAdd(a8, x, y);
            a9 = Vector128.FusedMultiplyAdd(a9, x, y);
            a10 = Vector128.FusedMultiplyAdd(a10, x, y);
            a11 = Vector128.FusedMultiplyAdd(a11, x, y);
        }

        return Vector128.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float ChainsScalar(int iterations)
    {
        const float X = 0.999999f, Y = 1e-7f;
        float a0 = 1, a1 = 1, a2 = 1, a3 = 1, a4 = 1, a5 = 1, a6 = 1, a7 = 1, a8 = 1, a9 = 1, a10 = 1, a11 = 1;
        for (int i = 0; i < iterations; i++)
        {
            a0 = a0 * X + Y;
            a1 = a1 * X + Y;
            a2 = a2 * X + Y;
            a3 = a3 * X + Y;
            a4 = a4 * X + Y;
            a5 = a5 * X + Y;
            a6 = a6 * X + Y;
            a7 = a7 * X + Y;
            a8 = a8 * X + Y;
            a9 = a9 * X + Y;
            a10 = a10 * X + Y;
            a11 = a11 * X + Y;
        }

        return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    }
}
