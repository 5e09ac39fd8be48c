using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using Xunit;

namespace MLNet.Regularization.Tests.Layers;

/// <summary>Statistics and structure of the convolutional regularizers' masks, over at least 10^6 units each.</summary>
public class ConvMaskStatisticsTests
{
    private static T Built<T>(T layer, params int[] inputShape)
        where T : Layer
    {
        layer.Build(inputShape, new Rng(0));
        return layer;
    }

    /// <summary>Activations in (0.5, 1.5): the mean must be preserved, not just the count of zeros.</summary>
    private static Tensor Positive(int seed, params int[] shape)
    {
        var t = new Tensor(shape);
        new Rng(seed).FillUniform(t.Span);
        for (int i = 0; i < t.Length; i++)
        {
            t.Data[i] += 0.5f;
        }

        return t;
    }

    private static ForwardContext Train(int seed) => new(ForwardMode.Train, new Rng(seed));

    [Theory]
    [InlineData(0.1f)]
    [InlineData(0.3f)]
    [InlineData(0.5f)]
    public void SpatialDropout2D_drops_whole_maps_at_the_rate_and_preserves_the_mean(float rate)
    {
        var layer = Built(new SpatialDropout2D(rate), 64, 3, 3);
        var x = Positive(1, 2000, 64, 3, 3); // 128,000 maps, 1,152,000 units
        var y = layer.Forward(x, Train(2));
        float kept = 1f / (1f - rate);
        int droppedMaps = 0;
        for (int m = 0; m < 2000 * 64; m++)
        {
            bool zero = y.Data[m * 9] == 0f;
            droppedMaps += zero ? 1 : 0;
            for (int p = m * 9; p < m * 9 + 9; p++)
            {
                Assert.Equal(zero ? 0f : x.Data[p] * kept, y.Data[p]);
            }
        }

        Assert.InRange(droppedMaps / 128000.0, rate - 0.005, rate + 0.005);
        Assert.InRange(y.Data.Average(v => (double)v) / x.Data.Average(v => (double)v), 0.99, 1.01);
    }

    /// <summary>The exact expected fraction of units DropBlock drops: 1 − mean over units of (1 − γ)^(number of
    /// valid block positions covering the unit).</summary>
    private static double ExpectedDropBlockFraction(int h, int w, int block, double gamma)
    {
        double kept = 0;
        for (int r = 0; r < h; r++)
        {
            for (int c = 0; c < w; c++)
            {
                int rows = Math.Min(r, h - block) - Math.Max(0, r - block + 1) + 1;
                int cols = Math.Min(c, w - block) - Math.Max(0, c - block + 1) + 1;
                kept += Math.Pow(1 - gamma, rows * cols);
            }
        }

        return 1 - kept / (h * w);
    }

