using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace MLNet.Regularization.Tensors;

/// <summary>
/// The library's only source of randomness: a counter-based generator (the SplitMix64 finaliser applied to
/// <c>key + counter · γ</c>). The i-th number of a draw depends only on the key and the counter, never on
/// which thread computes it, so masks can be filled in parallel and stay bit-identical for a given seed.
/// </summary>
public sealed class Rng
{
    private const ulong Gamma = 0x9E3779B97F4A7C15UL;
    private readonly ulong _key;
    private ulong _counter;

    /// <summary>Creates a generator for a seed.</summary>
    public Rng(int seed)
        : this(Mix((ulong)(uint)seed ^ 0x5DEECE66DUL))
    {
    }

    private Rng(ulong key) => _key = key;

    /// <summary>How many 64-bit numbers this generator has produced.</summary>
    public ulong Position => _counter;

    /// <summary>Moves the counter to <paramref name="position"/> (a resumed training run continues its streams where
    /// the checkpoint left them).</summary>
    internal void Seek(ulong position) => _counter = position;

    /// <summary>A new independent generator derived from this one (advances this one by one step).</summary>
    public Rng Fork() => new(Mix(NextUInt64() ^ 0xD1B54A32D192ED03UL));

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64() => At(_counter++);

    /// <summary>A uniform float in [0, 1) with 24 random bits.</summary>
    public float NextFloat() => ToUnitFloat(NextUInt64() >> 40);

