using System.Diagnostics;
using System.Globalization;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Benchmarks;

/// <summary>
/// <c>-- gemmprobe [threads]</c>: the quick runner's GEMM shapes timed by the process's CPU time instead of the wall
/// clock, GFLOP/s per CPU-second and as a share of one core's measured peak (<see cref="FmaPeak"/>). On a shared machine the wall clock
/// measures the other users as much as the kernel; CPU time on one thread measures the kernel (caches shared with the
/// neighbours still blur it a little). Takes <c>--path</c> like the quick runner, or <c>DOTNET_EnableAVX512=0</c>; <c>--only text</c> keeps the shapes whose name contains it.
/// </summary>
internal static class GemmProbe
{
    /// <summary>The quick runner's CNN's second convolution (32 → 64 channels, 3x3 on 14x14) as the engine runs it on a
    /// chunk of 4 images: forward, weight gradient, column gradient.</summary>
    private static readonly (string Name, bool TransA, bool TransB, int M, int N, int K)[] ConvShapes =
    [
        ("64x784x288 NN (conv fwd)", false, false, 64, 784, 288),
        ("64x288x784 NT (conv dW)", false, true, 64, 288, 784),
        ("288x784x64 TN (conv dcols)", true, false, 288, 784, 64),
    ];

    public static int Run(string[] args)
    {
        int threads = args.Length > 0 && int.TryParse(args[0], out int t) ? t : 1;
        int pathOption = Array.IndexOf(args, "--path");
        if (pathOption >= 0 && pathOption + 1 < args.Length)
        {
            Gemm.ProcessPath = Enum.Parse<GemmPath>(args[pathOption + 1]);
        }

        double peak = FmaPeak.PerCore(Gemm.ActivePath) / 1e9;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"GEMM path {Gemm.ActivePath}, {threads} thread(s), {Gemm.DescribeBlocking(Gemm.ActivePath)}; measured peak {peak:F1} GFLOP/s per core"));
        using var process = Process.GetCurrentProcess();
        int onlyOption = Array.IndexOf(args, "--only");
        string? only = onlyOption >= 0 && onlyOption + 1 < args.Length ? args[onlyOption + 1] : null;
        foreach (var (name, ta, tb, m, n, k) in Workloads.GemmShapes.Concat(ConvShapes).Where(s => only is null || s.Name.Contains(only, StringComparison.OrdinalIgnoreCase)))
        {
            var a = new float[m * k];
            var b = new float[k * n];
            var c = new float[m * n];
            new Rng(1).FillGaussian(a);
            new Rng(2).FillGaussian(b);
            int lda = ta ? m : k, ldb = tb ? k : n;
            void Call() => Gemm.Multiply(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, c, n, threads);
            for (int warm = 0; warm < 5; warm++)
            {
                Call();
            }

            double best = double.MaxValue, bestWall = double.MaxValue;
            for (int round = 0; round < 5; round++)
            {
                process.Refresh();
                var cpu = process.TotalProcessorTime;
                var wall = Stopwatch.StartNew();
                int calls = 0;
                while (wall.Elapsed.TotalSeconds < 0.3)
                {
                    Call();
                    calls++;
                }

                process.Refresh();
                best = Math.Min(best, (process.TotalProcessorTime - cpu).TotalSeconds / calls);
                bestWall = Math.Min(bestWall, wall.Elapsed.TotalSeconds / calls);
            }

            double gflops = 2.0 * m * n * k / best / 1e9;
            double wallGflops = 2.0 * m * n * k / bestWall / 1e9;
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0,-26} {1,8:F1} GFLOP/s per CPU-second  {2,5:P0} of one core's measured peak  {3,8:F1} GFLOP/s wall", name, gflops, gflops / peak, wallGflops));
        }

        return 0;
    }
}
