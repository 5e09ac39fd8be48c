using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using Xunit;

namespace MLNet.Regularization.Tests.Layers;

/// <summary>Convolution and pooling: forward against direct loops, backward against finite differences.</summary>
public class ConvGradientTests
{
    private static T Built<T>(T layer, params int[] inputShape)
        where T : Layer
    {
        layer.Build(inputShape, new Rng(7));
        return layer;
    }

    /// <summary>A direct convolution in double precision, straight from the definition.</summary>
    private static double[] NaiveConv(Tensor x, float[] w, float[]? b, int filters, int kh, int kw, int stride, int dilation, (int Top, int Left, int Bottom, int Right) pad, out int outH, out int outW)
    {
        int n = x.Dim(0), c = x.Dim(1), h = x.Dim(2), wd = x.Dim(3);
        outH = (h + pad.Top + pad.Bottom - dilation * (kh - 1) - 1) / stride + 1;
        outW = (wd + pad.Left + pad.Right - dilation * (kw - 1) - 1) / stride + 1;
        var y = new double[n * filters * outH * outW];
        for (int i = 0; i < n; i++)
        {
            for (int o = 0; o < filters; o++)
            {
                for (int r = 0; r < outH; r++)
                {
                    for (int s = 0; s < outW; s++)
                    {
                        double sum = b?[o] ?? 0;
                        for (int ch = 0; ch < c; ch++)
                        {
                            for (int u = 0; u < kh; u++)
                            {
                                for (int v = 0; v < kw; v++)
                                {
                                    int ih = r * stride - pad.Top + u * dilation, iw = s * stride - pad.Left + v * dilation;
                                    if (ih >= 0 && ih < h && iw >= 0 && iw < wd)
                                    {
                                        sum += (double)w[((o * c + ch) * kh + u) * kw + v] * x.Data[((i * c + ch) * h + ih) * wd + iw];
                                    }
                                }
                            }
                        }

                        y[((i * filters + o) * outH + r) * outW + s] = sum;
                    }
                }
            }
        }

        return y;
    }

