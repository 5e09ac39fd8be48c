using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using Xunit;

namespace MLNet.Regularization.Tests.Layers;

public class BatchNormTests
{
    [Fact]
    public void Running_statistics_converge_to_the_datas_mean_and_variance_and_inference_uses_them()
    {
        float[] means = [3f, -2f, 0.5f];
        float[] stds = [2f, 0.5f, 1f];
        var bn = new BatchNorm(momentum: 0.1f);
        bn.Build([3], new Rng(0));
        var rng = new Rng(1);
        var ctx = new ForwardContext(ForwardMode.Train, new Rng(2));
        var x = new Tensor(64, 3);
        for (int step = 0; step < 300; step++)
        {
            for (int i = 0; i < 64; i++)
            {
                for (int c = 0; c < 3; c++)
                {
                    x.Data[i * 3 + c] = means[c] + stds[c] * rng.NextGaussian();
                }
            }

            var y = bn.Forward(x, ctx);

            // Training output is normalized with the batch's own statistics.
            for (int c = 0; c < 3; c++)
            {
                double m = Enumerable.Range(0, 64).Average(i => (double)y.Data[i * 3 + c]);
                Assert.InRange(m, -1e-4, 1e-4);
            }
        }

        for (int c = 0; c < 3; c++)
        {
            Assert.InRange(bn.RunningMean.Data[c], means[c] - 0.1f * stds[c], means[c] + 0.1f * stds[c]);
            float variance = stds[c] * stds[c];
            Assert.InRange(bn.RunningVariance.Data[c], variance * 0.85f, variance * 1.15f);
        }

        // Inference: (x − running mean) / √(running var + ε) · γ + β, with γ = 1 and β = 0.
        var probe = new Tensor(new float[] { 3f, -2f, 0.5f, 5f, -1.5f, 1.5f }, 2, 3);
        var outInference = bn.Forward(probe, new ForwardContext(ForwardMode.Inference));
        for (int i = 0; i < 6; i++)
        {
            int c = i % 3;
            float expected = (probe.Data[i] - bn.RunningMean.Data[c]) / MathF.Sqrt(bn.RunningVariance.Data[c] + bn.Epsilon);
            Assert.Equal(expected, outInference.Data[i], 5);
        }

        // Monte Carlo mode also uses the running statistics.
        var outMc = bn.Forward(probe, new ForwardContext(ForwardMode.MonteCarlo, new Rng(3)));
        Assert.Equal(outInference.Data, outMc.Data);
    }

    [Fact]
    public void Images_give_the_same_bits_on_one_and_two_threads()
    {
        // Channels are split over the threads in training forward and backward; the split must not change a bit.
        var x = GradientCheck.Random(21, 3f, 6, 5, 9, 11);
        var dy = GradientCheck.Random(22, 1f, 6, 5, 9, 11);
        float[] Run(int threads)
        {
            var bn = new BatchNorm();
            bn.Build([5, 9, 11], new Rng(1));
            new Rng(2).FillGaussian(bn.Gamma.Value.Span);
            var ctx = new ForwardContext(ForwardMode.Train, new Rng(1), threads);
            var y = bn.Forward(x, ctx).Data.ToArray();
            var dx = bn.Backward(dy, ctx).Data.ToArray();
            return [.. y, .. dx, .. bn.Gamma.Gradient.Data, .. bn.Beta.Gradient.Data, .. bn.RunningMean.Data, .. bn.RunningVariance.Data];
        }

        var one = Run(1);
        Assert.Equal(one.Select(BitConverter.SingleToInt32Bits), Run(2).Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(Run(1).Select(BitConverter.SingleToInt32Bits), Run(3).Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void Batch_of_one_in_training_is_rejected_with_a_clear_message()
    {
        var bn = new BatchNorm();
        bn.Build([4], new Rng(0));
        var e = Assert.Throws<ArgumentException>(() => bn.Forward(new Tensor(1, 4), new ForwardContext(ForwardMode.Train, new Rng(0))));
        Assert.Contains("batch size of at least 2", e.Message);
    }
}
