using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Layers;

public class GradientTests
{
    private static T Built<T>(T layer, params int[] inputShape)
        where T : Layer
    {
        layer.Build(inputShape, new Rng(7));
        return layer;
    }

    [Fact]
    public void Dense_gradients_match_finite_differences()
    {
        var dense = Built(new Dense(5), 7);
        new Rng(3).FillGaussian(dense.Bias!.Value.Span);
        GradientCheck.Check(dense, GradientCheck.Random(1, 1f, 4, 7));
    }

    [Fact]
    public void Dense_without_bias_gradients_match_finite_differences()
    {
        var dense = Built(new Dense(3, WeightInit.GlorotNormal, useBias: false), 6);
        Assert.Single(dense.Parameters);
        GradientCheck.Check(dense, GradientCheck.Random(2, 1f, 5, 6));
    }

    public static TheoryData<string> ActivationNames => new() { "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU" };

    /// <summary>The activation named in <see cref="ActivationNames"/>.</summary>
    internal static Activation CreateActivation(string name) => name switch
    {
        "ReLU" => new ReLU(),
        "LeakyReLU" => new LeakyReLU(0.1f),
        "Tanh" => new Tanh(),
        "Sigmoid" => new Sigmoid(),
        _ => new GELU(),
    };

    [Theory]
    [MemberData(nameof(ActivationNames))]
    public void Activation_gradients_match_finite_differences(string name)
    {
        var layer = Built(CreateActivation(name), 10);
        var x = GradientCheck.Random(5, 1.5f, 6, 10);
        GradientCheck.AwayFromZero(x, 0.05f); // ReLU-family kinks
        GradientCheck.Check(layer, x, maxChecks: 60);
    }

    [Fact]
    public void BatchNorm_training_mode_gradients_match_finite_differences()
    {
        var bn = Built(new BatchNorm(), 4);
        new Rng(11).FillGaussian(bn.Gamma.Value.Span);
        new Rng(12).FillGaussian(bn.Beta.Value.Span);
        var x = GradientCheck.Random(6, 2f, 8, 4);
        GradientCheck.Check(bn, x, atol: 3e-3, rtol: 3e-2);
    }

    [Fact]
    public void BatchNorm_on_images_gradients_match_finite_differences()
    {
        var bn = Built(new BatchNorm(), 3, 2, 2);
        new Rng(13).FillGaussian(bn.Gamma.Value.Span);
        GradientCheck.Check(bn, GradientCheck.Random(8, 1f, 4, 3, 2, 2), atol: 3e-3, rtol: 3e-2);
    }

    [Fact]
    public void Dropout_with_fixed_mask_gradients_match_finite_differences()
    {
        foreach (var variant in new[] { DropoutVariant.Inverted, DropoutVariant.Classic })
        {
            var dropout = Built(new Dropout(0.4f, variant), 12);
            GradientCheck.Check(dropout, GradientCheck.Random(9, 1f, 5, 12));
        }
    }

    [Fact]
    public void Dropout_backward_uses_the_forward_mask()
    {
        var dropout = Built(new Dropout(0.5f), 1000);
        var ctx = GradientCheck.TrainContext();
        var x = GradientCheck.Random(1, 1f, 1, 1000);
        var y = dropout.Forward(x, ctx).Clone();
        var ones = new Tensor(1, 1000);
        ones.Span.Fill(1f);
        var dx = dropout.Backward(ones, ctx);
        for (int i = 0; i < 1000; i++)
        {
            Assert.Equal(y.Data[i] == 0f, dx.Data[i] == 0f);
            if (y.Data[i] != 0f)
            {
                Assert.Equal(2f, dx.Data[i]);
            }
        }
    }

    [Fact]
    public void GaussianDropout_with_fixed_noise_gradients_match_finite_differences()
    {
        var layer = Built(new GaussianDropout(0.3f), 9);
        GradientCheck.Check(layer, GradientCheck.Random(10, 1f, 4, 9));
    }

