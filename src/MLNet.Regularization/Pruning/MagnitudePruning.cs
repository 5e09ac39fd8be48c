using MLNet.Regularization.Layers;

namespace MLNet.Regularization.Pruning;

/// <summary>Where magnitude pruning compares weights.</summary>
public enum PruningScope
{
    /// <summary>Each layer loses the same fraction of its surviving weights, the smallest |w| of that layer
    /// (Frankle &amp; Carbin's LeNet and Conv-2/4/6 experiments).</summary>
    LayerWise,

    /// <summary>One threshold over all layers: the smallest |w| of the whole network go, so layers end up with
    /// different sparsities (Frankle &amp; Carbin's VGG-19 / ResNet-18 experiments).</summary>
    Global,
}

/// <summary>Settings of one magnitude-pruning step.</summary>
public sealed class MagnitudePruningOptions
{
    /// <summary>The fraction of the <em>surviving</em> weights to prune (default 0.2, the paper's LeNet rate).</summary>
    public double Rate { get; set; } = 0.2;

    /// <summary>The fraction of the output layer's surviving weights to prune; null (default) means half of
    /// <see cref="Rate"/>, as Frankle &amp; Carbin prune the output layer. Under <see cref="PruningScope.Global"/> the
    /// output layer is pruned on its own at this rate (set it equal to <see cref="Rate"/> to take it into the
    /// global threshold).</summary>
    public double? OutputLayerRate { get; set; }

    /// <summary>Layer-wise (default) or global thresholds.</summary>
    public PruningScope Scope { get; set; } = PruningScope.LayerWise;

    /// <summary>The output layer's rate after defaults.</summary>
    public double EffectiveOutputLayerRate => OutputLayerRate ?? Rate / 2;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (!(Rate >= 0 && Rate < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(Rate), Rate, "MagnitudePruningOptions.Rate must be in [0, 1).");
        }

        if (OutputLayerRate is double o && !(o >= 0 && o < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(OutputLayerRate), o, "MagnitudePruningOptions.OutputLayerRate must be in [0, 1) (or null for half of Rate).");
        }

        if (!Enum.IsDefined(Scope))
        {
            throw new ArgumentOutOfRangeException(nameof(Scope), Scope, "unknown pruning scope.");
        }
    }
}

/// <summary>
/// Magnitude pruning (Han et al., 2015; the pruning step of Frankle &amp; Carbin's lottery-ticket IMP): among the
/// weights that survive so far, those with the smallest |w| are masked. The number pruned is exact —
/// round(rate · survivors) per layer, or per the whole network under a global threshold — with ties at the threshold
/// broken by position, so the requested sparsity is met to within one weight. Biases and batch-norm parameters are
/// never pruned.
/// </summary>
public static class MagnitudePruning
{
    /// <summary>Computes the new masks of <paramref name="network"/>'s prunable weights (in
    /// <see cref="NetworkSparsity.PrunableWeights"/> order) from its current weights and masks, without changing it.</summary>
    /// <param name="network">A built (trained) network; its current masks say which weights still survive.</param>
    /// <param name="options">Rate, output-layer rate and scope; defaults when null.</param>
    public static WeightMask[] ComputeMasks(Network network, MagnitudePruningOptions? options = null)
    {
        options ??= new MagnitudePruningOptions();
        options.Validate();
        var weights = NetworkSparsity.PrunableWeights(network);
        if (weights.Count == 0)
        {
            throw new ArgumentException("the network has no prunable weights (Dense, DropConnectDense, Conv2D or DropConnectConv2D).", nameof(network));
        }

        int output = weights.Count - 1;
        var flags = weights.Select(w => w.Weight.Mask?.ToFlags() ?? Enumerable.Repeat(true, w.Weight.Value.Length).ToArray()).ToArray();
        if (options.Scope == PruningScope.LayerWise)
        {
            for (int i = 0; i < weights.Count; i++)
            {
                PruneSmallest([i], i == output ? options.EffectiveOutputLayerRate : options.Rate, weights, flags);
            }
        }
        else
        {
            bool outputApart = options.EffectiveOutputLayerRate != options.Rate;
            var shared = Enumerable.Range(0, weights.Count).Where(i => !(outputApart && i == output)).ToArray();
            PruneSmallest(shared, options.Rate, weights, flags);
            if (outputApart)
            {
                PruneSmallest([output], options.EffectiveOutputLayerRate, weights, flags);
            }
        }

        return flags.Select(f => WeightMask.FromFlags(f)).ToArray();
    }

    /// <summary>Prunes <paramref name="network"/> in place: sets the masks <see cref="ComputeMasks"/> computes (the
    /// pruned weights become exactly 0).</summary>
    /// <param name="network">A built (trained) network.</param>
    /// <param name="options">Rate, output-layer rate and scope; defaults when null.</param>
    public static void Prune(Network network, MagnitudePruningOptions? options = null) =>
        NetworkSparsity.SetMasks(network, ComputeMasks(network, options));

    /// <summary>Marks as pruned the round(rate · survivors) surviving weights of the given layers with the smallest
    /// |w|, ties by (layer, position).</summary>
    private static void PruneSmallest(int[] layers, double rate, IReadOnlyList<(int LayerIndex, Layer Layer, Parameter Weight)> weights, bool[][] flags)
    {
        long survivors = layers.Sum(l => (long)flags[l].Count(f => f));
        long count = (long)Math.Round(rate * survivors, MidpointRounding.AwayFromZero);
        if (count == 0)
        {
            return;
        }

        var magnitude = new float[survivors];
        var position = new (int Layer, int Index)[survivors];
        long n = 0;
        foreach (int l in layers)
        {
            var w = weights[l].Weight.Value.Span;
            for (int j = 0; j < w.Length; j++)
            {
                if (flags[l][j])
                {
                    magnitude[n] = MathF.Abs(w[j]);
                    position[n] = (l, j);
                    n++;
                }
            }
        }

        // Sort by magnitude, then by position, so equal magnitudes are cut in a fixed order.
        var order = Enumerable.Range(0, (int)survivors).ToArray();
        Array.Sort(order, (a, b) =>
        {
            int c = magnitude[a].CompareTo(magnitude[b]);
            return c != 0 ? c : a.CompareTo(b);
        });
        for (long k = 0; k < count; k++)
        {
            var (layer, index) = position[order[k]];
            flags[layer][index] = false;
        }
    }
}