    [Theory]
    [InlineData(0.1f, 3)]
    [InlineData(0.2f, 5)]
    public void DropBlock_drops_square_blocks_near_the_rate_and_preserves_the_mean(float rate, int block)
    {
        const int n = 200, c = 32, h = 14, w = 14; // 1,254,400 units
        var layer = Built(new DropBlock(rate, block), c, h, w);
        double gamma = rate / (double)(block * block) * (h * w) / ((h - block + 1.0) * (w - block + 1));
        Assert.Equal(gamma, layer.Gamma, 6);
        var x = Positive(3, n, c, h, w);
        var ctx = Train(4);
        var y = layer.Forward(x, ctx);
        var mask = ctx.Buffer(layer, 1, [n * c, h, w]);

        double dropped = mask.Data.Count(v => v == 0f) / (double)mask.Length;
        Assert.InRange(dropped, ExpectedDropBlockFraction(h, w, block, gamma) - 0.005, ExpectedDropBlockFraction(h, w, block, gamma) + 0.005);
        Assert.InRange(dropped, rate - 0.03, rate + 0.005); // overlapping blocks drop slightly less than the target
        Assert.InRange(y.Data.Average(v => (double)v) / x.Data.Average(v => (double)v), 0.99, 1.01);

        // Whole-block structure: every dropped unit lies in a block × block square, inside the map, that is all dropped.
        for (int plane = 0; plane < n * c; plane += 7)
        {
            var m = mask.Data.AsSpan(plane * h * w, h * w);
            for (int r = 0; r < h; r++)
            {
                for (int q = 0; q < w; q++)
                {
                    if (m[r * w + q] != 0f)
                    {
                        continue;
                    }

                    bool inBlock = false;
                    for (int i = Math.Max(0, r - block + 1); i <= Math.Min(r, h - block) && !inBlock; i++)
                    {
                        for (int j = Math.Max(0, q - block + 1); j <= Math.Min(q, w - block) && !inBlock; j++)
                        {
                            bool all = true;
                            for (int a = i; a < i + block && all; a++)
                            {
                                for (int b = j; b < j + block && all; b++)
                                {
                                    all = m[a * w + b] == 0f;
                                }
                            }

                            inBlock = all;
                        }
                    }

                    Assert.True(inBlock, $"plane {plane}: dropped unit ({r}, {q}) is not part of a whole {block}x{block} block");
                }
            }
        }

        // Survivors are scaled by count(M) / count_ones(M).
        float scale = (float)(1.0 / (1.0 - dropped));
        for (int i = 0; i < 1000; i++)
        {
            Assert.Equal(mask.Data[i] == 0f ? 0f : x.Data[i] * scale, y.Data[i], 4);
        }
    }

    [Fact]
    public void DropBlock_can_share_one_mask_across_channels()
    {
        var layer = Built(new DropBlock(0.3f, 3, shareMaskAcrossChannels: true), 4, 10, 10);
        var x = Positive(5, 50, 4, 10, 10);
        var y = layer.Forward(x, Train(6));
        for (int i = 0; i < 50; i++)
        {
            for (int p = 0; p < 100; p++)
            {
                bool zero = y.Data[i * 400 + p] == 0f;
                for (int ch = 1; ch < 4; ch++)
                {
                    Assert.Equal(zero, y.Data[i * 400 + ch * 100 + p] == 0f);
                }
            }
        }
    }

    /// <summary>Expected rows (or columns) a hole covers when its centre is uniform over <paramref name="size"/> pixels.</summary>
    private static double ExpectedCoverage(int size, int hole)
    {
        double sum = 0;
        for (int centre = 0; centre < size; centre++)
        {
            int top = centre - hole / 2;
            sum += Math.Min(size, top + hole) - Math.Max(0, top);
        }

        return sum / size;
    }

    [Theory]
    [InlineData(8, 1, 1f)]
    [InlineData(5, 1, 0.5f)]
    [InlineData(4, 3, 0.7f)]
    public void Cutout_cuts_holes_of_the_right_size_count_and_probability(int size, int count, float probability)
    {
        const int n = 40000, c = 2, h = 12, w = 10; // 9,600,000 units
        var layer = Built(new Cutout(size, count, probability), c, h, w);
        var x = Positive(7, n, c, h, w);
        var y = layer.Forward(x, Train(8));
        int augmented = 0;
        long zeros = 0;
        for (int i = 0; i < n; i++)
        {
            var first = y.Data.AsSpan(i * c * h * w, h * w);
            var second = y.Data.AsSpan((i * c + 1) * h * w, h * w);
            int hole = 0, top = h, left = w, bottom = -1, right = -1;
            for (int p = 0; p < h * w; p++)
            {
                Assert.Equal(first[p] == 0f, second[p] == 0f); // every channel shares the holes
                Assert.True(first[p] == 0f || first[p] == x.Data[i * c * h * w + p]);
                if (first[p] == 0f)
                {
                    hole++;
                    (top, left, bottom, right) = (Math.Min(top, p / w), Math.Min(left, p % w), Math.Max(bottom, p / w), Math.Max(right, p % w));
                }
            }

            zeros += hole;
            augmented += hole > 0 ? 1 : 0;
            Assert.True(hole <= count * size * size);
            if (count == 1 && hole > 0)
            {
                // One hole: a rectangle, exactly size × size unless clipped by a border.
                int height = bottom - top + 1, width = right - left + 1;
                Assert.Equal(height * width, hole);
                Assert.True(height == size || top == 0 || bottom == h - 1, $"hole rows {top}..{bottom}");
                Assert.True(width == size || left == 0 || right == w - 1, $"hole columns {left}..{right}");
            }
        }

        Assert.InRange(augmented / (double)n, probability - 0.01, probability + 0.01);
        if (count == 1)
        {
            double expected = probability * ExpectedCoverage(h, size) * ExpectedCoverage(w, size) / (h * w);
            Assert.InRange(zeros / (double)(n * h * w), expected * 0.98, expected * 1.02);
        }
    }

