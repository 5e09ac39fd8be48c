using System.Numerics.Tensors;

namespace MLNet.Regularization.Tensors;

/// <summary>
/// Unrolls image patches into the columns of a matrix and back. The layout is patch-row-major: row t = (c, i, j)
/// of the matrix, in the order of a weight [outC, C, kh, kw], holds for every output position (oh, ow) the input
/// value that weight tap sees. Images are laid side by side: image m of a chunk fills columns
/// [m·P, (m+1)·P) of rows that are <c>ld</c> long. Then a chunk's convolution is one GEMM,
/// Y[F, m·P] = W[F, K] · cols[K, m·P], whose output rows are already the chunk's NCHW planes, and each row
/// segment of an output row is a contiguous run of one input line (for stride 1), so unrolling and folding
/// copy and add whole runs.
/// </summary>
internal static class Im2Col
{
    /// <summary>Writes the patches of image <paramref name="image"/> of <paramref name="x"/> (NCHW) into
    /// columns [<paramref name="column"/>, column + OutPositions) of the PatchSize rows of <paramref name="cols"/>
    /// (row length <paramref name="ld"/>); padding reads as 0.</summary>
    public static void Unroll(in ConvGeometry g, ReadOnlySpan<float> x, int image, Span<float> cols, int ld, int column)
    {
        int outH = g.OutHeight, outW = g.OutWidth, h = g.Height, w = g.Width, sw = g.StrideWidth;
        var img = x.Slice(image * g.ImageSize, g.ImageSize);
        int t = 0;
        for (int c = 0; c < g.Channels; c++)
        {
            var plane = img.Slice(c * h * w, h * w);
            for (int i = 0; i < g.KernelHeight; i++)
            {
                for (int j = 0; j < g.KernelWidth; j++, t++)
                {
                    var row = cols.Slice(t * ld + column, outW * outH);
                    int offset = j * g.DilationWidth - g.PadLeft; // iw = ow·sw + offset
                    (int lo, int hi) = ValidColumns(offset, sw, w, outW);
                    for (int oh = 0; oh < outH; oh++)
                    {
                        var dst = row.Slice(oh * outW, outW);
                        int ih = oh * g.StrideHeight - g.PadTop + i * g.DilationHeight;
                        if ((uint)ih >= (uint)h || lo >= hi)
                        {
                            dst.Clear();
                            continue;
                        }

                        var line = plane.Slice(ih * w, w);
                        dst[..lo].Clear();
                        dst[hi..].Clear();
                        if (sw == 1)
                        {
                            line.Slice(lo + offset, hi - lo).CopyTo(dst[lo..hi]);
                        }
                        else
                        {
                            for (int ow = lo; ow < hi; ow++)
                            {
                                dst[ow] = line[ow * sw + offset];
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>The adjoint of <see cref="Unroll"/>: adds each value of the image's columns back into the input
    /// position it was read from (values read from padding are discarded). <paramref name="dx"/>'s image must be
    /// cleared by the caller.</summary>
    public static void Fold(in ConvGeometry g, ReadOnlySpan<float> cols, int ld, int column, Span<float> dx, int image)
    {
        int outH = g.OutHeight, outW = g.OutWidth, h = g.Height, w = g.Width, sw = g.StrideWidth;
        var img = dx.Slice(image * g.ImageSize, g.ImageSize);
        int t = 0;
        for (int c = 0; c < g.Channels; c++)
        {
            var plane = img.Slice(c * h * w, h * w);
            for (int i = 0; i < g.KernelHeight; i++)
            {
                for (int j = 0; j < g.KernelWidth; j++, t++)
                {
                    var row = cols.Slice(t * ld + column, outW * outH);
                    int offset = j * g.DilationWidth - g.PadLeft;
                    (int lo, int hi) = ValidColumns(offset, sw, w, outW);
                    for (int oh = 0; oh < outH; oh++)
                    {
                        int ih = oh * g.StrideHeight - g.PadTop + i * g.DilationHeight;
                        if ((uint)ih >= (uint)h || lo >= hi)
                        {
                            continue;
                        }

                        var src = row.Slice(oh * outW, outW);
                        var line = plane.Slice(ih * w, w);
                        if (sw == 1)
                        {
                            var target = line.Slice(lo + offset, hi - lo);
                            TensorPrimitives.Add(target, src[lo..hi], target);
                        }
                        else
                        {
                            for (int ow = lo; ow < hi; ow++)
                            {
                                line[ow * sw + offset] += src[ow];
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>The output columns [lo, hi) whose input column ow·stride + offset lies inside [0, width).</summary>
    private static (int Lo, int Hi) ValidColumns(int offset, int stride, int width, int outW)
    {
        // ow·stride + offset ≥ 0  ⇔  ow ≥ ⌈−offset / stride⌉;   ow·stride + offset ≤ width − 1  ⇔  ow ≤ ⌊(width − 1 − offset) / stride⌋.
        int lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
        int last = width - 1 - offset;
        int hi = last < 0 ? 0 : Math.Min(outW, last / stride + 1);
        return (Math.Min(lo, hi), hi);
    }
}
