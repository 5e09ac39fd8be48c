using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace MLNet.Regularization.Tensors;

/// <summary>Data cache sizes in bytes, per core for L1 and L2 and per package for L3, and where they came from.</summary>
/// <param name="L1">Level-1 data cache.</param>
/// <param name="L2">Level-2 cache.</param>
/// <param name="L3">Level-3 cache (0 when there is none).</param>
/// <param name="Source">"sysfs", "cpuid" or "defaults".</param>
internal readonly record struct CacheSizes(long L1, long L2, long L3, string Source)
{
    /// <summary>What a machine is assumed to have when the OS and the CPU say nothing: a modest desktop core.</summary>
    public static CacheSizes Defaults => new(32 * 1024, 256 * 1024, 8L * 1024 * 1024, "defaults");
}

/// <summary>
/// What the kernels know about the machine they run on: the CPU's name, its data caches (which size the GEMM's
/// cache blocks) and a peak FLOP/s figure the benchmark runner measures against. Read once per process.
/// </summary>
/// <remarks>
/// Cache sizes come from Linux sysfs (<c>/sys/devices/system/cpu/cpu0/cache/index*</c>), else, on x86, from the
/// CPU itself (CPUID leaf 4 on Intel, 0x8000001D on AMD: containers and sandboxes often hide sysfs), else from
/// <see cref="CacheSizes.Defaults"/>. Each value is checked for plausibility, so a hypervisor reporting nonsense
/// cannot make a blocking factor absurd.
/// </remarks>
internal static class MachineInfo
{
    private static readonly Lazy<CacheSizes> s_caches = new(ReadCaches);
    private static readonly Lazy<string> s_model = new(ReadModel);

    /// <summary>The data cache sizes of this machine.</summary>
    public static CacheSizes Caches => s_caches.Value;

    /// <summary>The CPU's marketing name, or the architecture when the OS does not say.</summary>
    public static string CpuModel => s_model.Value;

    /// <summary>
    /// Peak single-precision FLOP/s of one core on a GEMM path, with its assumptions spelled out: the clock
    /// (from cpufreq, else /proc/cpuinfo, else an assumed 2.5 GHz), two FMA pipes per core whose width is the
    /// path's vector (so AVX-512 doubles AVX2's peak), except AMD family 19h (Zen 4), which runs a 512-bit FMA as
    /// two 256-bit halves, and the scalar path at two scalar FMAs per cycle. A nominal figure the benchmark runner
    /// prints beside the peak it measures (a boosting core exceeds it), never used to choose anything.
    /// </summary>
    public static (double FlopsPerCore, string Assumption) PeakPerCore(GemmPath path)
    {
        (double ghz, string clockSource) = Clock();
        int lanes = path switch
        {
            GemmPath.Vector512 => IsZen4() ? 8 : 16,
            GemmPath.Vector256 => 8,
            GemmPath.Vector128 => 4,
            _ => 1,
        };
        double flopsPerCycle = 2 /* pipes */ * lanes * 2 /* multiply + add */;
        string note = path == GemmPath.Vector512 && IsZen4() ? ", 512-bit FMA double-pumped (Zen 4)" : "";
        return (ghz * 1e9 * flopsPerCycle, $"{ghz:F2} GHz ({clockSource}) x 2 FMA pipes x {lanes} lanes x 2 = {flopsPerCycle:F0} flop/cycle{note}");
    }

    private static CacheSizes ReadCaches()
    {
        CacheSizes? found = null;
        try
        {
            found = FromSysfs();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            // Fall through to CPUID.
        }

        if (found is null && X86Base.IsSupported)
        {
            found = FromCpuid();
        }

        return found is { } caches ? Sanitize(caches) : CacheSizes.Defaults;
    }

    /// <summary>Keeps each level within what real CPUs have, replacing an implausible one by its default.</summary>
    private static CacheSizes Sanitize(CacheSizes c)
    {
        var d = CacheSizes.Defaults;
        long l1 = c.L1 is >= 8 * 1024 and <= 1024 * 1024 ? c.L1 : d.L1;
        long l2 = c.L2 is >= 64 * 1024 and <= 64L * 1024 * 1024 ? c.L2 : d.L2;
        long l3 = c.L3 == 0 || c.L3 is >= 512 * 1024 and <= 2048L * 1024 * 1024 ? c.L3 : d.L3;
        return new CacheSizes(l1, l2, l3, c.Source);
    }

    private static CacheSizes? FromSysfs()
    {
        const string Root = "/sys/devices/system/cpu/cpu0/cache";
        if (!Directory.Exists(Root))
        {
            return null;
        }

        long l1 = 0, l2 = 0, l3 = 0;
        foreach (string index in Directory.GetDirectories(Root, "index*"))
        {
            string type = File.ReadAllText(Path.Combine(index, "type")).Trim();
            if (type == "Instruction")
            {
                continue;
            }

            int level = int.Parse(File.ReadAllText(Path.Combine(index, "level")).Trim(), CultureInfo.InvariantCulture);
            long size = ParseSize(File.ReadAllText(Path.Combine(index, "size")).Trim());
            switch (level)
            {
                case 1: l1 = size; break;
                case 2: l2 = size; break;
                case 3: l3 = size; break;
            }
        }

        return l1 > 0 && l2 > 0 ? new CacheSizes(l1, l2, l3, "sysfs") : null;
    }

