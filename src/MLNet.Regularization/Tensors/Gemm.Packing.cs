using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MLNet.Regularization.Tensors;

/// <summary>Packing of op(A) and op(B) into contiguous, zero-padded micro-panels, and the buffers that hold them.</summary>
internal static partial class Gemm
{
    /// <summary>
    /// Copies rows [ic, ic+mc) × k-range [pc, pc+kc) of op(A) into MR-row micro-panels: panel t holds
    /// rows ic+t·MR.. as <c>dst[t·MR·kc + p·MR + r]</c>; rows past the edge are zeros.
    /// </summary>
    private static unsafe void PackA(in Job job, float* dst, int ic, int mc, int pc, int kc, int mr)
    {
        if (job.TransA)
        {
            // A is k×m: op(A)[i, p] = A[p, i], so each k step is a contiguous run of the block's rows.
            PackRuns(dst, job.A + (nint)pc * job.Lda + ic, job.Lda, mc, mr, kc);
            return;
        }

        for (int ir = 0; ir < mc; ir += mr)
        {
            int valid = Math.Min(mr, mc - ir);
            PackInterleave(dst + (nint)ir * kc, job.A + (nint)(ic + ir) * job.Lda + pc, job.Lda, valid, mr, kc);
        }
    }

    /// <summary>
    /// Copies k-range [pc, pc+kc) × columns [jc, jc+nc) of op(B) into NR-column micro-panels: panel t holds
    /// columns jc+t·NR.. as <c>dst[t·NR·kc + p·NR + j]</c>; columns past the edge are zeros.
    /// </summary>
    private static unsafe void PackB(in Job job, float* dst, int pc, int kc, int jc, int nc, int nr)
    {
        if (!job.TransB)
        {
            PackRuns(dst, job.B + (nint)pc * job.Ldb + jc, job.Ldb, nc, nr, kc);
            return;
        }

        // B is n×k: op(B)[p, j] = B[j, p], so each column of op(B) is a contiguous source row.
        for (int jr = 0; jr < nc; jr += nr)
        {
            int valid = Math.Min(nr, nc - jr);
            PackInterleave(dst + (nint)jr * kc, job.B + (nint)(jc + jr) * job.Ldb + pc, job.Ldb, valid, nr, kc);
        }
    }

    /// <summary>
    /// Packs a block whose k steps are contiguous source runs: run p (<paramref name="total"/> values at
    /// <c>src + p·ld</c>) is cut into micro-panels of <paramref name="width"/>, so that
    /// <c>dst[t·width·kc + p·width + r] = src[p·ld + t·width + r]</c>, zero past <paramref name="total"/>.
    /// </summary>
    /// <remarks>
    /// The panels are filled <see cref="PanelsPerPass"/> at a time, each pass walking all kc source rows: a few
    /// whole cache lines read per row (never a one-line strip, which would defeat the hardware prefetcher), and
    /// only that many destination streams. Filling every panel in one pass would write to panels width·kc floats
    /// apart — a multiple of 4 KB, so all in the same L1 set — and evict each line before its next row comes.
    /// </remarks>
    private static unsafe void PackRuns(float* dst, float* src, int ld, int total, int width, int kc)
    {
        int full = total / width, rest = total - full * width;
        nint panelStride = (nint)width * kc;
        bool vectorCopy = width % Vector256<float>.Count == 0;
        for (int t0 = 0; t0 < full; t0 += PanelsPerPass)
        {
            int t1 = Math.Min(full, t0 + PanelsPerPass);
            for (int p = 0; p < kc; p++)
            {
                float* s = src + (nint)p * ld + (nint)t0 * width;
                float* d = dst + (nint)t0 * panelStride + (nint)p * width;
                for (int t = t0; t < t1; t++, s += width, d += panelStride)
                {
                    if (vectorCopy)
                    {
                        for (int r = 0; r < width; r += Vector256<float>.Count)
                        {
                            Vector256.Store(Vector256.Load(s + r), d + r);
                        }
                    }
                    else
                    {
                        for (int r = 0; r < width; r++)
                        {
                            d[r] = s[r];
                        }
                    }
                }
            }
        }

        if (rest > 0)
        {
            for (int p = 0; p < kc; p++)
            {
                float* s = src + (nint)p * ld + (nint)full * width;
                float* d = dst + (nint)full * panelStride + (nint)p * width;
                int r = 0;
                for (; r < rest; r++)
                {
                    d[r] = s[r];
                }

                for (; r < width; r++)
                {
                    d[r] = 0f;
                }
            }
        }
    }

