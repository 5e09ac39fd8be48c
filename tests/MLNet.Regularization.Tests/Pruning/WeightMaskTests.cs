using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Pruning;

/// <summary>Masks hold through training: pruned weights are exactly 0 after every optimizer, with weight decay,
/// L2 and max-norm, and the optimizers' state (momentum, Adam's moments) stays 0 there too.</summary>
public class WeightMaskTests
{
    public static TheoryData<string> Settings => ["sgd", "sgd momentum", "sgd nesterov", "adam", "adamw", "adam l2 max-norm", "adamw max-norm dropconnect", "sgd momentum conv"];

    private static TrainerOptions Options(string setting) => new()
    {
        Epochs = 3, BatchSize = 16, Seed = 4, MaxThreads = 2,
        Optimizer = setting switch
        {
            _ when setting.StartsWith("sgd nesterov", StringComparison.Ordinal) => new Sgd { LearningRate = 0.05f, Momentum = 0.9f, Nesterov = true },
            _ when setting.StartsWith("sgd momentum", StringComparison.Ordinal) => new Sgd { LearningRate = 0.05f, Momentum = 0.9f },
            _ when setting.StartsWith("sgd", StringComparison.Ordinal) => new Sgd { LearningRate = 0.05f },
            _ when setting.StartsWith("adamw", StringComparison.Ordinal) => new AdamW { LearningRate = 0.01f, WeightDecay = 0.1f },
            _ => new Adam { LearningRate = 0.01f },
        },
        L2 = setting.Contains("l2", StringComparison.Ordinal) ? 1e-3f : 0f,
        MaxNorm = setting.Contains("max-norm", StringComparison.Ordinal) ? 0.5f : null,
    };

    private static (Network Net, Dataset Data) Case(string setting)
    {
        if (setting.EndsWith("conv", StringComparison.Ordinal))
        {
            var images = TestData.Blobs(96, 36, 3, 1);
            var data = Dataset.ForClassification(images.Features.Data, [1, 6, 6], images.Labels!, 3);
            return (Network.Sequential(new Conv2D(4, 3), new BatchNorm(), new ReLU(), new DropConnectConv2D(4, 3, 0.3f), new ReLU(), new Flatten(), new Dense(3)).Build([1, 6, 6], 2), data);
        }

        Layer hidden = setting.EndsWith("dropconnect", StringComparison.Ordinal) ? new DropConnectDense(24, 0.3f) : new Dense(24);
        return (Network.Sequential(new Dense(32), new ReLU(), hidden, new Tanh(), new Dense(3)).Build([10], 2), TestData.Blobs(160, 10, 3, 1));
    }

    [Theory]
    [MemberData(nameof(Settings))]
    public void Pruned_weights_stay_exactly_zero_through_training(string setting)
    {
        var (net, data) = Case(setting);
        var rng = new Rng(8);
        foreach (var (_, _, w) in NetworkSparsity.PrunableWeights(net))
        {
            w.SetMask(WeightMask.FromFlags(Enumerable.Range(0, w.Value.Length).Select(_ => rng.NextFloat() < 0.6f).ToArray()));
        }

        var before = net.Clone();
        var model = new Trainer(Options(setting)).Fit(net, data);
        var trained = NetworkSparsity.PrunableWeights(model.Network);
        var start = NetworkSparsity.PrunableWeights(before);
        for (int i = 0; i < trained.Count; i++)
        {
            var mask = trained[i].Weight.Mask!;
            Assert.Same(start[i].Weight.Mask, mask);
            var w = trained[i].Weight.Value.Data;
            int moved = 0;
            for (int j = 0; j < w.Length; j++)
            {
                if (mask.IsKept(j))
                {
                    moved += w[j] != start[i].Weight.Value.Data[j] ? 1 : 0;
                }
                else
                {
                    Assert.True(BitConverter.SingleToInt32Bits(w[j]) << 1 == 0, $"{setting}: pruned weight {j} of layer {trained[i].LayerIndex} is {w[j]}");
                }
            }

            // The survivors did train.
            Assert.True(moved > mask.KeptCount / 2, $"{setting}: only {moved} of {mask.KeptCount} surviving weights of layer {trained[i].LayerIndex} changed");
        }

        // The inference network (DropConnect folded to its expected weights, batch norm folded) keeps the zeros and the masks.
        foreach (var (_, layer, w) in NetworkSparsity.PrunableWeights(model.InferenceNetwork))
        {
            for (int j = 0; j < w.Value.Length; j++)
            {
                Assert.True(w.Mask!.IsKept(j) || w.Value.Data[j] == 0f, $"{setting}: inference {layer.Name} weight {j} is {w.Value.Data[j]}");
            }
        }
    }

