using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using Xunit;

namespace MLNet.Regularization.Tests.Layers;

/// <summary>Finite-difference checks of the convolutional regularizers in training mode; every evaluation re-seeds the
/// context, so masks, holes and blocks stay fixed.</summary>
public class ConvRegularizerGradientTests
{
    private static T Built<T>(T layer, params int[] inputShape)
        where T : Layer
    {
        layer.Build(inputShape, new Rng(7));
        return layer;
    }

    /// <summary>Distinct values 0.05 apart in random order, so that no maximum changes under the finite-difference step.</summary>
    internal static Tensor Distinct(int seed, float offset, params int[] shape)
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
            t.Data[i] = offset + order[i] * 0.05f;
        }

        return t;
    }

    [Fact]
    public void SpatialDropout2D_with_fixed_masks_gradients_match_finite_differences()
    {
        var layer = Built(new SpatialDropout2D(0.4f), 5, 3, 4);
        GradientCheck.Check(layer, GradientCheck.Random(30, 1f, 3, 5, 3, 4), maxChecks: 180);
    }

    [Fact]
    public void DropBlock_with_fixed_blocks_gradients_match_finite_differences()
    {
        var layer = Built(new DropBlock(0.3f, 2), 3, 6, 6);
        GradientCheck.Check(layer, GradientCheck.Random(31, 1f, 2, 3, 6, 6), maxChecks: 216);
    }

    [Fact]
    public void Cutout_with_fixed_holes_gradients_match_finite_differences()
    {
        var layer = Built(new Cutout(3, count: 2, fill: 0.5f), 2, 7, 7);
        GradientCheck.Check(layer, GradientCheck.Random(32, 1f, 3, 2, 7, 7), maxChecks: 294);
    }

    [Theory]
    [InlineData(2, null, "0", -2.125f)]
    [InlineData(3, 2, "1", -1.275f)]
    public void MaxPoolingDropout_with_a_fixed_mask_gradients_match_finite_differences(int pool, int? stride, string padding, float offset)
    {
        var layer = Built(new MaxPoolingDropout(0.5f, pool, stride, Padding2D.Parse(padding)), 2, 6, 7);

        // Positive and negative values (none within 0.025 of a dropped unit's 0): a 0 may win, then no gradient flows.
        GradientCheck.Check(layer, Distinct(33, offset, 2, 2, 6, 7), maxChecks: 168);
    }

    [Theory]
    [InlineData(MaxDropMode.FeatureWise)]
    [InlineData(MaxDropMode.ChannelWise)]
    public void MaxDrop_with_fixed_drops_gradients_match_finite_differences(MaxDropMode mode)
    {
        var layer = Built(new MaxDrop(0.5f, mode), 3, 4, 5);
        GradientCheck.Check(layer, Distinct(34, -3f, 2, 3, 4, 5), maxChecks: 120);
    }

    [Fact]
    public void MaxPoolingDropout_backward_sends_nothing_through_a_window_whose_winner_was_dropped()
    {
        var layer = Built(new MaxPoolingDropout(0.6f), 1, 20, 20);
        var x = Distinct(35, 1f, 4, 1, 20, 20); // all positive: a window's output is 0 only when every unit was dropped
        var ctx = GradientCheck.TrainContext();
        var y = layer.Forward(x, ctx).Clone();
        var ones = new Tensor(y.Shape.ToArray());
        ones.Span.Fill(1f);
        var dx = layer.Backward(ones, ctx);
        int zeros = y.Data.Count(v => v == 0f);
        Assert.True(zeros > 0);
        Assert.Equal(y.Length - zeros, (int)dx.Data.Sum());
        for (int i = 0; i < x.Length; i++)
        {
            Assert.True(dx.Data[i] == 0f || y.Data.Contains(x.Data[i]));
        }
    }
}