    /// <summary>A uniform integer in [0, <paramref name="maxExclusive"/>).</summary>
    public int NextInt(int maxExclusive)
    {
        if (maxExclusive <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxExclusive), maxExclusive, "must be positive.");
        }

        // Lemire's multiply-shift; the bias is below 2^-32 for the sizes used here.
        return (int)(((NextUInt64() >> 32) * (ulong)maxExclusive) >> 32);
    }

    /// <summary>A standard normal draw (Box–Muller on two uniforms).</summary>
    public float NextGaussian()
    {
        ulong bits = NextUInt64();
        return Gaussian(bits);
    }

    /// <summary>Fills <paramref name="destination"/> with uniforms in [0, 1): element i uses counter
    /// <c>Position + i</c>, so the result does not depend on how the work is split.</summary>
    public void FillUniform(Span<float> destination)
    {
        ulong start = Reserve(destination.Length);
        FillUniform(destination, start);
    }

    /// <summary>Reserves <paramref name="count"/> counter values for a draw that will be filled (possibly in
    /// parallel) with <see cref="FillUniform(Span{float}, ulong)"/> and similar; returns the first.</summary>
    public ulong Reserve(int count)
    {
        ulong start = _counter;
        _counter += (ulong)count;
        return start;
    }

    /// <summary>Fills with uniforms in [0, 1) using counters <paramref name="start"/>, start+1, ...</summary>
    public void FillUniform(Span<float> destination, ulong start)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = ToUnitFloat(At(start + (ulong)i) >> 40);
        }
    }

    /// <summary>Fills with standard normals using counters <paramref name="start"/>, start+1, ...</summary>
    public void FillGaussian(Span<float> destination, ulong start)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = Gaussian(At(start + (ulong)i));
        }
    }

    /// <summary>Fills with standard normals, advancing the counter by the length.</summary>
    public void FillGaussian(Span<float> destination) => FillGaussian(destination, Reserve(destination.Length));

    /// <summary>Fills <paramref name="mask"/> with Bernoulli keep values: <paramref name="keptValue"/> with
    /// probability 1 - <paramref name="dropProbability"/>, otherwise 0. Element i uses counter start + i; the
    /// vectorized path computes the very same integers as the scalar one, so the mask is identical on every CPU.</summary>
    public void FillBernoulli(Span<float> mask, float dropProbability, float keptValue, ulong start)
    {
        uint threshold = BernoulliThreshold(dropProbability);
        int i = Vector512.IsHardwareAccelerated ? FillBernoulliVector512(mask, threshold, keptValue, start)
            : Avx2.IsSupported ? FillBernoulliVector256(mask, threshold, keptValue, start)
            : Sse41.IsSupported || AdvSimd.IsSupported ? FillBernoulliVector128(mask, threshold, keptValue, start)
            : 0;
        FillBernoulliScalar(mask[i..], threshold, keptValue, start + (ulong)i);
    }

    /// <summary>The scalar definition of <see cref="FillBernoulli(Span{float}, float, float, ulong)"/> (also the
    /// tail of the vector path, and the oracle in tests).</summary>
    internal void FillBernoulliScalar(Span<float> mask, uint threshold, float keptValue, ulong start)
    {
        for (int i = 0; i < mask.Length; i++)
        {
            mask[i] = Fires(start + (ulong)i, threshold) ? 0f : keptValue;
        }
    }

    /// <summary>16 mask values per iteration: two vectors of eight 64-bit counters through the same SplitMix64
    /// finaliser, narrowed to 32 bits, compared with the threshold. Returns how many values it filled.</summary>
    internal int FillBernoulliVector512(Span<float> mask, uint threshold, float keptValue, ulong start)
    {
        int count = mask.Length - mask.Length % 16;
        var gamma = Vector512.Create(Gamma);
        var key = Vector512.Create(_key);
        var lanes = Vector512.Create(1UL, 2, 3, 4, 5, 6, 7, 8); // At(c) mixes key + (c + 1)·γ
        var limit = Vector512.Create(threshold);
        var kept = Vector512.Create(keptValue);
        ref float destination = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(mask);
        for (int i = 0; i < count; i += 16)
        {
            var c = Vector512.Create(start + (ulong)i) + lanes;
            var low = MixVector(key + c * gamma) >> 40;
            var high = MixVector(key + (c + Vector512.Create(8UL)) * gamma) >> 40;
            var bits = Vector512.Narrow(low, high);
            var keep = Vector512.GreaterThanOrEqual(bits, limit).AsSingle();
            (keep & kept).StoreUnsafe(ref destination, (nuint)i);
        }

        return count;
    }

    /// <summary>
    /// <see cref="FillBernoulliVector512"/> for AVX2, which has no 64-bit lane multiply: 8 mask values per iteration
    /// (two vectors of four counters), each 64-bit product built from 32-bit ones (<see cref="Multiply64(Vector256{ulong}, ulong)"/>), so the
    /// integers, and the mask, are the scalar path's.
    /// </summary>
    internal int FillBernoulliVector256(Span<float> mask, uint threshold, float keptValue, ulong start)
    {
        if (!Avx2.IsSupported)
        {
            return 0;
        }

        int count = mask.Length - mask.Length % 8;
        var key = Vector256.Create(_key);
        var lanes = Vector256.Create(1UL, 2, 3, 4); // At(c) mixes key + (c + 1)·γ
        var limit = Vector256.Create(threshold);
        var kept = Vector256.Create(keptValue);
        ref float destination = ref MemoryMarshal.GetReference(mask);
        for (int i = 0; i < count; i += 8)
        {
            var c = Vector256.Create(start + (ulong)i) + lanes;
            var low = MixVector(key + Multiply64(c, Gamma)) >> 40;
            var high = MixVector(key + Multiply64(c + Vector256.Create(4UL), Gamma)) >> 40;
            var bits = Vector256.Narrow(low, high);
            var keep = Vector256.GreaterThanOrEqual(bits, limit).AsSingle();
            (keep & kept).StoreUnsafe(ref destination, (nuint)i);
        }

        return count;
    }

    /// <summary><see cref="FillBernoulliVector256"/> on 128-bit vectors (SSE4.1 on x86, AdvSimd on ARM64): 4 mask values
    /// per iteration, the same integers as the scalar path.</summary>
    internal int FillBernoulliVector128(Span<float> mask, uint threshold, float keptValue, ulong start)
    {
        if (!Sse41.IsSupported && !AdvSimd.IsSupported)
        {
            return 0;
        }

        int count = mask.Length - mask.Length % 4;
        var key = Vector128.Create(_key);
        var lanes = Vector128.Create(1UL, 2);
        var limit = Vector128.Create(threshold);
        var kept = Vector128.Create(keptValue);
        ref float destination = ref MemoryMarshal.GetReference(mask);
        for (int i = 0; i < count; i += 4)
        {
            var c = Vector128.Create(start + (ulong)i) + lanes;
            var low = MixVector(key + Multiply64(c, Gamma)) >> 40;
            var high = MixVector(key + Multiply64(c + Vector128.Create(2UL), Gamma)) >> 40;
            var bits = Vector128.Narrow(low, high);
            var keep = Vector128.GreaterThanOrEqual(bits, limit).AsSingle();
            (keep & kept).StoreUnsafe(ref destination, (nuint)i);
        }

        return count;
    }

    /// <summary>
    /// a·b mod 2^64 in each lane from 32-bit multiplies (AVX2 has none for 64-bit lanes): lo(a)·lo(b) as a full
    /// 64-bit product (<c>vpmuludq</c>) plus (hi(a)·lo(b) + lo(a)·hi(b)) mod 2^32 shifted into the high half.
    /// </summary>
    /// <remarks>The constants are built from 32-bit lanes: with <c>Vector256.Create(b).AsUInt32()</c> as vpmuludq's
    /// operand, .NET 10.0.12's JIT produced zeros on an AVX-512 machine (the test against the scalar path caught it).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Multiply64(Vector256<ulong> a, ulong b)
    {
        uint low = (uint)b, high = (uint)(b >> 32);
        var full = Avx2.Multiply(a.AsUInt32(), Vector256.Create(low));
        var cross = (a.AsUInt32() * Vector256.Create(high, low, high, low, high, low, high, low)).AsUInt64();
        return full + ((cross + (cross >> 32)) << 32);
    }

    /// <summary><see cref="Multiply64(Vector256{ulong}, ulong)"/> on 128-bit vectors: <c>pmuludq</c> on x86,
    /// <c>umull</c> on ARM64 for the low halves' full product.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Multiply64(Vector128<ulong> a, ulong b)
    {
        uint low = (uint)b, high = (uint)(b >> 32);
        Vector128<ulong> full = Sse2.IsSupported
            ? Sse2.Multiply(a.AsUInt32(), Vector128.Create(low))
            : AdvSimd.MultiplyWideningLower(AdvSimd.ExtractNarrowingLower(a), Vector64.Create(low));
        var cross = (a.AsUInt32() * Vector128.Create(high, low, high, low)).AsUInt64();
        return full + ((cross + (cross >> 32)) << 32);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> MixVector(Vector256<ulong> z)
    {
        z = Multiply64(z ^ (z >> 30), 0xBF58476D1CE4E5B9UL);
        z = Multiply64(z ^ (z >> 27), 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> MixVector(Vector128<ulong> z)
    {
        z = Multiply64(z ^ (z >> 30), 0xBF58476D1CE4E5B9UL);
        z = Multiply64(z ^ (z >> 27), 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> MixVector(Vector512<ulong> z)
    {
        z = (z ^ (z >> 30)) * Vector512.Create(0xBF58476D1CE4E5B9UL);
        z = (z ^ (z >> 27)) * Vector512.Create(0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    /// <summary>Fills a Bernoulli mask, advancing the counter by the length.</summary>
    public void FillBernoulli(Span<float> mask, float dropProbability, float keptValue) =>
        FillBernoulli(mask, dropProbability, keptValue, Reserve(mask.Length));

    /// <summary>The integer form of a Bernoulli probability: the draw at a counter fires when its top 24 bits are below
    /// p·2^24 (comparing integers instead of floats keeps the scalar and vector paths exactly alike).</summary>
    internal static uint BernoulliThreshold(float probability) => (uint)Math.Round(probability * (1 << 24));

    /// <summary>Whether the Bernoulli draw at <paramref name="counter"/> fires (probability threshold / 2^24): the one
    /// rule behind every mask, whether filled by <see cref="FillBernoulli(Span{float}, float, float, ulong)"/> or
    /// regenerated element by element by a layer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Fires(ulong counter, uint threshold) => (uint)(At(counter) >> 40) < threshold;

    /// <summary>The 64 bits at a counter position.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong At(ulong counter) => Mix(_key + (counter + 1) * Gamma);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ToUnitFloat(ulong bits24) => bits24 * (1f / (1 << 24));

    private static float Gaussian(ulong bits)
    {
        // Two 32-bit uniforms; u1 in (0, 1] so the log is finite.
        double u1 = ((bits >> 32) + 1.0) / 4294967296.0;
        double u2 = (bits & 0xFFFFFFFFUL) / 4294967296.0;
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
    }
}
