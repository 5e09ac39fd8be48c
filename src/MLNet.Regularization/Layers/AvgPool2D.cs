using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Average pooling over NCHW images: y[n, c, i, j] = (1 / |window ∩ image|) · Σ x over the window's pixels inside the
/// image. Padding is not counted in the divisor (count_include_pad = 0, ONNX AveragePool's default, so a border
/// window averages only real pixels). Backward: each input in a window receives dy / |window ∩ image|.
/// </summary>
public sealed class AvgPool2D : Layer
{
    private ConvGeometry _g;
    private bool _trained;
    private Tensor? _dx;

    /// <summary>Creates average pooling with a square window.</summary>
    /// <param name="pool">Window height and width (default 2).</param>
    /// <param name="stride">Step between windows; null (default) means the window size.</param>
    /// <param name="padding">Padding: pixels (smaller than the window), <c>"valid"</c> (default) or <c>"same"</c>.
    /// Padded pixels are excluded from the average.</param>
    public AvgPool2D(int pool = 2, int? stride = null, Padding2D padding = default)
        : this((pool, pool), stride, padding)
    {
    }

    /// <summary>Creates average pooling with a rectangular window.</summary>
    /// <param name="pool">Window (height, width).</param>
    /// <param name="stride">Step between windows; null means the larger window side.</param>
    /// <param name="padding">Padding: pixels (smaller than the window), <c>"valid"</c> or <c>"same"</c>.</param>
    public AvgPool2D((int Height, int Width) pool, int? stride = null, Padding2D padding = default) =>
        Settings = PoolSettings.Validate(nameof(AvgPool2D), pool, stride, padding);

    /// <summary>Window height.</summary>
    public int PoolHeight => Settings.Height;

    /// <summary>Window width.</summary>
    public int PoolWidth => Settings.Width;

    /// <summary>Step between windows.</summary>
    public int Stride => Settings.Stride;

    /// <summary>The padding as configured.</summary>
    public Padding2D Padding => Settings.Padding;

    /// <summary>The padding in pixels after building: (top, left, bottom, right).</summary>
    public (int Top, int Left, int Bottom, int Right) ResolvedPadding => _g.Pads;

    /// <summary>Always false: padded pixels are not counted in the average (ONNX <c>count_include_pad = 0</c>).</summary>
    public bool CountIncludePad => false;

    internal PoolSettings Settings { get; }

    /// <inheritdoc />
    public override string Describe() => Settings.Describe();

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        var y = ctx.Buffer(this, 0, x.BatchSize, OutputShape);
        var g = _g;
        float[] xs = x.Data, ys = y.Data;
        StaticParallel.For(x.BatchSize * g.Channels, ctx.Threads, (g, xs, ys), static (s, from, to) => AveragePlanes(s.g, s.xs, s.ys, from, to));

        _trained |= ctx.IsTraining;
        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        if (!_trained)
        {
            throw NoForward(Name);
        }

        _dx = Tensor.Reuse(_dx, dy.BatchSize, InputShape);
        var g = _g;
        float[] dys = dy.Data, dx = _dx.Data;
        StaticParallel.For(dy.BatchSize * g.Channels, ctx.Threads, (g, dys, dx), static (s, from, to) => SpreadPlanes(s.g, s.dys, s.dx, from, to));

        return _dx;
    }

    /// <summary>ONNX: <c>AveragePool</c> with kernel_shape, pads, strides and count_include_pad = 0.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx) =>
        ConvOnnx.Pool(g, "AveragePool", PoolHeight, PoolWidth, Stride, ResolvedPadding);

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new AvgPool2D((PoolHeight, PoolWidth), Stride, Padding);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        _g = Settings.Geometry(Name, inputShape);
        return [_g.Channels, _g.OutHeight, _g.OutWidth];
    }

    private static void AveragePlanes(in ConvGeometry g, float[] xs, float[] ys, int from, int to)
    {
        int hw = g.Height * g.Width, p = g.OutPositions, outH = g.OutHeight, outW = g.OutWidth, width = g.Width;
        for (int plane = from; plane < to; plane++)
        {
            for (int oh = 0; oh < outH; oh++)
            {
                var (h0, h1) = g.WindowRows(oh);
                for (int ow = 0; ow < outW; ow++)
                {
                    var (w0, w1) = g.WindowColumns(ow);
                    float sum = 0f;
                    for (int ih = h0; ih < h1; ih++)
                    {
                        for (int iw = w0; iw < w1; iw++)
                        {
                            sum += xs[plane * hw + ih * width + iw];
                        }
                    }

                    int count = (h1 - h0) * (w1 - w0);
                    ys[plane * p + oh * outW + ow] = count > 0 ? sum / count : 0f;
                }
            }
        }
    }

    private static void SpreadPlanes(in ConvGeometry g, float[] dys, float[] dx, int from, int to)
    {
        int hw = g.Height * g.Width, p = g.OutPositions, outH = g.OutHeight, outW = g.OutWidth, width = g.Width;
        dx.AsSpan(from * hw, (to - from) * hw).Clear();
        for (int plane = from; plane < to; plane++)
        {
            for (int oh = 0; oh < outH; oh++)
            {
                var (h0, h1) = g.WindowRows(oh);
                for (int ow = 0; ow < outW; ow++)
                {
                    var (w0, w1) = g.WindowColumns(ow);
                    int count = (h1 - h0) * (w1 - w0);
                    if (count == 0)
                    {
                        continue;
                    }

                    float share = dys[plane * p + oh * outW + ow] / count;
                    for (int ih = h0; ih < h1; ih++)
                    {
                        for (int iw = w0; iw < w1; iw++)
                        {
                            dx[plane * hw + ih * width + iw] += share;
                        }
                    }
                }
            }
        }
    }
}
