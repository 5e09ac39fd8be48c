using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using Xunit;

namespace MLNet.Regularization.Tests.Layers;

/// <summary>
/// A Dense, Conv2D or BatchNorm followed by a ReLU applies the ReLU itself, and a MaxPool2D after a ReLU applies
/// its derivative. The fused layers must give the unfused layers' bits in every mode, forward and backward (the
/// unfused layers are the ones the finite-difference checks cover).
/// </summary>
public class ActivationFusionTests
{
    private static Network Mlp() => Network.Sequential(
        new Dense(64), new ReLU(), new Dropout(0.3f), new Dense(48, useBias: false), new BatchNorm(), new ReLU(), new Dense(10)).Build([40], 5);

    private static Network Cnn() => Network.Sequential(
        new Conv2D(6, 3, padding: "same"), new ReLU(), new MaxPool2D(2), new Conv2D(8, 3), new BatchNorm(), new ReLU(), new Flatten(), new Dense(10)).Build([2, 10, 10], 5);

    [Fact]
    public void Dense_then_ReLU_is_fused_and_nothing_else_is()
    {
        var net = Network.Sequential(new Dense(8), new ReLU(), new Dense(8), new BatchNorm(), new ReLU(), new Dense(8), new Tanh(), new ReLU()).Build([4], 1);
        var l = net.Layers;
        var cnn = Cnn().Layers;
        Assert.Equal(GemmActivation.ReLU, ((Conv2D)cnn[0]).FusedActivation);
        Assert.True(((Activation)cnn[1]).AppliedByPreviousLayer);
        Assert.True(((Activation)cnn[1]).GradientAppliedByNextLayer); // the max pool after it applies the derivative
        Assert.True(((MaxPool2D)cnn[2]).AppliesReluGradient);
        Assert.False(((Activation)cnn[5]).GradientAppliedByNextLayer); // a Flatten follows
        Assert.Equal(GemmActivation.ReLU, ((Dense)l[0]).FusedActivation);
        Assert.True(((Activation)l[1]).AppliedByPreviousLayer);
        Assert.Equal(GemmActivation.None, ((Dense)l[2]).FusedActivation); // batch norm in between: it takes the ReLU
        Assert.Equal(GemmActivation.ReLU, ((BatchNorm)l[3]).FusedActivation);
        Assert.True(((Activation)l[4]).AppliedByPreviousLayer);
        Assert.Equal(GemmActivation.None, ((Dense)l[5]).FusedActivation); // followed by tanh
        Assert.False(((Activation)l[6]).AppliedByPreviousLayer);
        Assert.False(((Activation)l[7]).AppliedByPreviousLayer);
    }

    [Theory]
    [InlineData(ForwardMode.Train, false)]
    [InlineData(ForwardMode.Inference, false)]
    [InlineData(ForwardMode.MonteCarlo, false)]
    [InlineData(ForwardMode.Train, true)]
    [InlineData(ForwardMode.Inference, true)]
    [InlineData(ForwardMode.MonteCarlo, true)]
    public void Fused_and_unfused_networks_give_the_same_bits(ForwardMode mode, bool convolutional)
    {
        var x = convolutional ? GradientCheck.Random(3, 1f, 9, 2, 10, 10) : GradientCheck.Random(3, 1f, 9, 40);
        var dy = GradientCheck.Random(4, 1f, 9, 10);

        var fused = convolutional ? Cnn() : Mlp();
        var (outFused, gradsFused) = Run(fused, x, dy, mode);

        var unfused = convolutional ? Cnn() : Mlp();
        foreach (var layer in unfused.Layers)
        {
            if (layer is Dense d)
            {
                d.FusedActivation = GemmActivation.None;
            }
            else if (layer is Conv2D c)
            {
                c.FusedActivation = GemmActivation.None;
            }
            else if (layer is BatchNorm bn)
            {
                bn.FusedActivation = GemmActivation.None;
            }
            else if (layer is Activation a)
            {
                a.AppliedByPreviousLayer = false;
                a.GradientAppliedByNextLayer = false;
            }
            else if (layer is MaxPool2D pool)
            {
                pool.AppliesReluGradient = false;
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
