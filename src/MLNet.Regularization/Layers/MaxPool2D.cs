using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Max pooling over NCHW images (as in Ranzato et al., 2007, and every CNN since): y[n, c, i, j] is the largest input
/// in the window rows i·s − pad_top .. + kh − 1, columns j·s − pad_left .. + kw − 1 (padding never wins; ONNX
/// MaxPool with ceil_mode = 0). Backward routes each output's gradient to the input that won, the first in row-major
/// window order on ties, and adds where windows overlap.
/// </summary>
public sealed class MaxPool2D : Layer
{
    private ConvGeometry _g;
    private int[] _argmax = [];
    private bool _trained;
    private Tensor? _dx;
    private Tensor? _x;

    /// <summary>Creates max pooling with a square window.</summary>
    /// <param name="pool">Window height and width (default 2).</param>
    /// <param name="stride">Step between windows; null (default) means the window size.</param>
    /// <param name="padding">Padding: pixels (smaller than the window), <c>"valid"</c> (default) or <c>"same"</c>.</param>
    public MaxPool2D(int pool = 2, int? stride = null, Padding2D padding = default)
        : this((pool, pool), stride, padding)
    {
    }

    /// <summary>Creates max pooling with a rectangular window.</summary>
    /// <param name="pool">Window (height, width).</param>
    /// <param name="stride">Step between windows; null means the larger window side.</param>
    /// <param name="padding">Padding: pixels (smaller than the window), <c>"valid"</c> or <c>"same"</c>.</param>
    public MaxPool2D((int Height, int Width) pool, int? stride = null, Padding2D padding = default) =>
        Settings = PoolSettings.Validate(nameof(MaxPool2D), pool, stride, padding);

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

    internal PoolSettings Settings { get; }

    /// <inheritdoc />
    public override string Describe() => Settings.Describe();

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        var y = ctx.Buffer(this, 0, x.BatchSize, OutputShape);
        int[]? argmax = null;
        if (ctx.IsTraining)
        {
            if (_argmax.Length != y.Length)
            {
                _argmax = new int[y.Length];
            }

            argmax = _argmax;
            _trained = true;
        }

        var g = _g;
        float[] xs = x.Data, ys = y.Data;
        StaticParallel.For(x.BatchSize * g.Channels, ctx.Threads, (g, xs, ys, argmax), static (s, from, to) => MaxPlanes(s.g, s.xs, s.ys, s.argmax, from, to));
        if (ctx.IsTraining)
        {
            _x = x;
        }