    [Theory]
    [InlineData(MaxDropMode.FeatureWise, 0.3f)]
    [InlineData(MaxDropMode.ChannelWise, 0.5f)]
    public void MaxDrop_drops_each_groups_maximum_at_the_rate(MaxDropMode mode, float rate)
    {
        // Feature-wise: 80,000 maps of 16 units; channel-wise: 100,000 pixels of 10 channels.
        var (n, c, h, w) = mode == MaxDropMode.FeatureWise ? (5000, 16, 4, 4) : (1000, 10, 10, 10);
        var layer = Built(new MaxDrop(rate, mode), c, h, w);
        var x = Positive(9, n, c, h, w);
        var y = layer.Forward(x, Train(10));
        int hw = h * w, groups = mode == MaxDropMode.FeatureWise ? n * c : n * hw, groupSize = mode == MaxDropMode.FeatureWise ? hw : c;
        Assert.True((long)groups * groupSize >= 1_000_000);
        int dropped = 0;
        for (int g = 0; g < groups; g++)
        {
            int changed = 0;
            float max = float.NegativeInfinity;
            int argmax = -1;
            for (int t = 0; t < groupSize; t++)
            {
                int idx = mode == MaxDropMode.FeatureWise ? g * hw + t : (g / hw) * c * hw + t * hw + g % hw;
                if (x.Data[idx] > max)
                {
                    (max, argmax) = (x.Data[idx], idx);
                }

                if (y.Data[idx] != x.Data[idx])
                {
                    changed++;
                    Assert.Equal(0f, y.Data[idx]);
                }
            }

            Assert.InRange(changed, 0, 1);
            if (changed == 1)
            {
                Assert.Equal(0f, y.Data[argmax]); // the one dropped is the maximum
                dropped++;
            }
        }

        Assert.InRange(dropped / (double)groups, rate - 0.005, rate + 0.005);
    }

    [Fact]
    public void MaxPoolingDropout_zeroes_a_window_when_all_its_units_drop_and_otherwise_keeps_a_window_value()
    {
        const float rate = 0.5f;
        var layer = Built(new MaxPoolingDropout(rate), 16, 16, 16);
        var x = Positive(11, 1000, 16, 16, 16); // 4,096,000 inputs, 1,024,000 windows
        var y = layer.Forward(x, Train(12));
        int zeros = 0, maxima = 0;
        for (int o = 0; o < y.Length; o++)
        {
            int plane = o / 64, oh = o % 64 / 8, ow = o % 8;
            float max = 0f;
            bool found = y.Data[o] == 0f;
            for (int a = 0; a < 2; a++)
            {
                for (int b = 0; b < 2; b++)
                {
                    float v = x.Data[plane * 256 + (2 * oh + a) * 16 + 2 * ow + b];
                    max = Math.Max(max, v);
                    found |= v == y.Data[o];
                }
            }

            Assert.True(found);
            zeros += y.Data[o] == 0f ? 1 : 0;
            maxima += y.Data[o] == max ? 1 : 0;
        }

        Assert.InRange(zeros / (double)y.Length, Math.Pow(rate, 4) - 0.005, Math.Pow(rate, 4) + 0.005); // all four dropped
        Assert.InRange(maxima / (double)y.Length, 1 - rate - 0.005, 1 - rate + 0.005); // the maximum itself kept
    }