    /// <summary>"48K", "1024K", "32M" or a plain byte count.</summary>
    internal static long ParseSize(string text)
    {
        long scale = 1;
        if (text.EndsWith('K'))
        {
            scale = 1024;
        }
        else if (text.EndsWith('M'))
        {
            scale = 1024 * 1024;
        }

        string digits = scale == 1 ? text : text[..^1];
        return long.Parse(digits, CultureInfo.InvariantCulture) * scale;
    }

    /// <summary>Walks the deterministic cache parameters leaf (4 on Intel, 0x8000001D on AMD).</summary>
    private static CacheSizes? FromCpuid()
    {
        (int maxExtended, _, _, _) = X86Base.CpuId(unchecked((int)0x80000000), 0);
        (_, int vendorB, _, _) = X86Base.CpuId(0, 0);
        bool amd = vendorB == 0x68747541; // "Auth" of AuthenticAMD
        int leaf = amd ? unchecked((int)0x8000001D) : 4;
        if (amd && (uint)maxExtended < 0x8000001D)
        {
            return AmdLegacyLeaves(maxExtended);
        }

        long l1 = 0, l2 = 0, l3 = 0;
        for (int sub = 0; sub < 16; sub++)
        {
            (int eax, int ebx, int ecx, _) = X86Base.CpuId(leaf, sub);
            int type = eax & 0x1F; // 0 none, 1 data, 2 instruction, 3 unified
            if (type == 0)
            {
                break;
            }

            if (type == 2)
            {
                continue;
            }

            int level = (eax >> 5) & 0x7;
            long ways = ((ebx >> 22) & 0x3FF) + 1, partitions = ((ebx >> 12) & 0x3FF) + 1, line = (ebx & 0xFFF) + 1;
            long sets = (long)(uint)ecx + 1;
            long size = ways * partitions * line * sets;
            switch (level)
            {
                case 1: l1 = size; break;
                case 2: l2 = size; break;
                case 3: l3 = size; break;
            }
        }

        return l1 > 0 && l2 > 0 ? new CacheSizes(l1, l2, l3, "cpuid") : amd ? AmdLegacyLeaves(maxExtended) : null;
    }

    /// <summary>AMD's older cache leaves, which hypervisors that hide 0x8000001D still pass through: 0x80000005 ECX[31:24]
    /// is L1d in KB, 0x80000006 ECX[31:16] L2 in KB and EDX[31:18] L3 in 512 KB units.</summary>
    private static CacheSizes? AmdLegacyLeaves(int maxExtended)
    {
        if ((uint)maxExtended < 0x80000006)
        {
            return null;
        }

        (_, _, int ecx5, _) = X86Base.CpuId(unchecked((int)0x80000005), 0);
        (_, _, int ecx6, int edx6) = X86Base.CpuId(unchecked((int)0x80000006), 0);
        long l1 = ((uint)ecx5 >> 24) * 1024L, l2 = ((uint)ecx6 >> 16) * 1024L, l3 = ((uint)edx6 >> 18) * 512L * 1024;
        return l1 > 0 && l2 > 0 ? new CacheSizes(l1, l2, l3, "cpuid") : null;
    }

    private static string ReadModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
            {
                foreach (string line in File.ReadLines("/proc/cpuinfo"))
                {
                    // x86 says "model name", some ARM kernels "Model" or "CPU part" only.
                    if (line.StartsWith("model name", StringComparison.Ordinal) || line.StartsWith("Model", StringComparison.Ordinal))
                    {
                        return line[(line.IndexOf(':') + 1)..].Trim();
                    }
                }
            }
        }
        catch (IOException)
        {
            // Fall through.
        }

        return $"{RuntimeInformation.ProcessArchitecture} CPU";
    }

    private static (double Ghz, string Source) Clock()
    {
        try
        {
            const string MaxFreq = "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq";
            if (File.Exists(MaxFreq))
            {
                return (long.Parse(File.ReadAllText(MaxFreq).Trim(), CultureInfo.InvariantCulture) / 1e6, "cpufreq max");
            }

            if (File.Exists("/proc/cpuinfo"))
            {
                foreach (string line in File.ReadLines("/proc/cpuinfo"))
                {
                    if (line.StartsWith("cpu MHz", StringComparison.Ordinal))
                    {
                        return (double.Parse(line[(line.IndexOf(':') + 1)..].Trim(), CultureInfo.InvariantCulture) / 1000, "/proc/cpuinfo");
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or FormatException)
        {
            // Fall through.
        }

        return (2.5, "assumed");
    }

    /// <summary>AMD family 19h (Zen 3/Zen 4): only Zen 4 of them has AVX-512, which it double-pumps.</summary>
    private static bool IsZen4()
    {
        if (!X86Base.IsSupported)
        {
            return false;
        }

        (_, int vendorB, _, _) = X86Base.CpuId(0, 0);
        (int eax, _, _, _) = X86Base.CpuId(1, 0);
        int family = ((eax >> 8) & 0xF) + ((eax >> 20) & 0xFF);
        return vendorB == 0x68747541 && family == 0x19;
    }
}
