using MLNet.Regularization.Layers;
using MLNet.Regularization.Pruning;
using Xunit;

namespace MLNet.Regularization.Tests.Pruning;

public class MagnitudePruningTests
{
    private static Network Net() => Network.Sequential(
        new Dense(40), new ReLU(), new DropConnectDense(30, 0.2f), new ReLU(), new Dense(10)).Build([25], 3);

    private static int Pruned(Parameter w) => w.Mask?.PrunedCount ?? 0;

    [Theory]
    [InlineData(0.2, null)]
    [InlineData(0.37, 0.05)]
    [InlineData(0.9, 0.9)]
    public void Layer_wise_pruning_removes_the_requested_share_of_each_layer_smallest_first(double rate, double? outputRate)
    {
        var net = Net();
        var options = new MagnitudePruningOptions { Rate = rate, OutputLayerRate = outputRate };
        for (int round = 0; round < 3; round++)
        {
            var before = NetworkSparsity.PrunableWeights(net).Select(w => w.Weight.Mask?.KeptCount ?? w.Weight.Value.Length).ToArray();
            MagnitudePruning.Prune(net, options);
            var weights = NetworkSparsity.PrunableWeights(net);
            for (int i = 0; i < weights.Count; i++)
            {
                double layerRate = i == weights.Count - 1 ? outputRate ?? rate / 2 : rate;
                var mask = weights[i].Weight.Mask!;
                double wanted = layerRate * before[i];
                Assert.True(Math.Abs(before[i] - mask.KeptCount - wanted) <= 0.5 + 1e-9, $"round {round}, layer {i}: pruned {before[i] - mask.KeptCount} of {before[i]} survivors, wanted {wanted:F2}");
                AssertSmallestPruned(net, i);
            }
        }
    }

    [Theory]
    [InlineData(0.2)]
    [InlineData(0.55)]
    public void Global_pruning_meets_the_total_with_one_threshold(double rate)
    {
        var net = Net();
        var options = new MagnitudePruningOptions { Rate = rate, Scope = PruningScope.Global };
        for (int round = 0; round < 2; round++)
        {
            var weights = NetworkSparsity.PrunableWeights(net);
            long hiddenBefore = weights.Take(2).Sum(w => (long)(w.Weight.Mask?.KeptCount ?? w.Weight.Value.Length));
            long outputBefore = weights[2].Weight.Mask?.KeptCount ?? weights[2].Weight.Value.Length;
            MagnitudePruning.Prune(net, options);
            long hiddenAfter = weights.Take(2).Sum(w => (long)w.Weight.Mask!.KeptCount);
            Assert.True(Math.Abs(hiddenBefore - hiddenAfter - rate * hiddenBefore) <= 0.5 + 1e-9, $"round {round}: pruned {hiddenBefore - hiddenAfter} of {hiddenBefore}");
            Assert.True(Math.Abs(outputBefore - weights[2].Weight.Mask!.KeptCount - rate / 2 * outputBefore) <= 0.5 + 1e-9);

            // One threshold over the hidden layers, which therefore end up with different sparsities.
            AssertSmallestPruned(net, 0, 1);
        }

        var sparsities = NetworkSparsity.PerLayer(net).Take(2).Select(l => l.Sparsity).ToArray();
        Assert.NotEqual(sparsities[0], sparsities[1], 3);
    }

    [Fact]
    public void Global_pruning_with_the_output_at_the_same_rate_shares_one_threshold()
    {
        var net = Net();
        MagnitudePruning.Prune(net, new MagnitudePruningOptions { Rate = 0.5, OutputLayerRate = 0.5, Scope = PruningScope.Global });
        var weights = NetworkSparsity.PrunableWeights(net).Select(w => w.Weight).ToArray();
        long total = weights.Sum(w => (long)w.Value.Length);
        Assert.True(Math.Abs(weights.Sum(Pruned) - total / 2.0) <= 0.5);
        AssertSmallestPruned(net, 0, 1, 2);
    }

    [Fact]
    public void Ties_are_cut_to_the_exact_count()
    {
        var net = Network.Sequential(new Dense(10), new ReLU(), new Dense(3)).Build([10], 1);
        foreach (var p in net.Parameters)
        {
            p.Value.Span.Fill(0.5f);
        }

        MagnitudePruning.Prune(net, new MagnitudePruningOptions { Rate = 0.33 });
        Assert.Equal(33, Pruned(((Dense)net.Layers[0]).Weight));
        Assert.Equal(5, Pruned(((Dense)net.Layers[2]).Weight)); // 0.165 · 30 = 4.95
    }

    [Fact]
    public void Bad_settings_are_refused()
    {
        var net = Net();
        Assert.Throws<ArgumentOutOfRangeException>(() => MagnitudePruning.Prune(net, new MagnitudePruningOptions { Rate = 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => MagnitudePruning.Prune(net, new MagnitudePruningOptions { OutputLayerRate = -0.1 }));
        var unbuilt = Assert.Throws<ArgumentException>(() => MagnitudePruning.Prune(Network.Sequential(new Dense(3))));
        Assert.Contains("not built", unbuilt.Message, StringComparison.Ordinal);
        var none = Assert.Throws<ArgumentException>(() => MagnitudePruning.Prune(Network.Sequential(new ReLU()).Build([3])));
        Assert.Contains("no prunable weights", none.Message, StringComparison.Ordinal);
    }

    /// <summary>Among the given prunable weights (by ordinal) of <paramref name="pruned"/>, whose survivors still hold
    /// their values from <see cref="Net"/>, no pruned weight was larger in magnitude than any survivor.</summary>
    private static void AssertSmallestPruned(Network pruned, params int[] ordinals)
    {
        var original = NetworkSparsity.PrunableWeights(Net());
        var weights = NetworkSparsity.PrunableWeights(pruned);
        float minKept = float.MaxValue, maxPruned = 0;
        foreach (int i in ordinals)
        {
            var w = weights[i].Weight;
            for (int j = 0; j < w.Value.Length; j++)
            {
                float magnitude = Math.Abs(original[i].Weight.Value.Data[j]);
                if (w.Mask!.IsKept(j))
                {
                    Assert.Equal(original[i].Weight.Value.Data[j], w.Value.Data[j]);
                    minKept = Math.Min(minKept, magnitude);
                }
                else
                {
                    Assert.Equal(0f, w.Value.Data[j]);
                    maxPruned = Math.Max(maxPruned, magnitude);
                }
            }
        }

        Assert.True(maxPruned <= minKept, $"a pruned weight of magnitude {maxPruned} exceeds the smallest survivor {minKept}");
    }
}