    [Theory]
    [InlineData(0.5f, 2, 2, "0", 0f)]
    [InlineData(0.3f, 3, 2, "1", 0f)]
    [InlineData(0.4f, 2, 2, "0", -0.7f)] // some windows entirely negative: dropped zeros win there
    public void Probabilistic_weighted_pooling_equals_the_Monte_Carlo_mean_of_training_outputs(float rate, int pool, int stride, string padding, float shift)
    {
        var layer = Built(new MaxPoolingDropout(rate, pool, stride, Padding2D.Parse(padding)), 3, 7, 8);
        var x = Positive(13, 2, 3, 7, 8);
        for (int i = 0; i < x.Length; i++)
        {
            x.Data[i] += shift;
        }

        var expected = layer.Forward(x, new ForwardContext(ForwardMode.Inference)).Clone();
        var sum = new double[expected.Length];
        var ctx = new ForwardContext(ForwardMode.MonteCarlo, new Rng(14));
        const int draws = 20000;
        for (int d = 0; d < draws; d++)
        {
            var y = layer.Forward(x, ctx);
            for (int i = 0; i < sum.Length; i++)
            {
                sum[i] += y.Data[i];
            }
        }

        for (int i = 0; i < sum.Length; i++)
        {
            Assert.True(Math.Abs(sum[i] / draws - expected.Data[i]) < 0.02, $"window {i}: Monte Carlo {sum[i] / draws:F4}, weighted pooling {expected.Data[i]:F4}");
        }
    }

    [Fact]
    public void Probabilistic_weighted_pooling_follows_the_papers_formula()
    {
        // Sorted descending a = (4, 3, 2, 1), p = 0.5, q = 0.5: Σ q·p^(i−1)·a_i = 2 + 0.75 + 0.25 + 0.0625.
        Span<float> window = [2f, 4f, 1f, 3f];
        Assert.Equal(3.0625f, MaxPoolingDropout.ExpectedMax(window, 0.5f, MaxPoolingDropoutInference.ProbabilisticWeighted), 6);
        Span<float> negative = [-2f, -1f, -3f, -4f];
        Assert.Equal(-1f * 0.0625f, MaxPoolingDropout.ExpectedMax(negative, 0.5f, MaxPoolingDropoutInference.ProbabilisticWeighted), 6);
        Span<float> plain = [2f, 4f, 1f, 3f];
        Assert.Equal(4f, MaxPoolingDropout.ExpectedMax(plain, 0.5f, MaxPoolingDropoutInference.Max));
    }

    [Theory]
    [InlineData(0.5f)]
    [InlineData(0.2f)]
    public void DropConnectConv2D_masks_kernels_at_the_rate_and_inference_matches_the_mean_output(float rate)
    {
        var big = Built(new DropConnectConv2D(512, 3, rate), 256, 3, 3); // 1,179,648 kernel weights
        var ctx = Train(15);
        big.Forward(Positive(16, 1, 256, 3, 3), ctx);
        var mask = ctx.Buffer(big, 1, big.Weight.Value.Shape);
        Assert.True(mask.Length >= 1_000_000);
        Assert.InRange(mask.Data.Count(v => v == 0f) / (double)mask.Length, rate - 0.005, rate + 0.005);

        var layer = Built(new DropConnectConv2D(8, 3, rate, padding: 1), 4, 6, 6);
        var x = Positive(17, 1, 4, 6, 6);
        var inference = layer.Forward(x, new ForwardContext(ForwardMode.Inference)).Clone();
        var sum = new double[inference.Length];
        var mc = new ForwardContext(ForwardMode.MonteCarlo, new Rng(18));
        const int draws = 2000;
        for (int d = 0; d < draws; d++)
        {
            var y = layer.Forward(x, mc);
            for (int i = 0; i < sum.Length; i++)
            {
                sum[i] += y.Data[i];
            }
        }

        double num = 0, den = 0;
        for (int i = 0; i < sum.Length; i++)
        {
            num += Math.Abs(sum[i] / draws - inference.Data[i]);
            den += Math.Abs(inference.Data[i]);
        }

        Assert.True(num / den < 0.05, $"mean relative deviation {num / den:P2}");
    }

