using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using Xunit;

namespace MLNet.Regularization.Tests.Layers;

/// <summary>Statistical checks of every random mask over at least 10^6 units.</summary>
public class MaskStatisticsTests
{
    private const int Units = 1_000_000;

    private static Tensor Ones(int batch, int width)
    {
        var t = new Tensor(batch, width);
        t.Span.Fill(1f);
        return t;
    }

    private static Tensor PositiveInput(int seed)
    {
        // Activations in (0.5, 1.5): the mean must be preserved, not just the count of zeros.
        var t = new Tensor(1000, 1000);
        new Rng(seed).FillUniform(t.Span);
        for (int i = 0; i < t.Length; i++)
        {
            t.Data[i] += 0.5f;
        }

        return t;
    }

    [Theory]
    [InlineData(0.1f)]
    [InlineData(0.5f)]
    [InlineData(0.8f)]
    public void Inverted_dropout_drops_the_rate_and_preserves_the_mean(float rate)
    {
        var layer = new Dropout(rate);
        layer.Build([1000], new Rng(0));
        var x = PositiveInput(1);
        var y = layer.Forward(x, new ForwardContext(ForwardMode.Train, new Rng(42)));
        Assert.Equal(Units, y.Length);
        double zeros = y.Data.Count(v => v == 0f) / (double)Units;
        Assert.InRange(zeros, rate - 0.005, rate + 0.005);
        double meanIn = x.Data.Average(v => (double)v), meanOut = y.Data.Average(v => (double)v);
        Assert.InRange(meanOut / meanIn, 0.99, 1.01);
        float kept = 1f / (1f - rate);
        for (int i = 0; i < y.Length; i++)
        {
            Assert.True(y.Data[i] == 0f || y.Data[i] == x.Data[i] * kept);
        }
    }

    [Fact]
    public void Inverted_dropout_is_the_identity_at_inference()
    {
        var layer = new Dropout(0.5f);
        layer.Build([1000], new Rng(0));
        var x = PositiveInput(2);
        var y = layer.Forward(x, new ForwardContext(ForwardMode.Inference));
        Assert.Equal(x.Data, y.Data);
    }

    [Fact]
    public void Classic_dropout_keeps_survivors_unscaled_and_scales_by_keep_probability_at_inference()
    {
        var layer = new Dropout(0.3f, DropoutVariant.Classic);
        layer.Build([1000], new Rng(0));
        var x = PositiveInput(3);
        var train = layer.Forward(x, new ForwardContext(ForwardMode.Train, new Rng(5))).Clone();
        double zeros = train.Data.Count(v => v == 0f) / (double)Units;
        Assert.InRange(zeros, 0.295, 0.305);
        Assert.All(Enumerable.Range(0, 1000), i => Assert.True(train.Data[i] == 0f || train.Data[i] == x.Data[i]));
        var inference = layer.Forward(x, new ForwardContext(ForwardMode.Inference));
        for (int i = 0; i < 1000; i++)
        {
            Assert.Equal(x.Data[i] * 0.7f, inference.Data[i]);
        }

        // The expectation of training output equals the inference output within 1%.
        double ratio = train.Data.Average(v => (double)v) / inference.Data.Average(v => (double)v);
        Assert.InRange(ratio, 0.99, 1.01);
    }

    [Fact]
    public void Dropout_masks_are_reproducible_by_seed_and_differ_between_seeds()
    {
        var layer = new Dropout(0.5f);
        layer.Build([1000], new Rng(0));
        var x = Ones(100, 1000);
        var a = layer.Forward(x, new ForwardContext(ForwardMode.Train, new Rng(9))).Clone();
        var b = layer.Forward(x, new ForwardContext(ForwardMode.Train, new Rng(9))).Clone();
        var c = layer.Forward(x, new ForwardContext(ForwardMode.Train, new Rng(10))).Clone();
        Assert.Equal(a.Data, b.Data);
        Assert.NotEqual(a.Data, c.Data);
    }

    [Fact]
    public void Consecutive_dropout_masks_are_uncorrelated()
    {
        var layer = new Dropout(0.5f);
        layer.Build([1000], new Rng(0));
        var ctx = new ForwardContext(ForwardMode.Train, new Rng(1));
        var x = Ones(1000, 1000);
        var first = layer.Forward(x, ctx).Clone();
        var second = layer.Forward(x, ctx);
        double both = 0;
        for (int i = 0; i < Units; i++)
        {
            both += first.Data[i] != 0f && second.Data[i] != 0f ? 1 : 0;
        }

        Assert.InRange(both / Units, 0.245, 0.255); // independent: 0.5 · 0.5
    }

    [Theory]
    [InlineData(0.2f)]
    [InlineData(0.5f)]
    public void Gaussian_dropout_noise_has_mean_one_and_variance_rate_over_keep(float rate)
    {
        var layer = new GaussianDropout(rate);
        layer.Build([1000], new Rng(0));
        var y = layer.Forward(Ones(1000, 1000), new ForwardContext(ForwardMode.Train, new Rng(3)));
        double mean = y.Data.Average(v => (double)v);
        double variance = y.Data.Average(v => (v - mean) * (v - mean));
        double expected = rate / (1 - rate);
        Assert.InRange(mean, 0.99, 1.01);
        Assert.InRange(variance, expected * 0.99, expected * 1.01);
        var inference = layer.Forward(PositiveInput(4), new ForwardContext(ForwardMode.Inference));
        Assert.Equal(PositiveInput(4).Data, inference.Data);
    }

