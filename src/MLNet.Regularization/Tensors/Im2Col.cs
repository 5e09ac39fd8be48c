namespace MLNet.Regularization.Tensors;

/// <summary>
/// Unrolls image patches into rows of a matrix and back. The layout is patch-major: row r = (image, oh, ow) holds
/// the C·kh·kw input values that output position sees, in the order (c, i, j) of a weight [outC, C, kh, kw].
/// With this layout every product a convolution needs is a GEMM whose right-hand matrix is not transposed:
/// Yᵀ = cols · Wᵀ, dW = dYᵀ · cols, dcols = dYᵀ · W (see <c>Layers/ConvolutionEngine.cs</c>).
/// </summary>
internal static class Im2Col
{
    /// <summary>Writes the patches of image <paramref name="image"/> of <paramref name="x"/> (NCHW) into
    /// OutPositions consecutive rows of <paramref name="cols"/> (row length PatchSize); padding reads as 0.</summary>
    public static void Unroll(in ConvGeometry g, ReadOnlySpan<float> x, int image, Span<float> cols)
    {
        int k = g.PatchSize, outH = g.OutHeight, outW = g.OutWidth, h = g.Height, w = g.Width;
        int kh = g.KernelHeight, kw = g.KernelWidth, dh = g.DilationHeight, dw = g.DilationWidth;
        var img = x.Slice(image * g.ImageSize, g.ImageSize);
        for (int oh = 0; oh < outH; oh++)
        {
            int ih0 = oh * g.StrideHeight - g.PadTop;
            for (int ow = 0; ow < outW; ow++)
            {
                int iw0 = ow * g.StrideWidth - g.PadLeft;
                var row = cols.Slice((oh * outW + ow) * k, k);
                bool inside = iw0 >= 0 && iw0 + dw * (kw - 1) < w;
                int t = 0;
                for (int c = 0; c < g.Channels; c++)
                {
                    var plane = img.Slice(c * h * w, h * w);
                    for (int i = 0; i < kh; i++)
                    {
                        int ih = ih0 + i * dh;
                        if ((uint)ih >= (uint)h)
                        {
                            row.Slice(t, kw).Clear();
                            t += kw;
                            continue;
                        }

                        var line = plane.Slice(ih * w, w);
                        if (inside && dw == 1)
                        {
                            line.Slice(iw0, kw).CopyTo(row.Slice(t, kw));
                            t += kw;
                            continue;
                        }

                        for (int j = 0; j < kw; j++)
                        {
                            int iw = iw0 + j * dw;
                            row[t++] = (uint)iw < (uint)w ? line[iw] : 0f;
                        }
                    }
                }
            }
        }
    }

    /// <summary>The adjoint of <see cref="Unroll"/>: adds each row value of <paramref name="cols"/> back into the
    /// input position it was read from (values read from padding are discarded). <paramref name="dx"/>'s image
    /// must be cleared by the caller.</summary>
    public static void Fold(in ConvGeometry g, ReadOnlySpan<float> cols, Span<float> dx, int image)
    {
        int k = g.PatchSize, outH = g.OutHeight, outW = g.OutWidth, h = g.Height, w = g.Width;
        int kh = g.KernelHeight, kw = g.KernelWidth, dh = g.DilationHeight, dw = g.DilationWidth;
        var img = dx.Slice(image * g.ImageSize, g.ImageSize);
        for (int oh = 0; oh < outH; oh++)
        {
            int ih0 = oh * g.StrideHeight - g.PadTop;
            for (int ow = 0; ow < outW; ow++)
            {
                int iw0 = ow * g.StrideWidth - g.PadLeft;
                var row = cols.Slice((oh * outW + ow) * k, k);
                int t = 0;
                for (int c = 0; c < g.Channels; c++)
                {
                    var plane = img.Slice(c * h * w, h * w);
                    for (int i = 0; i < kh; i++)
                    {
                        int ih = ih0 + i * dh;
                        if ((uint)ih >= (uint)h)
                        {
                            t += kw;
                            continue;
                        }

                        var line = plane.Slice(ih * w, w);
                        for (int j = 0; j < kw; j++, t++)
                        {
                            int iw = iw0 + j * dw;
                            if ((uint)iw < (uint)w)
                            {
                                line[iw] += row[t];
                            }
                        }
                    }
                }
            }
        }
    }
}