    public static TheoryData<string> Regularizers => new() { "spatial", "dropblock", "cutout", "maxdrop-f", "maxdrop-c", "mpdropout", "mpdropout-max", "dropconnect" };

    private static Layer Create(string name) => name switch
    {
        "spatial" => new SpatialDropout2D(0.5f),
        "dropblock" => new DropBlock(0.3f, 3),
        "cutout" => new Cutout(4),
        "maxdrop-f" => new MaxDrop(0.5f),
        "maxdrop-c" => new MaxDrop(0.5f, MaxDropMode.ChannelWise),
        "mpdropout" => new MaxPoolingDropout(0.3f),
        "mpdropout-max" => new MaxPoolingDropout(0.3f, inference: MaxPoolingDropoutInference.Max),
        _ => new DropConnectConv2D(4, 3, 0.5f, padding: "same"),
    };

    [Theory]
    [MemberData(nameof(Regularizers))]
    public void Inference_is_deterministic_and_masks_are_reproducible_by_seed(string name)
    {
        var layer = Built(Create(name), 4, 10, 10);
        Assert.True(layer.IsStochastic);
        var x = Positive(19, 8, 4, 10, 10);
        var a = layer.Forward(x, new ForwardContext(ForwardMode.Inference)).Clone();
        var b = layer.Forward(x, new ForwardContext(ForwardMode.Inference, null, threads: 2)).Clone();
        Assert.Equal(a.Data, b.Data);
        if (name is "spatial" or "dropblock" or "cutout" or "maxdrop-f" or "maxdrop-c")
        {
            Assert.Equal(x.Data, a.Data); // training-only regularizers are the identity at inference
        }

        if (name == "mpdropout-max")
        {
            var plain = Built(new MaxPool2D(2), 4, 10, 10);
            Assert.Equal(plain.Forward(x, new ForwardContext(ForwardMode.Inference)).Data, a.Data);
        }

        var t1 = layer.Forward(x, Train(20)).Clone();
        var t2 = layer.Forward(x, new ForwardContext(ForwardMode.Train, new Rng(20), threads: 2)).Clone();
        var t3 = layer.Forward(x, Train(21)).Clone();
        Assert.Equal(t1.Data, t2.Data);
        Assert.NotEqual(t1.Data, t3.Data);
        Assert.NotEqual(a.Data, t1.Data);

        // Monte Carlo mode samples like training.
        var mc = layer.Forward(x, new ForwardContext(ForwardMode.MonteCarlo, new Rng(20))).Clone();
        Assert.Equal(t1.Data, mc.Data);
    }

    [Fact]
    public void Regularizer_settings_are_checked()
    {
        Assert.Contains("[0, 1)", Assert.Throws<ArgumentOutOfRangeException>(() => new SpatialDropout2D(1f)).Message);
        Assert.Contains("[0, 1)", Assert.Throws<ArgumentOutOfRangeException>(() => new DropBlock(-0.1f)).Message);
        Assert.Contains("[0, 1)", Assert.Throws<ArgumentOutOfRangeException>(() => new MaxDrop(float.NaN)).Message);
        Assert.Contains("[0, 1)", Assert.Throws<ArgumentOutOfRangeException>(() => new MaxPoolingDropout(1.5f)).Message);
        Assert.Contains("[0, 1)", Assert.Throws<ArgumentOutOfRangeException>(() => new DropConnectConv2D(4, 3, 1f)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Cutout(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Cutout(4, probability: 1.5f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DropBlock(0.1f, 0));
        Assert.Contains("[channels, height, width]", Assert.Throws<ArgumentException>(() => Network.Sequential(new SpatialDropout2D(0.2f)).Build([784])).Message);
    }
}
