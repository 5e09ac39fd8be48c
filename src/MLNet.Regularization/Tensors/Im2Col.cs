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
                    if (IsShiftedPlane(g))
                    {
                        UnrollShiftedPlane(g, plane, row, i, offset, lo, hi);
                        continue;
                    }

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
    /// cleared by the caller. The values of <paramref name="cols"/> that belong to padding may be zeroed on the way.</summary>
    public static void Fold(in ConvGeometry g, Span<float> cols, int ld, int column, Span<float> dx, int image)
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
                    if (IsShiftedPlane(g))
                    {
                        FoldShiftedPlane(g, row, plane, i, offset, lo, hi);
                        continue;
                    }

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

    /// <summary>
    /// Stride 1 in both directions and as many output columns as input columns ("same" padding): then tap (i, j)'s
    /// row is the input plane shifted by a constant, output row oh reading input row oh + i·dh − padTop, and the
    /// output and input row strides are equal, so the valid part is one contiguous run of the plane apart from the
    /// columns that fall into the padding.
    /// </summary>
    private static bool IsShiftedPlane(in ConvGeometry g) => g.StrideHeight == 1 && g.StrideWidth == 1 && g.OutWidth == g.Width;

    /// <summary>The output rows [first, last) whose input row oh + shift lies inside the image.</summary>
    private static (int First, int Last) ValidRows(in ConvGeometry g, int i)
    {
        int shift = i * g.DilationHeight - g.PadTop;
        return (Math.Clamp(-shift, 0, g.OutHeight), Math.Clamp(g.Height - shift, 0, g.OutHeight));
    }

    private static void UnrollShiftedPlane(in ConvGeometry g, ReadOnlySpan<float> plane, Span<float> row, int i, int offset, int lo, int hi)
    {
        int w = g.Width;
        (int first, int last) = ValidRows(g, i);
        if (first >= last || lo >= hi)
        {
            row.Clear();
            return;
        }

        int shift = i * g.DilationHeight - g.PadTop;
        row[..(first * w)].Clear();
        row[(last * w)..].Clear();

        // From the first valid value of the first valid row to the last valid value of the last one; the columns
        // outside [lo, hi) in between picked up a neighbouring input row's values and are cleared after.
        int start = first * w + lo, length = (last - first - 1) * w + (hi - lo);
        plane.Slice((first + shift) * w + lo + offset, length).CopyTo(row.Slice(start, length));
        ClearPaddingColumns(row, w, first, last, lo, hi);
    }

    /// <summary>Zeroes columns [0, lo) and [hi, w) of rows [first, last) (a kernel's reach into the padding: one or
    /// two values per row, written directly rather than through a span call each).</summary>
    private static void ClearPaddingColumns(Span<float> row, int w, int first, int last, int lo, int hi)
    {
        if (lo == 0 && hi == w)
        {
            return;
        }

        for (int oh = first; oh < last; oh++)
        {
            int r = oh * w;
            for (int c = 0; c < lo; c++)
            {
                row[r + c] = 0f;
            }

            for (int c = hi; c < w; c++)
            {
                row[r + c] = 0f;
            }
        }
    }

    private static void FoldShiftedPlane(in ConvGeometry g, Span<float> row, Span<float> plane, int i, int offset, int lo, int hi)
    {
        int w = g.Width;
        (int first, int last) = ValidRows(g, i);
        if (first >= last || lo >= hi)
        {
            return;
        }

        int shift = i * g.DilationHeight - g.PadTop;

        // Gradients of padding positions go nowhere: zero them so that one contiguous add can carry the rest.
        ClearPaddingColumns(row, w, first, last, lo, hi);

        int start = first * w + lo, length = (last - first - 1) * w + (hi - lo);
        var target = plane.Slice((first + shift) * w + lo + offset, length);
        TensorPrimitives.Add(target, row.Slice(start, length), target);
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