    /// <summary>Micro-panels <see cref="PackRuns"/> fills per pass over the source rows.</summary>
    private const int PanelsPerPass = 4;

    /// <summary><c>dst[p·width + r] = src[r·ld + p]</c> for r &lt; valid, zero for valid ≤ r &lt; width.</summary>
    private static unsafe void PackInterleave(float* dst, float* src, int ld, int valid, int width, int kc)
    {
        int r = 0;
        if (Avx.IsSupported && width % 8 == 0)
        {
            // Groups of 8 source rows: transpose 8×8 squares in registers and store whole k steps.
            for (; r + 8 <= valid; r += 8)
            {
                float* s = src + (nint)r * ld;
                float* d = dst + r;
                int p = 0;
                for (; p + 8 <= kc; p += 8)
                {
                    Transpose8x8(s + p, ld, d + (nint)p * width, width);
                }

                for (; p < kc; p++)
                {
                    for (int x = 0; x < 8; x++)
                    {
                        d[(nint)p * width + x] = s[(nint)x * ld + p];
                    }
                }
            }
        }

        if (Avx.IsSupported && width == 6 && valid == 6)
        {
            // The AVX2 kernel's 6-row panels: 8 k steps at a time, the six rows (and two zero rows) transposed in
            // registers, each k step stored as 4 + 2 floats.
            float* d = dst;
            int p = 0;
            for (; p + 8 <= kc; p += 8, d += 48)
            {
                float* s = src + p;
                Transpose8x8(
                    Avx.LoadVector256(s), Avx.LoadVector256(s + ld), Avx.LoadVector256(s + 2 * (nint)ld),
                    Avx.LoadVector256(s + 3 * (nint)ld), Avx.LoadVector256(s + 4 * (nint)ld), Avx.LoadVector256(s + 5 * (nint)ld),
                    Vector256<float>.Zero, Vector256<float>.Zero,
                    out var c0, out var c1, out var c2, out var c3, out var c4, out var c5, out var c6, out var c7);
                StoreSix(d, c0);
                StoreSix(d + 6, c1);
                StoreSix(d + 12, c2);
                StoreSix(d + 18, c3);
                StoreSix(d + 24, c4);
                StoreSix(d + 30, c5);
                StoreSix(d + 36, c6);
                StoreSix(d + 42, c7);
            }

            for (; p < kc; p++, d += 6)
            {
                for (int x = 0; x < 6; x++)
                {
                    d[x] = src[(nint)x * ld + p];
                }
            }

            return;
        }

        // Leftover rows: read each contiguously and scatter it with stride `width` into the panel, which
        // is small enough (≤ 32 KB) to stay in L1 while it is written.
        for (; r < valid; r++)
        {
            float* s = src + (nint)r * ld;
            float* d = dst + r;
            for (int p = 0; p < kc; p++, d += width)
            {
                *d = s[p];
            }
        }

        if (valid < width)
        {
            for (int p = 0; p < kc; p++)
            {
                new Span<float>(dst + (nint)p * width + valid, width - valid).Clear();
            }
        }
    }

    /// <summary>
    /// Transposes the 8×8 square at <paramref name="src"/> (rows <paramref name="ld"/> apart): column p of
    /// the source becomes the 8 floats at <c>dst + p·dstStride</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Transpose8x8(float* src, int ld, float* dst, int dstStride)
    {
        Transpose8x8(
            Avx.LoadVector256(src), Avx.LoadVector256(src + ld), Avx.LoadVector256(src + 2 * (nint)ld), Avx.LoadVector256(src + 3 * (nint)ld),
            Avx.LoadVector256(src + 4 * (nint)ld), Avx.LoadVector256(src + 5 * (nint)ld), Avx.LoadVector256(src + 6 * (nint)ld), Avx.LoadVector256(src + 7 * (nint)ld),
            out var c0, out var c1, out var c2, out var c3, out var c4, out var c5, out var c6, out var c7);
        Avx.Store(dst, c0);
        Avx.Store(dst + dstStride, c1);
        Avx.Store(dst + 2 * (nint)dstStride, c2);
        Avx.Store(dst + 3 * (nint)dstStride, c3);
        Avx.Store(dst + 4 * (nint)dstStride, c4);
        Avx.Store(dst + 5 * (nint)dstStride, c5);
        Avx.Store(dst + 6 * (nint)dstStride, c6);
        Avx.Store(dst + 7 * (nint)dstStride, c7);
    }