    [Theory]
    [InlineData(DropConnectMaskMode.PerMiniBatch)]
    [InlineData(DropConnectMaskMode.PerExample)]
    public void DropConnect_with_fixed_mask_gradients_match_finite_differences(DropConnectMaskMode mode)
    {
        var layer = Built(new DropConnectDense(4, 0.5f, mode), 6);
        new Rng(3).FillGaussian(layer.Bias.Value.Span);
        GradientCheck.Check(layer, GradientCheck.Random(11, 1f, 3, 6));
    }

    [Fact]
    public void DropConnect_gradient_is_zero_exactly_where_the_weight_was_dropped()
    {
        var layer = Built(new DropConnectDense(8, 0.5f), 10);
        var mask = new Tensor(8, 10);
        new Rng(4).FillBernoulli(mask.Span, 0.5f, 1f);
        var ctx = GradientCheck.TrainContext();
        var x = GradientCheck.Random(12, 1f, 5, 10);
        layer.ForwardWithMask(x, mask, ctx);
        layer.Backward(GradientCheck.Random(13, 1f, 5, 8), ctx);
        int dropped = 0;
        for (int i = 0; i < mask.Length; i++)
        {
            if (mask.Data[i] == 0f)
            {
                dropped++;
                Assert.Equal(0f, layer.Weight.Gradient.Data[i]);
            }
            else
            {
                Assert.NotEqual(0f, layer.Weight.Gradient.Data[i]);
            }
        }

        Assert.InRange(dropped, 20, 60);
    }

    public static TheoryData<string> LossNames => new() { "softmax-ce", "bce", "mse" };

    [Theory]
    [MemberData(nameof(LossNames))]
    public void Loss_gradients_match_finite_differences(string name)
    {
        (Loss loss, Tensor output, float[] targets) = name switch
        {
            "softmax-ce" => ((Loss)new SoftmaxCrossEntropy(), GradientCheck.Random(20, 3f, 6, 5), new float[] { 0, 4, 2, 2, 1, 3 }),
            "bce" => (new BinaryCrossEntropy(), GradientCheck.Random(21, 3f, 6, 1), new float[] { 0, 1, 1, 0, 1, 0 }),
            _ => (new MeanSquaredError(), GradientCheck.Random(22, 1f, 4, 3), GradientCheck.Random(23, 1f, 4, 3).Data),
        };
        var grad = new Tensor(output.Shape.ToArray());
        loss.Compute(output, targets, grad);
        var scratch = new Tensor(output.Shape.ToArray());
        GradientCheck.Compare("output", output.Data, grad.Data, () => loss.Compute(output, targets, scratch), 100, 1e-4, 2e-2, name);
    }

    [Fact]
    public void Softmax_cross_entropy_is_stable_for_huge_logits()
    {
        var output = new Tensor(new float[] { 1e30f, -1e30f, 0f, 3e4f, 3e4f, -3e4f }, 2, 3);
        var grad = new Tensor(2, 3);
        float value = new SoftmaxCrossEntropy().Compute(output, new float[] { 0, 1 }, grad);
        Assert.True(float.IsFinite(value));
        Assert.All(grad.Data, g => Assert.True(float.IsFinite(g)));
        Assert.Equal(0f, new SoftmaxCrossEntropy().Compute(new Tensor(new float[] { 1e30f, 0f }, 1, 2), new float[] { 0 }, new Tensor(1, 2)));
    }

    [Fact]
    public void Gelu_matches_its_definition_through_erf()
    {
        // erf at known points (Abramowitz & Stegun table 7.1).
        Assert.Equal(0.8427007929497149, MathExtras.Erf(1.0), 12);
        Assert.Equal(0.9953222650189527, MathExtras.Erf(2.0), 12);
        Assert.Equal(0.9999779095030014, MathExtras.Erf(3.0), 12);
        Assert.Equal(-0.5204998778130465, MathExtras.Erf(-0.5), 12);
    }
}