    [Theory]
    [InlineData("sgd momentum")]
    [InlineData("sgd nesterov")]
    [InlineData("adam")]
    [InlineData("adamw")]
    public void Optimizer_state_of_pruned_weights_stays_zero(string setting)
    {
        // Masked steps, then the mask is lifted and one step with a zero gradient follows: only state left behind
        // (velocity, Adam's moments) could move a weight now, so the formerly pruned weights must stay at 0 while the
        // surviving ones, whose state is not 0, move.
        var optimizer = Options(setting).Optimizer;
        var p = new Parameter("w", new Tensor(70_001), ParameterKind.Weight, 10);
        var rng = new Rng(3);
        rng.FillGaussian(p.Value.Span);
        var flags = Enumerable.Range(0, p.Value.Length).Select(_ => rng.NextFloat() < 0.5f).ToArray();
        p.SetMask(WeightMask.FromFlags(flags));
        var state = optimizer.CreateState([p]);
        for (int step = 1; step <= 3; step++)
        {
            rng.FillGaussian(p.Gradient.Span);
            state.Step(optimizer.LearningRate, step, threads: 2);
        }

        p.SetMask(null);
        var before = p.Value.Data.ToArray();
        p.Gradient.Span.Clear();
        state.Step(optimizer.LearningRate, 4, threads: 2);
        int moved = 0;
        for (int j = 0; j < flags.Length; j++)
        {
            if (flags[j])
            {
                moved += p.Value.Data[j] != before[j] ? 1 : 0;
            }
            else
            {
                Assert.Equal(0f, p.Value.Data[j]);
            }
        }

        Assert.True(moved > flags.Count(f => f) * 9 / 10, $"{setting}: only {moved} surviving weights moved on their state");
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("sgd nesterov")]
    [InlineData("adamw")]
    public void A_mask_that_keeps_everything_changes_no_bit(string setting)
    {
        var data = TestData.Blobs(160, 10, 3, 1);
        var plain = Network.Sequential(new Dense(24), new ReLU(), new Dense(3)).Build([10], 5);
        var masked = plain.Clone();
        foreach (var (_, _, w) in NetworkSparsity.PrunableWeights(masked))
        {
            w.SetMask(WeightMask.All(w.Value.Length));
        }

        var a = new Trainer(Options(setting)).Fit(plain, data).Network.Parameters.SelectMany(p => p.Value.Data);
        var b = new Trainer(Options(setting)).Fit(masked, data).Network.Parameters.SelectMany(p => p.Value.Data);
        Assert.Equal(a.Select(BitConverter.SingleToInt32Bits), b.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void Weights_overwritten_after_masking_are_zeroed_again_when_training_starts()
    {
        var net = Network.Sequential(new Dense(8), new ReLU(), new Dense(3)).Build([10], 1);
        var w = ((Dense)net.Layers[0]).Weight;
        w.SetMask(WeightMask.FromFlags(Enumerable.Range(0, w.Value.Length).Select(i => i % 3 != 0).ToArray()));
        w.Value.Span.Fill(0.25f);
        var model = new Trainer(new TrainerOptions { Epochs = 1, BatchSize = 20 }).Fit(net, TestData.Blobs(60, 10, 3, 2));
        var trained = ((Dense)model.Network.Layers[0]).Weight.Value.Data;
        Assert.All(Enumerable.Range(0, trained.Length).Where(i => i % 3 == 0), i => Assert.Equal(0f, trained[i]));
    }

    [Fact]
    public void Masks_are_copied_by_clone_and_checked_when_set()
    {
        var net = Network.Sequential(new Dense(4, useBias: true), new ReLU(), new Dense(2)).Build([3], 1);
        var dense = (Dense)net.Layers[0];
        var mask = WeightMask.FromFlags([true, false, true, true, false, true, true, true, false, true, true, true]);
        dense.Weight.SetMask(mask);
        Assert.Equal([1, 4, 8], Enumerable.Range(0, 12).Where(i => dense.Weight.Value.Data[i] == 0f));
        Assert.Same(mask, ((Dense)net.Clone().Layers[0]).Weight.Mask);
        Assert.Equal(0.75, NetworkSparsity.PerLayer(net)[0].FractionRemaining);
        Assert.Equal(1.0 - (3.0 / 20), NetworkSparsity.FractionRemaining(net), 12);

        var wrongLength = Assert.Throws<ArgumentException>(() => dense.Weight.SetMask(WeightMask.All(11)));
        Assert.Contains("has 12 values; the mask has 11", wrongLength.Message, StringComparison.Ordinal);
        var bias = Assert.Throws<ArgumentException>(() => dense.Bias!.SetMask(WeightMask.All(4)));
        Assert.Contains("only weights can be pruned", bias.Message, StringComparison.Ordinal);
        var count = Assert.Throws<ArgumentException>(() => NetworkSparsity.SetMasks(net, [mask]));
        Assert.Contains("2 prunable weights; 1 masks", count.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bits_round_trip_and_bad_bits_are_refused()
    {
        var rng = new Rng(1);
        foreach (int length in new[] { 0, 1, 7, 8, 9, 1000 })
        {
            var flags = Enumerable.Range(0, length).Select(_ => rng.NextFloat() < 0.3f).ToArray();
            var mask = WeightMask.FromFlags(flags);
            Assert.Equal((length + 7) / 8, mask.ToBits().Length);
            var back = WeightMask.FromBits(mask.ToBits(), length);
            Assert.Equal(flags, back.ToFlags());
            Assert.Equal(flags.Count(f => f), back.KeptCount);
        }

        Assert.Contains("takes 2 bytes, got 1", Assert.Throws<ArgumentException>(() => WeightMask.FromBits([0xFF], 9)).Message, StringComparison.Ordinal);
        Assert.Contains("bits set beyond its end", Assert.Throws<ArgumentException>(() => WeightMask.FromBits([0xFF, 0x02], 9)).Message, StringComparison.Ordinal);
    }
}