    [Fact]
    public void DropConnect_per_minibatch_mask_drops_the_rate_of_weights_and_preserves_the_expected_output()
    {
        var layer = new DropConnectDense(1000, 0.5f);
        layer.Build([1000], new Rng(0));
        var ctx = new ForwardContext(ForwardMode.Train, new Rng(8));
        var x = PositiveInput(5);
        var trainOut = layer.Forward(x, ctx).Clone();
        var mask = ctx.Buffer(layer, 1, [1000, 1000]);
        double dropped = mask.Data.Count(v => v == 0f) / (double)Units;
        Assert.InRange(dropped, 0.495, 0.505);

        // Inference uses the expected weights (1 − p)·W: averaged over many masks the training output matches it.
        var inference = layer.Forward(x, new ForwardContext(ForwardMode.Inference));
        var single = new Tensor(new float[1000], 1, 1000);
        x.Span[..1000].CopyTo(single.Span);
        var expectedRow = layer.Forward(single, new ForwardContext(ForwardMode.Inference)).Clone();
        var sum = new double[1000];
        var mcCtx = new ForwardContext(ForwardMode.Train, new Rng(9));
        const int draws = 400;
        for (int t = 0; t < draws; t++)
        {
            var y = layer.Forward(single, mcCtx);
            for (int j = 0; j < 1000; j++)
            {
                sum[j] += y.Data[j];
            }
        }

        double num = 0, den = 0;
        for (int j = 0; j < 1000; j++)
        {
            num += Math.Abs(sum[j] / draws - expectedRow.Data[j]);
            den += Math.Abs(expectedRow.Data[j]);
        }

        Assert.True(num / den < 0.05, $"mean relative deviation {num / den:P2}");
        Assert.Equal(expectedRow.Data, inference.Data.AsSpan(0, 1000).ToArray());
        Assert.NotEqual(trainOut.Data, inference.Data);
    }

    [Fact]
    public void DropConnect_per_example_masks_differ_between_examples()
    {
        var layer = new DropConnectDense(50, 0.5f, DropConnectMaskMode.PerExample);
        layer.Build([40], new Rng(0));
        var x = new Tensor(2, 40);
        x.Span.Fill(1f);
        var y = layer.Forward(x, new ForwardContext(ForwardMode.Train, new Rng(1)));
        Assert.NotEqual(y.Data.AsSpan(0, 50).ToArray(), y.Data.AsSpan(50, 50).ToArray());
    }

    [Fact]
    public void Rng_uniforms_have_the_right_moments()
    {
        var u = new float[Units];
        new Rng(77).FillUniform(u);
        double mean = u.Average(v => (double)v);
        double variance = u.Average(v => (v - mean) * (v - mean));
        Assert.InRange(mean, 0.499, 0.501);
        Assert.InRange(variance, 1.0 / 12 * 0.99, 1.0 / 12 * 1.01);
        Assert.All(u, v => Assert.InRange(v, 0f, 0.99999994f));
    }

    [Theory]
    [InlineData(0f, 0)]
    [InlineData(0.3f, 5)]
    [InlineData(0.5f, 12345678901UL)]
    [InlineData(0.9f, 17)]
    public void Vectorized_Bernoulli_masks_equal_the_scalar_definition(float rate, ulong start)
    {
        var rng = new Rng(31);
        uint threshold = (uint)Math.Round(rate * (1 << 24));
        var scalar = new float[1003];
        rng.FillBernoulliScalar(scalar, threshold, 2.5f, start);
        var mixed = new float[1003];
        rng.FillBernoulli(mixed, rate, 2.5f, start);
        Assert.Equal(scalar, mixed);
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
        {
            var vector = new float[1008];
            Assert.Equal(1008, rng.FillBernoulliVector512(vector, threshold, 2.5f, start));
            Assert.Equal(scalar, vector.AsSpan(0, 1003).ToArray());
        }

        // The AVX2 and 128-bit paths (their 64-bit products built from 32-bit ones), wherever this machine runs them.
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            var vector = new float[1008];
            Assert.Equal(1008, rng.FillBernoulliVector256(vector, threshold, 2.5f, start));
            Assert.Equal(scalar, vector.AsSpan(0, 1003).ToArray());
        }

        if (System.Runtime.Intrinsics.X86.Sse41.IsSupported || System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported)
        {
            var vector = new float[1004];
            Assert.Equal(1004, rng.FillBernoulliVector128(vector, threshold, 2.5f, start));
            Assert.Equal(scalar, vector.AsSpan(0, 1003).ToArray());
        }
    }

    [Theory]
    [InlineData(-0.1f)]
    [InlineData(1f)]
    [InlineData(1.5f)]
    [InlineData(float.NaN)]
    public void Dropout_rates_outside_zero_to_one_are_rejected(float rate)
    {
        Assert.Contains("[0, 1)", Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout(rate)).Message);
        Assert.Contains("[0, 1)", Assert.Throws<ArgumentOutOfRangeException>(() => new GaussianDropout(rate)).Message);
        Assert.Contains("[0, 1)", Assert.Throws<ArgumentOutOfRangeException>(() => new DropConnectDense(4, rate)).Message);
    }
}
