using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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
    /// The source is walked row by row, never down a narrow column strip: rows of a wide matrix sit a page
    /// or more apart, where a strip would defeat the hardware prefetcher and miss on every line.
    /// </remarks>
    private static unsafe void PackRuns(float* dst, float* src, int ld, int total, int width, int kc)
    {
        int full = total / width, rest = total - full * width;
        nint panelStride = (nint)width * kc;
        bool vectorCopy = width % Vector256<float>.Count == 0;
        for (int p = 0; p < kc; p++)
        {
            float* s = src + (nint)p * ld;
            float* d = dst + (nint)p * width;
            for (int t = 0; t < full; t++, s += width, d += panelStride)
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

            if (rest > 0)
            {
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

    /// <summary><c>dst[p·width + r] = src[r·ld + p]</c> for r &lt; valid, zero for valid ≤ r &lt; width.</summary>
    private static unsafe void PackInterleave(float* dst, float* src, int ld, int valid, int width, int kc)
    {
        // Read each source row contiguously and scatter it with stride `width` into the panel, which is
        // small enough (≤ 32 KB) to stay in L1 while it is written.
        for (int r = 0; r < valid; r++)
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
    /// Per-thread packing buffers, allocated once (pinned, so raw pointers stay valid) and reused by every
    /// call on that thread: the steady state allocates nothing.
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
