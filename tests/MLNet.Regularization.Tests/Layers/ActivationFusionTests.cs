using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using Xunit;

namespace MLNet.Regularization.Tests.Layers;

/// <summary>
/// A Dense followed by a ReLU applies the ReLU in its GEMM epilogue. The fused pair must give the unfused pair's
/// bits in every mode, forward and backward (the unfused layers are the ones the finite-difference checks cover).
/// </summary>
public class ActivationFusionTests
{
    private static Network Net() => Network.Sequential(
        new Dense(64), new ReLU(), new Dropout(0.3f), new Dense(48), new ReLU(), new Dense(10)).Build([40], 5);

    [Fact]
    public void Dense_then_ReLU_is_fused_and_nothing_else_is()
    {
        var net = Network.Sequential(new Dense(8), new ReLU(), new Dense(8), new BatchNorm(), new ReLU(), new Dense(8), new Tanh(), new ReLU()).Build([4], 1);
        var l = net.Layers;
        Assert.Equal(GemmActivation.ReLU, ((Dense)l[0]).FusedActivation);
        Assert.True(((Activation)l[1]).AppliedByPreviousLayer);
        Assert.Equal(GemmActivation.None, ((Dense)l[2]).FusedActivation); // batch norm in between
        Assert.False(((Activation)l[4]).AppliedByPreviousLayer);
        Assert.Equal(GemmActivation.None, ((Dense)l[5]).FusedActivation); // followed by tanh
        Assert.False(((Activation)l[6]).AppliedByPreviousLayer);
        Assert.False(((Activation)l[7]).AppliedByPreviousLayer);
    }

    [Theory]
    [InlineData(ForwardMode.Train)]
    [InlineData(ForwardMode.Inference)]
    [InlineData(ForwardMode.MonteCarlo)]
    public void Fused_and_unfused_networks_give_the_same_bits(ForwardMode mode)
    {
        var x = GradientCheck.Random(3, 1f, 9, 40);
        var dy = GradientCheck.Random(4, 1f, 9, 10);

        var fused = Net();
        var (outFused, gradsFused) = Run(fused, x, dy, mode);

        var unfused = Net();
        foreach (var layer in unfused.Layers)
        {
            if (layer is Dense d)
            {
                d.FusedActivation = GemmActivation.None;
            }
            else if (layer is Activation a)
            {
                a.AppliedByPreviousLayer = false;
            }
        }

        var (outPlain, gradsPlain) = Run(unfused, x, dy, mode);
        Assert.Equal(outPlain.Select(BitConverter.SingleToInt32Bits), outFused.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(gradsPlain.Select(BitConverter.SingleToInt32Bits), gradsFused.Select(BitConverter.SingleToInt32Bits));
        Assert.Contains(outFused, v => v != 0f);
        if (mode == ForwardMode.Train)
        {
            Assert.Contains(gradsFused, v => v != 0f);
        }
    }

    private static (float[] Output, float[] Gradients) Run(Network net, Tensor x, Tensor dy, ForwardMode mode)
    {
        var ctx = new ForwardContext(mode, new Rng(77), threads: 2);
        float[] output = net.Forward(x, ctx).Data.ToArray();
        if (mode != ForwardMode.Train)
        {
            return (output, []);
        }

        net.Backward(dy, ctx);
        return (output, net.Parameters.SelectMany(p => p.Gradient.Data).ToArray());
    }
}