    public static TheoryData<int, int, int, int, int, int, int, int, string> ConvCases => new()
    {
        // batch, inC, H, W, filters, kernel, stride, dilation, padding
        { 2, 1, 28, 28, 4, 3, 1, 1, "same" },
        { 3, 3, 9, 7, 5, 3, 2, 1, "1" },
        { 2, 2, 11, 10, 3, 3, 1, 2, "2" },
        { 1, 4, 8, 8, 6, 2, 2, 1, "valid" },
        { 2, 3, 10, 9, 4, 4, 3, 1, "same" },
        { 7, 8, 32, 32, 5, 3, 1, 1, "same" }, // several image chunks
        { 3, 2, 6, 13, 2, 5, 1, 3, "same" },
    };

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv2D_forward_matches_a_direct_convolution(int batch, int inC, int h, int w, int filters, int kernel, int stride, int dilation, string padding)
    {
        var conv = Built(new Conv2D(filters, kernel, stride, Padding2D.Parse(padding), dilation), inC, h, w);
        new Rng(3).FillGaussian(conv.Bias!.Value.Span);
        var x = GradientCheck.Random(batch + inC, 1f, batch, inC, h, w);
        var y = conv.Forward(x, new ForwardContext(ForwardMode.Inference, null, 2));
        var expected = NaiveConv(x, conv.Weight.Value.Data, conv.Bias.Value.Data, filters, kernel, kernel, stride, dilation, conv.ResolvedPadding, out int outH, out int outW);
        Assert.Equal([batch, filters, outH, outW], y.Shape.ToArray());
        if (padding == "same")
        {
            Assert.Equal((h + stride - 1) / stride, outH);
            Assert.Equal((w + stride - 1) / stride, outW);
        }

        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - y.Data[i]) <= 1e-4 * (1 + Math.Abs(expected[i])), $"y[{i}] = {y.Data[i]}, expected {expected[i]}");
        }
    }

    [Fact]
    public void Conv2D_with_a_rectangular_kernel_matches_a_direct_convolution()
    {
        var conv = Built(new Conv2D(3, (2, 4), stride: 1, padding: new Padding2D(1, 2), useBias: false), 2, 7, 9);
        var x = GradientCheck.Random(4, 1f, 2, 2, 7, 9);
        var y = conv.Forward(x, new ForwardContext(ForwardMode.Inference));
        var expected = NaiveConv(x, conv.Weight.Value.Data, null, 3, 2, 4, 1, 1, (1, 2, 1, 2), out _, out _);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], y.Data[i], 4);
        }
    }

    [Theory]
    [InlineData(9)] // three chunks of images in parallel
    [InlineData(1)] // one chunk: the GEMM gets the threads
    public void Conv2D_results_do_not_depend_on_the_thread_count(int batch)
    {
        var conv = Built(new Conv2D(6, 3, padding: "same"), 8, 32, 32);
        var x = GradientCheck.Random(5, 1f, batch, 8, 32, 32);
        var dy = GradientCheck.Random(6, 1f, batch, 6, 32, 32);
        conv.NeedsInputGradient = true;
        var one = new ForwardContext(ForwardMode.Train, new Rng(1), threads: 1);
        var y1 = conv.Forward(x, one).Clone();
        var dx1 = conv.Backward(dy, one).Clone();
        var dw1 = conv.Weight.Gradient.Clone();
        var two = new ForwardContext(ForwardMode.Train, new Rng(1), threads: 3);
        var y2 = conv.Forward(x, two);
        var dx2 = conv.Backward(dy, two);
        Assert.Equal(y1.Data, y2.Data);
        Assert.Equal(dx1.Data, dx2.Data);
        Assert.Equal(dw1.Data, conv.Weight.Gradient.Data);
    }

    public static TheoryData<int, int, string> ConvGradientCases => new()
    {
        // stride, dilation, padding
        { 1, 1, "same" },
        { 2, 1, "1" },
        { 1, 2, "2" },
        { 2, 2, "same" },
    };

    [Theory]
    [MemberData(nameof(ConvGradientCases))]
    public void Conv2D_gradients_match_finite_differences(int stride, int dilation, string padding)
    {
        var conv = Built(new Conv2D(3, 3, stride, Padding2D.Parse(padding), dilation), 2, 7, 6);
        new Rng(3).FillGaussian(conv.Bias!.Value.Span);
        GradientCheck.Check(conv, GradientCheck.Random(14, 1f, 2, 2, 7, 6), maxChecks: 80);
    }

    [Fact]
    public void Conv2D_with_fewer_patch_values_than_filters_gradients_match_finite_differences()
    {
        // 1·2·2 = 4 values per patch for 9 filters: the weight gradient is computed as its transpose (patch values
        // as the product's rows), as for a first layer on grey images.
        var conv = Built(new Conv2D(9, 2, padding: "same"), 1, 6, 7);
        new Rng(3).FillGaussian(conv.Bias!.Value.Span);
        GradientCheck.Check(conv, GradientCheck.Random(17, 1f, 3, 1, 6, 7), maxChecks: 80);
    }

    [Theory]
    [MemberData(nameof(KernelPathTests.Paths), MemberType = typeof(KernelPathTests))]
    public void Conv2D_gives_each_image_of_a_batch_the_bits_it_gets_alone(string path) => KernelPathTests.OnPath(path, () =>
    {
        // 14x14 outputs (196 columns, which fill no kernel's micro-tiles): a batch computes its images' outputs
        // in groups, one GEMM per group; one image alone is one GEMM writing in place. Same bits either way.
        var grouped = Built(new Conv2D(12, 3, padding: "same"), 1, 14, 14);
        var x = GradientCheck.Random(18, 1f, 5, 1, 14, 14);
        var y = grouped.Forward(x, new ForwardContext(ForwardMode.Inference, null, 1)).Data.ToArray();
        int perImage = 12 * 14 * 14;
        for (int i = 0; i < 5; i++)
        {
            var one = new Tensor(x.Data.AsSpan(i * 196, 196).ToArray(), 1, 1, 14, 14);
            var alone = grouped.Forward(one, new ForwardContext(ForwardMode.Inference, null, 1)).Data;
            Assert.Equal(y.AsSpan(i * perImage, perImage).ToArray().Select(BitConverter.SingleToInt32Bits), alone.Select(BitConverter.SingleToInt32Bits));
        }
    });

    [Fact]
    public void Conv2D_on_a_path_forced_for_the_calling_thread_runs_its_chunks_on_worker_threads() => KernelPathTests.OnPath("Vector128", () =>
    {
        // 32·3·3 = 288 values per patch at 14x14 positions: 4 images per chunk, so 9 images make 3 chunks, split
        // over 2 threads. The workers' own path is the widest the machine has, whose micro-tiles may ask for
        // image groups where the forced path does not: the group size decided on the calling thread must hold.
        var conv = Built(new Conv2D(8, 3, padding: "same"), 32, 14, 14);
        var x = GradientCheck.Random(19, 1f, 9, 32, 14, 14);
        var one = conv.Forward(x, new ForwardContext(ForwardMode.Inference, null, 1)).Data.ToArray();
        var two = conv.Forward(x, new ForwardContext(ForwardMode.Inference, null, 2)).Data;
        Assert.Equal(one.Select(BitConverter.SingleToInt32Bits), two.Select(BitConverter.SingleToInt32Bits));
    });

    [Fact]
    public void Conv2D_gradients_span_several_image_chunks()
    {
        // 8·3·3 = 72 values per patch at 32x32 positions: 3 images per chunk, so 5 images make two chunks.
        var conv = Built(new Conv2D(2, 3, padding: "same"), 8, 32, 32);
        GradientCheck.Check(conv, GradientCheck.Random(15, 1f, 5, 8, 32, 32), maxChecks: 40);
    }

    [Fact]
    public void DropConnectConv2D_with_a_fixed_mask_gradients_match_finite_differences()
    {
        var conv = Built(new DropConnectConv2D(3, 3, 0.5f, stride: 1, padding: 1), 2, 6, 5);
        new Rng(3).FillGaussian(conv.Bias!.Value.Span);
        GradientCheck.Check(conv, GradientCheck.Random(16, 1f, 3, 2, 6, 5), maxChecks: 80);
    }

    [Fact]
    public void DropConnectConv2D_gradient_is_zero_exactly_where_a_kernel_weight_was_dropped()
    {
        var conv = Built(new DropConnectConv2D(4, 3, 0.5f, padding: "same"), 3, 8, 8);
        var ctx = GradientCheck.TrainContext();
        conv.Forward(GradientCheck.Random(17, 1f, 4, 3, 8, 8), ctx);
        conv.Backward(GradientCheck.Random(18, 1f, 4, 4, 8, 8), ctx);
        var mask = ctx.Buffer(conv, 1, conv.Weight.Value.Shape);
        int dropped = 0;
        for (int i = 0; i < mask.Length; i++)
        {
            if (mask.Data[i] == 0f)
            {
                dropped++;
                Assert.Equal(0f, conv.Weight.Gradient.Data[i]);
            }
            else
            {
                Assert.NotEqual(0f, conv.Weight.Gradient.Data[i]);
            }
        }

        Assert.InRange(dropped, 30, 78);
    }

    [Fact]
    public void DropConnectConv2D_inference_uses_the_expected_kernels()
    {
        var dc = Built(new DropConnectConv2D(4, 3, 0.3f, padding: 1), 2, 6, 6);
        var plain = Built(new Conv2D(4, 3, padding: 1), 2, 6, 6);
        dc.ExpectedWeights().Span.CopyTo(plain.Weight.Value.Span);
        dc.Bias!.Value.Span.Fill(0.25f);
        plain.Bias!.Value.Span.Fill(0.25f);
        var x = GradientCheck.Random(19, 1f, 3, 2, 6, 6);
        var a = dc.Forward(x, new ForwardContext(ForwardMode.Inference)).Clone();
        var b = plain.Forward(x, new ForwardContext(ForwardMode.Inference));
        for (int i = 0; i < a.Length; i++)
        {
            Assert.Equal(b.Data[i], a.Data[i], 5);
        }
    }

    /// <summary>Distinct values spaced well beyond the finite-difference step, so no max changes its winner.</summary>
    private static Tensor Distinct(int seed, params int[] shape)
    {
        var t = new Tensor(shape);
        int[] order = Enumerable.Range(0, t.Length).ToArray();
        var rng = new Rng(seed);
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }

        for (int i = 0; i < t.Length; i++)
        {
            t.Data[i] = (order[i] - t.Length / 2f) * 0.05f;
        }

        return t;
    }

    [Theory]
    [InlineData(2, null, "0")]
    [InlineData(3, 2, "1")]
    [InlineData(3, 1, "same")]
    public void MaxPool2D_gradients_match_finite_differences(int pool, int? stride, string padding)
    {
        var layer = Built(new MaxPool2D(pool, stride, Padding2D.Parse(padding)), 2, 7, 6);
        GradientCheck.Check(layer, Distinct(20, 2, 2, 7, 6), maxChecks: 168);
    }

    [Fact]
    public void MaxPool2D_picks_the_window_maximum_and_the_first_on_ties()
    {
        var layer = Built(new MaxPool2D(2), 1, 2, 4);
        var x = new Tensor(new float[] { 1, 5, 3, 3, 2, 5, 3, 0 }, 1, 1, 2, 4);
        var ctx = GradientCheck.TrainContext();
        var y = layer.Forward(x, ctx);
        Assert.Equal([5f, 3f], y.Data);
        var dx = layer.Backward(new Tensor(new float[] { 1, 2 }, 1, 1, 1, 2), ctx);
        Assert.Equal([0f, 1f, 2f, 0f, 0f, 0f, 0f, 0f], dx.Data);
    }

    [Theory]
    [InlineData(10, 21)] // wide rows: the vectorized 2x2 path, an odd last column left out
    [InlineData(7, 6)] // narrow rows: the scalar 2x2 path only
    [InlineData(8, 20)] // windows that tile the image: backward writes dx in place instead of scattering
    [InlineData(6, 4)]
    public void MaxPool2D_2x2_matches_a_plain_scan_with_many_ties(int height, int width)
    {
        const int Batch = 2, Channels = 3;
        var layer = Built(new MaxPool2D(2), Channels, height, width);
        var rng = new Random(4);
        var x = new Tensor(Enumerable.Range(0, Batch * Channels * height * width).Select(_ => (float)rng.Next(3)).ToArray(), Batch, Channels, height, width);
        var ctx = new ForwardContext(ForwardMode.Train, new Rng(1), threads: 2);
        var y = layer.Forward(x, ctx);
        var dy = GradientCheck.Random(5, 1f, y.Shape.ToArray());
        dy.Data[0] = -0f; // a −0 gradient reaches its input as +0 (added to the cleared +0)
        var dx = layer.Backward(dy, ctx);

        // Reference: scan each window row by row, a later value winning only when strictly greater.
        int outH = height / 2, outW = width / 2;
        var expectedDx = new float[x.Length];
        for (int plane = 0; plane < Batch * Channels; plane++)
        {
            for (int oh = 0; oh < outH; oh++)
            {
                for (int ow = 0; ow < outW; ow++)
                {
                    int best = -1;
                    for (int i = 2 * oh; i < 2 * oh + 2; i++)
                    {
                        for (int j = 2 * ow; j < 2 * ow + 2; j++)
                        {
                            int at = (plane * height + i) * width + j;
                            if (best < 0 || x.Data[at] > x.Data[best])
                            {
                                best = at;
                            }
                        }
                    }

                    int o = (plane * outH + oh) * outW + ow;
                    Assert.Equal(x.Data[best], y.Data[o]);
                    expectedDx[best] += dy.Data[o];
                }
            }
        }

        Assert.Equal(expectedDx.Select(BitConverter.SingleToInt32Bits), dx.Data.Select(BitConverter.SingleToInt32Bits));
    }

    [Theory]
    [InlineData(2, null, "0")]
    [InlineData(3, 2, "1")]
    [InlineData(3, 1, "same")]
    public void AvgPool2D_gradients_match_finite_differences(int pool, int? stride, string padding)
    {
        var layer = Built(new AvgPool2D(pool, stride, Padding2D.Parse(padding)), 2, 7, 6);
        GradientCheck.Check(layer, GradientCheck.Random(21, 1f, 2, 2, 7, 6), maxChecks: 168);
    }

    [Fact]
    public void AvgPool2D_excludes_padding_from_the_divisor()
    {
        var layer = Built(new AvgPool2D(3, 1, 1), 1, 3, 3);
        var x = new Tensor(Enumerable.Range(1, 9).Select(v => (float)v).ToArray(), 1, 1, 3, 3);
        var y = layer.Forward(x, new ForwardContext(ForwardMode.Inference));
        Assert.Equal((1 + 2 + 4 + 5) / 4f, y.Data[0], 6); // corner: 4 real pixels
        Assert.Equal(5f, y.Data[4], 6); // centre: all 9
        Assert.Equal((1 + 2 + 3 + 4 + 5 + 6) / 6f, y.Data[1], 6); // edge: 6 real pixels
    }

    [Fact]
    public void GlobalAveragePool_gradients_match_finite_differences_and_output_is_flat()
    {
        var layer = Built(new GlobalAveragePool(), 3, 4, 5);
        Assert.Equal([3], layer.OutputShape.ToArray());
        GradientCheck.Check(layer, GradientCheck.Random(22, 1f, 2, 3, 4, 5));
    }

    [Fact]
    public void Flatten_is_a_view_in_NCHW_order_and_its_gradient_is_the_identity()
    {
        var layer = Built(new Flatten(), 2, 3, 4);
        Assert.Equal([24], layer.OutputShape.ToArray());
        var x = GradientCheck.Random(23, 1f, 2, 2, 3, 4);
        var y = layer.Forward(x, GradientCheck.TrainContext());
        Assert.Same(x.Data, y.Data);
        Assert.Equal([2, 24], y.Shape.ToArray());
        GradientCheck.Check(layer, x);
    }

    [Fact]
    public void BatchNorm_on_conv_feature_maps_gradients_match_finite_differences()
    {
        var bn = Built(new BatchNorm(), 4, 5, 3);
        new Rng(24).FillGaussian(bn.Gamma.Value.Span);
        new Rng(25).FillGaussian(bn.Beta.Value.Span);
        GradientCheck.Check(bn, GradientCheck.Random(26, 2f, 3, 4, 5, 3), atol: 3e-3, rtol: 3e-2);
    }

    [Fact]
    public void Small_conv_net_gradients_match_finite_differences_end_to_end()
    {
        var net = Network.Sequential(new Conv2D(3, 3, padding: "same"), new Tanh(), new AvgPool2D(2), new Conv2D(2, 2), new Flatten(), new Dense(3));
        net.Build([2, 6, 6], seed: 5);
        var x = GradientCheck.Random(27, 1f, 2, 2, 6, 6);
        var r = GradientCheck.Random(28, 1f, 2, 3);
        var ctx = GradientCheck.TrainContext();
        net.Forward(x, ctx);
        net.Backward(r, ctx);
        var first = (Conv2D)net.Layers[0];
        var analytic = first.Weight.Gradient.Clone();
        double L()
        {
            var y = net.Forward(x, new ForwardContext(ForwardMode.Inference));
            double s = 0;
            for (int i = 0; i < y.Length; i++)
            {
                s += (double)r.Data[i] * y.Data[i];
            }

            return s;
        }

        GradientCheck.Compare("conv1.weight", first.Weight.Value.Data, analytic.Data, L, 54, 2e-3, 2e-2, "network");
    }

    [Theory]
    [InlineData("same")]
    [InlineData("SAME")]
    [InlineData("valid")]
    [InlineData("2")]
    public void Padding_parses_its_text_forms(string text)
    {
        Padding2D p = text;
        Assert.Equal(text.ToLowerInvariant() == "same", p.IsSame);
    }

    [Fact]
    public void Bad_settings_are_rejected_with_named_errors()
    {
        Assert.Throws<ArgumentException>(() => { Padding2D p = "full"; });
        Assert.Throws<ArgumentOutOfRangeException>(() => new Conv2D(0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Conv2D(4, 3, stride: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaxPool2D(2, padding: 2));
        var e = Assert.Throws<ArgumentException>(() => Network.Sequential(new Conv2D(4, 5)).Build([1, 3, 3]));
        Assert.Contains("does not fit", e.Message);
        var flat = Assert.Throws<ArgumentException>(() => Network.Sequential(new Conv2D(4, 3)).Build([784]));
        Assert.Contains("[channels, height, width]", flat.Message);
    }
}