        return y;
    }

    /// <summary>
    /// Set by the network when a <see cref="ReLU"/> comes right before: backward then routes a gradient only to
    /// an arg-max whose value is positive, which is the ReLU's derivative (its output is this layer's input), and
    /// that ReLU passes the gradient through. One pass over the ReLU's output fewer, the same bits.
    /// </summary>
    internal bool AppliesReluGradient { get; set; }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        if (!_trained)
        {
            throw NoForward(Name);
        }

        _dx = Tensor.Reuse(_dx, dy.BatchSize, InputShape);
        RouteToArgmax(dy.Data, _argmax, _dx.Data, _g, dy.BatchSize, ctx.Threads, AppliesReluGradient ? _x!.Data : null);
        return _dx;
    }

    /// <summary>
    /// The common 2×2, stride-2 window that lies inside the image: the generic loop's scan (top-left, top-right,
    /// bottom-left, bottom-right; a later value wins only when strictly greater) written as selects instead of
    /// branches, which random data would mispredict half the time. Same values and arg-max indices.
    /// </summary>
    private static void MaxPlanes2x2(in ConvGeometry g, float[] xs, float[] ys, int[]? argmax, int from, int to)
    {
        int width = g.Width, hw = g.Height * width, outH = g.OutHeight, outW = g.OutWidth;
        for (int plane = from; plane < to; plane++)
        {
            int o = plane * outH * outW;
            for (int oh = 0; oh < outH; oh++)
            {
                int top = plane * hw + 2 * oh * width;
                var r0 = xs.AsSpan(top, 2 * outW);
                var r1 = xs.AsSpan(top + width, 2 * outW);
                var y = ys.AsSpan(o, outW);
                var arg = argmax is null ? default : argmax.AsSpan(o, outW);
                int ow = 0;
                if (Vector256.IsHardwareAccelerated && outW >= 4)
                {
                    // Four windows per step from 8 values of each row: lane 2j holds window j's left value and,
                    // after swapping neighbouring lanes, its right value; the even lanes are gathered at the end.
                    // A row whose width is not a multiple of 4 windows ends with a block that overlaps the previous
                    // one (recomputing a window gives the same value).
                    for (; ow < outW; ow += 4)
                    {
                        MaxBlock2x2(r0, r1, top, width, Math.Min(ow, outW - 4), y, arg);
                    }
                }

                for (; ow < y.Length; ow++)
                {
                    int c = 2 * ow;
                    float max = r0[c];
                    int best = top + c;
                    float v = r0[c + 1];
                    bool gt = v > max;
                    max = gt ? v : max;
                    best = gt ? top + c + 1 : best;
                    v = r1[c];
                    gt = v > max;
                    max = gt ? v : max;
                    best = gt ? top + width + c : best;
                    v = r1[c + 1];
                    gt = v > max;
                    max = gt ? v : max;
                    best = gt ? top + width + c + 1 : best;
                    y[ow] = max;
                    if (!arg.IsEmpty)
                    {
                        arg[ow] = best;
                    }
                }

                o += outW;
            }
        }
    }

    /// <summary>Windows [ow, ow + 4) of a 2x2 row pair (see <see cref="MaxPlanes2x2"/>).</summary>
    private static void MaxBlock2x2(ReadOnlySpan<float> r0, ReadOnlySpan<float> r1, int top, int width, int ow, Span<float> y, Span<int> arg)
    {
        var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        var swap = Vector256.Create(1, 0, 3, 2, 5, 4, 7, 6);
        var even = Vector256.Create(0, 2, 4, 6, 0, 2, 4, 6);
        int c = 2 * ow;
        var idx = Vector256.Create(top + c) + lanes;
        var a = Vector256.Create<float>(r0[c..]);
        var b = Vector256.Create<float>(r1[c..]);
        var max = a;
        var best = idx;
        Select(ref max, ref best, Vector256.Shuffle(a, swap), idx + Vector256<int>.One);
        Select(ref max, ref best, b, idx + Vector256.Create(width));
        Select(ref max, ref best, Vector256.Shuffle(b, swap), idx + Vector256.Create(width + 1));
        Vector256.Shuffle(max, even).GetLower().CopyTo(y[ow..]);
        if (!arg.IsEmpty)
        {
            Vector256.Shuffle(best, even).GetLower().CopyTo(arg[ow..]);
        }
    }

    /// <summary>Where <paramref name="v"/> &gt; <paramref name="max"/>: max = v, best = index.</summary>
    private static void Select(ref Vector256<float> max, ref Vector256<int> best, Vector256<float> v, Vector256<int> index)
    {
        var greater = Vector256.GreaterThan(v, max);
        max = Vector256.ConditionalSelect(greater, v, max);
        best = Vector256.ConditionalSelect(greater.AsInt32(), index, best);
    }

    /// <summary>Max pooling of planes [from, to) (a plane is one example's channel), recording arg-max indices when asked.</summary>
    internal static void MaxPlanes(in ConvGeometry g, float[] xs, float[] ys, int[]? argmax, int from, int to)
    {
        if (g is { KernelHeight: 2, KernelWidth: 2, StrideHeight: 2, StrideWidth: 2, DilationHeight: 1, DilationWidth: 1, PadTop: 0, PadLeft: 0 }
            && 2 * g.OutHeight <= g.Height && 2 * g.OutWidth <= g.Width)
        {
            MaxPlanes2x2(g, xs, ys, argmax, from, to);
            return;
        }

        int hw = g.Height * g.Width, outH = g.OutHeight, outW = g.OutWidth, width = g.Width;
        Span<int> windows = stackalloc int[2 * (outH + outW)];
        var rows = windows[..(2 * outH)];
        var cols = windows[(2 * outH)..];
        for (int oh = 0; oh < outH; oh++)
        {
            (rows[2 * oh], rows[2 * oh + 1]) = g.WindowRows(oh);
        }

        for (int ow = 0; ow < outW; ow++)
        {
            (cols[2 * ow], cols[2 * ow + 1]) = g.WindowColumns(ow);
        }

        var x = xs.AsSpan();
        for (int plane = from; plane < to; plane++)
        {
            int inBase = plane * hw, o = plane * outH * outW;
            for (int oh = 0; oh < outH; oh++)
            {
                int h0 = rows[2 * oh], h1 = rows[2 * oh + 1];
                for (int ow = 0; ow < outW; ow++, o++)
                {
                    int w0 = cols[2 * ow], w1 = cols[2 * ow + 1];
                    if (h0 >= h1 || w0 >= w1)
                    {
                        ys[o] = 0f;
                        if (argmax is not null)
                        {
                            argmax[o] = -1;
                        }

                        continue;
                    }

                    int best = inBase + h0 * width + w0;
                    float max = x[best];
                    for (int ih = h0; ih < h1; ih++)
                    {
                        int row = inBase + ih * width;
                        for (int idx = row + w0; idx < row + w1; idx++)
                        {
                            float v = x[idx];
                            if (v > max)
                            {
                                max = v;
                                best = idx;
                            }
                        }
                    }

                    ys[o] = max;
                    if (argmax is not null)
                    {
                        argmax[o] = best;
                    }
                }
            }
        }
    }

    /// <summary>dx = 0, then dx[argmax[o]] += dy[o] for every output o (argmax −1: no input). Parallel over images,
    /// whose windows never reach into another image.</summary>
    internal static void RouteToArgmax(float[] dy, int[] argmax, float[] dx, ConvGeometry g, int batch, int threads, float[]? reluOutput = null)
    {
        if (TilesExactly2x2(g))
        {
            StaticParallel.For(batch * g.Channels, threads, (dy, argmax, dx, reluOutput, g), static (s, from, to) =>
                Route2x2(s.dy, s.argmax, s.dx, s.reluOutput, s.g, from, to));
            return;
        }

        int perImageIn = g.ImageSize, perImageOut = g.Channels * g.OutPositions;
        StaticParallel.For(batch, threads, (dy, argmax, dx, reluOutput, perImageIn, perImageOut), static (s, from, to) =>
            Route(s.dy, s.argmax, s.dx, s.reluOutput, from * s.perImageIn, (to - from) * s.perImageIn, from * s.perImageOut, to * s.perImageOut));

        static void Route(float[] dy, int[] argmax, float[] dx, float[]? reluOutput, int clearFrom, int clearLength, int from, int to)
        {
            dx.AsSpan(clearFrom, clearLength).Clear();
            if (reluOutput is null)
            {
                for (int o = from; o < to; o++)
                {
                    int idx = argmax[o];
                    if (idx >= 0)
                    {
                        dx[idx] += dy[o];
                    }
                }

                return;
            }

            // A gradient reaches only inputs the ReLU before let through (x > 0); the others get +0 added, which
            // leaves their cleared +0. Branch-free: the sign of x is random, a branch on it would mispredict.
            for (int o = from; o < to; o++)
            {
                int idx = argmax[o];
                if (idx >= 0)
                {
                    bool positive = reluOutput[idx] > 0f;
                    int mask = -Unsafe.As<bool, byte>(ref positive);
                    dx[idx] += BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(dy[o]) & mask);
                }
            }
        }
    }

    /// <summary>2×2 windows with stride 2 and no padding that cover the image exactly (even height and width): every
    /// input lies in exactly one window.</summary>
    private static bool TilesExactly2x2(in ConvGeometry g) =>
        g is { KernelHeight: 2, KernelWidth: 2, StrideHeight: 2, StrideWidth: 2, DilationHeight: 1, DilationWidth: 1, PadTop: 0, PadLeft: 0 }
        && 2 * g.OutHeight == g.Height && 2 * g.OutWidth == g.Width;

    /// <summary>
    /// <see cref="RouteToArgmax"/> for windows that tile the image (<see cref="TilesExactly2x2"/>), planes [from, to):
    /// each input is written once, in order — its window's gradient if it won, +0 otherwise — instead of clearing dx
    /// and scattering into it. The winner gets <c>+0 + gradient</c>, as the scatter adds it to the cleared +0, so a −0
    /// gradient becomes +0 here too: the same bits.
    /// </summary>
    private static void Route2x2(float[] dy, int[] argmax, float[] dx, float[]? reluOutput, in ConvGeometry g, int from, int to)
    {
        int width = g.Width, outH = g.OutHeight, outW = g.OutWidth, hw = g.Height * width;

        // Lane i of a window's four values is its offset from the window's top-left input; the winner's lane gets
        // the gradient, the others +0 (compares and masks: the winner's place is random, branches would mispredict).
        var offsets = Vector128.Create(0, 1, width, width + 1);
        ref float dx0 = ref MemoryMarshal.GetArrayDataReference(dx);
        for (int plane = from; plane < to; plane++)
        {
            for (int oh = 0; oh < outH; oh++)
            {
                int top = plane * hw + 2 * oh * width, o = (plane * outH + oh) * outW;
                var winners = argmax.AsSpan(o, outW);
                var gradients = dy.AsSpan(o, outW);
                ref float up = ref Unsafe.Add(ref dx0, top);
                ref float down = ref Unsafe.Add(ref dx0, top + width);
                for (int ow = 0; ow < winners.Length; ow++)
                {
                    int winner = winners[ow];
                    float gradient = gradients[ow];
                    if (reluOutput is not null)
                    {
                        // The ReLU before let a gradient through only where its output is positive.
                        bool positive = reluOutput[winner] > 0f;
                        int mask = -Unsafe.As<bool, byte>(ref positive);
                        gradient = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(gradient) & mask);
                    }

                    gradient += 0f;
                    var won = Vector128.Equals(Vector128.Create(winner - top - 2 * ow), offsets);
                    var values = Vector128.Create(gradient).AsInt32() & won;
                    Unsafe.WriteUnaligned(ref Unsafe.As<float, byte>(ref Unsafe.Add(ref up, 2 * ow)), values.AsInt64().ToScalar());
                    Unsafe.WriteUnaligned(ref Unsafe.As<float, byte>(ref Unsafe.Add(ref down, 2 * ow)), values.AsInt64().GetElement(1));
                }
            }
        }
    }

    /// <summary>ONNX: <c>MaxPool</c> with kernel_shape, pads and strides.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx) =>
        ConvOnnx.Pool(g, "MaxPool", PoolHeight, PoolWidth, Stride, ResolvedPadding);

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new MaxPool2D((PoolHeight, PoolWidth), Stride, Padding);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        _g = Settings.Geometry(Name, inputShape);
        return [_g.Channels, _g.OutHeight, _g.OutWidth];
    }
}
