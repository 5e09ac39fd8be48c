namespace MLNet.Regularization.Tensors;

/// <summary>The cache blocking of the packed GEMM, derived from this machine's caches at run time.</summary>
internal static partial class Gemm
{
    /// <summary>
    /// The block sizes a micro-kernel runs with: <c>MC</c> rows of op(A) and <c>NC</c> columns of op(B) packed at
    /// once, <c>KC</c> deep.
    /// </summary>
    /// <remarks>
    /// BLIS's analytical model (Low et al., 2016, "Analytical modeling is enough for high-performance BLIS") sizes
    /// each block for one cache level: the KC×NR micro-panel of B for L1, the MC×KC block of A for L2, the KC×NC
    /// block of B for L3. Here KC is the one exception: it decides the order of the k sum (an element of C is
    /// summed block by block), so it stays <see cref="FmaKBlock"/> on every machine and every FMA path, which keeps
    /// a result's bits independent of the cache it ran on; 256 floats deep keeps the B micro-panel of the widest
    /// kernel (32 columns, 32 KB) within any L1 from 32 KB up for the vector paths. MC fills a quarter of L2 (the
    /// rest holds the B micro-panels streaming through, the C tiles and whatever the other hardware thread of the
    /// core brings: half of L2 measured no better here), NC a share of L3 per core, both clamped to what real
    /// caches make sensible and rounded to whole micro-tiles.
    /// </remarks>
    internal readonly record struct Blocking(int MC, int KC, int NC)
    {
        public override string ToString() => $"MC={MC}, KC={KC}, NC={NC}";
    }

    /// <summary>The blocking for a micro-tile of <paramref name="mr"/>×<paramref name="nr"/> and depth <paramref name="kc"/>,
    /// given the cache sizes.</summary>
    internal static Blocking BlockingFor(int mr, int nr, int kc, CacheSizes caches)
    {
        const int FloatBytes = sizeof(float);
        long aBytes = caches.L2 / 4;
        int mc = (int)Math.Clamp(aBytes / (kc * FloatBytes), 4L * mr, 1024L);
        mc -= mc % mr;

        // L3 is shared by the cores; without one, B's block competes with A's in L2.
        long bBytes = caches.L3 > 0 ? caches.L3 / (2L * Math.Max(1, Environment.ProcessorCount)) : caches.L2 / 2;
        int nc = (int)Math.Clamp(bBytes / (kc * FloatBytes), 8L * nr, 4096L);
        nc -= nc % nr;
        return new Blocking(mc, kc, nc);
    }

    /// <summary>The blocking of the main micro-kernel of <paramref name="path"/> on this machine, for the benchmark runner's header.</summary>
    internal static string DescribeBlocking(GemmPath path)
    {
        (int mr, int nr, Blocking b) = Resolve(path) switch
        {
            GemmPath.Vector512 => (Kernel512.MR, Kernel512.NR, BlockingOf<Kernel512>.Value),
            GemmPath.Vector256 => (Kernel256.MR, Kernel256.NR, BlockingOf<Kernel256>.Value),
            GemmPath.Vector128 => (Kernel128.MR, Kernel128.NR, BlockingOf<Kernel128>.Value),
            _ => (KernelScalar.MR, KernelScalar.NR, BlockingOf<KernelScalar>.Value),
        };
        return $"micro-tile {mr}x{nr}, {b}";
    }

    /// <summary>Each kernel's blocking, computed once per process.</summary>
    private static class BlockingOf<TKernel>
        where TKernel : struct, IMicroKernel
    {
        public static readonly Blocking Value = BlockingFor(TKernel.MR, TKernel.NR, TKernel.KC, MachineInfo.Caches);
    }
}