    /// <summary>Transposes eight rows of eight floats in registers: <paramref name="c0"/> gets element 0 of every row, and so on.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(
        Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7,
        out Vector256<float> c0, out Vector256<float> c1, out Vector256<float> c2, out Vector256<float> c3,
        out Vector256<float> c4, out Vector256<float> c5, out Vector256<float> c6, out Vector256<float> c7)
    {
        // Interleave pairs of rows (per 128-bit lane): t0 = a0 b0 a1 b1 | a4 b4 a5 b5, t1 = a2 b2 a3 b3 | a6 b6 a7 b7.
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);

        // Gather four rows per column (per lane): s0 = a0 b0 c0 d0 | a4 b4 c4 d4, and so on.
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> s4 = Avx.Shuffle(t4, t6, 0x44), s5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> s6 = Avx.Shuffle(t5, t7, 0x44), s7 = Avx.Shuffle(t5, t7, 0xEE);

        // Join the low lanes (columns 0-3) and the high lanes (columns 4-7) of the two row quartets.
        c0 = Avx.Permute2x128(s0, s4, 0x20);
        c1 = Avx.Permute2x128(s1, s5, 0x20);
        c2 = Avx.Permute2x128(s2, s6, 0x20);
        c3 = Avx.Permute2x128(s3, s7, 0x20);
        c4 = Avx.Permute2x128(s0, s4, 0x31);
        c5 = Avx.Permute2x128(s1, s5, 0x31);
        c6 = Avx.Permute2x128(s2, s6, 0x31);
        c7 = Avx.Permute2x128(s3, s7, 0x31);
    }

    /// <summary>Stores the first six floats of <paramref name="v"/> (4 + 2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreSix(float* d, Vector256<float> v)
    {
        Vector128<float> low = v.GetLower();
        low.Store(d);
        *(double*)(d + 4) = v.GetUpper().AsDouble().ToScalar();
    }

    /// <summary>
    /// Per-thread packing buffers (pinned, so raw pointers stay valid), reused by every call on that thread
    /// and grown only when a larger product comes: the steady state allocates nothing. They are sized to
    /// the products seen, at most MC×KC + KC×NC floats (at most 5 MB: see <see cref="BlockingFor"/>), and die with their thread.
    /// </summary>
    private sealed unsafe class PackBuffers
    {
        [ThreadStatic]
        private static PackBuffers? t_current;

        private readonly float[] _storage;

        private PackBuffers(int aFloats, int bFloats)
        {
            // 64-byte alignment: one 16-float slack at each buffer's start; both sizes are multiples of 16.
            _storage = GC.AllocateUninitializedArray<float>(aFloats + bFloats + 16, pinned: true);
            float* start = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
            float* aligned = (float*)(((nuint)start + 63) & ~(nuint)63);
            A = aligned;
            B = aligned + aFloats;
            ACapacity = aFloats;
            BCapacity = bFloats;
        }

        /// <summary>Packed op(A) block: MC×KC.</summary>
        public float* A { get; }

        /// <summary>Packed op(B) block: KC×NC.</summary>
        public float* B { get; }

        private int ACapacity { get; }

        private int BCapacity { get; }

        /// <summary>This thread's buffers, grown (once) if they are smaller than asked.</summary>
        public static PackBuffers ForCurrentThread(int aFloats, int bFloats)
        {
            aFloats = (aFloats + 15) & ~15;
            bFloats = (bFloats + 15) & ~15;
            PackBuffers? current = t_current;
            if (current is null || current.ACapacity < aFloats || current.BCapacity < bFloats)
            {
                current = new PackBuffers(
                    Math.Max(aFloats, current?.ACapacity ?? 0), Math.Max(bFloats, current?.BCapacity ?? 0));
                t_current = current;
            }

            return current;
        }
    }
}
