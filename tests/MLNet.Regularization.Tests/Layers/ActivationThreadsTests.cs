using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using Xunit;

namespace MLNet.Regularization.Tests.Layers;

/// <summary>Large activations are split over the threads; the split must not change a bit.</summary>
public class ActivationThreadsTests
{
    [Theory]
    [MemberData(nameof(GradientTests.ActivationNames), MemberType = typeof(GradientTests))]
    public void One_and_two_threads_give_the_same_bits(string name)
    {
        var x = GradientCheck.Random(8, 2f, 7, 10_001); // 70,007 values: over the parallel threshold, an odd split
        var dy = GradientCheck.Random(9, 1f, 7, 10_001);
        var (y1, dx1) = Run(name, x, dy, threads: 1);
        var (y2, dx2) = Run(name, x, dy, threads: 2);
        Assert.Equal(y1.Select(BitConverter.SingleToInt32Bits), y2.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(dx1.Select(BitConverter.SingleToInt32Bits), dx2.Select(BitConverter.SingleToInt32Bits));
        Assert.Contains(dx2, v => v != 0f);
    }

    private static (float[] Y, float[] Dx) Run(string name, Tensor x, Tensor dy, int threads)
    {
        var layer = GradientTests.CreateActivation(name);
        layer.Build([10_001], new Rng(1));
        var ctx = new ForwardContext(ForwardMode.Train, new Rng(1), threads);
        float[] y = layer.Forward(x, ctx).Data.ToArray();
        return (y, layer.Backward(dy, ctx).Data.ToArray());
    }
}
