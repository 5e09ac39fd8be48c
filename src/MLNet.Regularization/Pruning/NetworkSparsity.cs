using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Pruning;

/// <summary>How many weights of one prunable layer survive.</summary>
/// <param name="LayerIndex">The layer's position in the network.</param>
/// <param name="Layer">The layer's type name, such as <c>Dense</c>.</param>
/// <param name="Shape">The weight's shape, such as [300, 784].</param>
/// <param name="Weights">How many weights the layer has.</param>
/// <param name="Remaining">How many of them are not pruned.</param>
public sealed record LayerSparsity(int LayerIndex, string Layer, int[] Shape, long Weights, long Remaining)
{
    /// <summary>The fraction of the layer's weights that survive, in [0, 1].</summary>
    public double FractionRemaining => Weights == 0 ? 1 : (double)Remaining / Weights;

    /// <summary>The fraction of the layer's weights that are pruned, in [0, 1].</summary>
    public double Sparsity => 1 - FractionRemaining;
}

/// <summary>
/// The prunable weights of a network — every <see cref="Parameter"/> of kind <see cref="ParameterKind.Weight"/> (the
/// matrices of Dense and DropConnectDense, the kernels of Conv2D and DropConnectConv2D), in layer order — and their
/// masks, read and written as a whole. The k-th prunable weight is the same tensor in a training network, in its
/// inference network (DropConnect becomes a Dense, batch norm folds into the preceding layer: neither adds or removes
/// a weight) and in a model re-imported from ONNX, so masks travel between them by that ordinal.
/// </summary>
public static class NetworkSparsity
{
    /// <summary>The prunable weights with the index of their layer, in order.</summary>
    public static IReadOnlyList<(int LayerIndex, Layer Layer, Parameter Weight)> PrunableWeights(Network network)
    {
        ArgumentNullException.ThrowIfNull(network);
        RequireBuilt(network);
        var list = new List<(int, Layer, Parameter)>();
        for (int i = 0; i < network.Layers.Count; i++)
        {
            foreach (var p in network.Layers[i].Parameters)
            {
                if (p.IsPrunable)
                {
                    list.Add((i, network.Layers[i], p));
                }
            }
        }

        return list;
    }

    /// <summary>Per prunable layer: weights and survivors.</summary>
    public static IReadOnlyList<LayerSparsity> PerLayer(Network network) => PrunableWeights(network)
        .Select(w => new LayerSparsity(w.LayerIndex, w.Layer.Name, w.Weight.Value.Shape.ToArray(), w.Weight.Value.Length, w.Weight.Mask?.KeptCount ?? w.Weight.Value.Length))
        .ToList();

    /// <summary>The fraction of all prunable weights that survive (1 for an unpruned network).</summary>
    public static double FractionRemaining(Network network)
    {
        var layers = PerLayer(network);
        long total = layers.Sum(l => l.Weights);
        return total == 0 ? 1 : (double)layers.Sum(l => l.Remaining) / total;
    }

    /// <summary>True when any weight of the network carries a mask.</summary>
    public static bool IsPruned(Network network) => PrunableWeights(network).Any(w => w.Weight.Mask is not null);

    /// <summary>The masks of the prunable weights, in order (null where a weight has none).</summary>
    public static WeightMask?[] GetMasks(Network network) => PrunableWeights(network).Select(w => w.Weight.Mask).ToArray();

    /// <summary>Sets the masks of the prunable weights, in order (null removes a mask); the pruned weights become 0.</summary>
    /// <exception cref="ArgumentException">The number of masks or a mask's length does not fit the network.</exception>
    public static void SetMasks(Network network, IReadOnlyList<WeightMask?> masks)
    {
        ArgumentNullException.ThrowIfNull(masks);
        var weights = PrunableWeights(network);
        if (masks.Count != weights.Count)
        {
            throw new ArgumentException($"the network has {weights.Count} prunable weights; {masks.Count} masks were given.", nameof(masks));
        }

        for (int i = 0; i < weights.Count; i++)
        {
            var (layer, l, w) = weights[i];
            if (masks[i] is { } m && m.Length != w.Value.Length)
            {
                throw new ArgumentException($"mask {i} has {m.Length} flags but layer {layer} ({l.Name}) has {w.Value.Length} weights {w.Value.ShapeText}.", nameof(masks));
            }
        }

        for (int i = 0; i < weights.Count; i++)
        {
            weights[i].Weight.SetMask(masks[i]);
        }
    }

    /// <summary>Gives <paramref name="target"/> the masks of <paramref name="source"/>, weight by weight.</summary>
    internal static void CopyMasks(Network source, Network target) => SetMasks(target, GetMasks(source));

    /// <summary>Random masks with the same number of survivors in each layer as <paramref name="like"/> has (the
    /// lottery-ticket papers' "random pruning" control): each layer keeps a uniformly random subset of that size.</summary>
    /// <param name="like">The masks whose per-layer counts to copy (null entries stay null).</param>
    /// <param name="seed">The seed of the draw.</param>
    public static WeightMask?[] RandomMasksLike(IReadOnlyList<WeightMask?> like, int seed)
    {
        ArgumentNullException.ThrowIfNull(like);
        var rng = new Rng(seed);
        var result = new WeightMask?[like.Count];
        for (int i = 0; i < like.Count; i++)
        {
            if (like[i] is not { } mask)
            {
                continue;
            }

            // A partial Fisher–Yates shuffle: the first KeptCount positions of a random permutation survive.
            var order = Enumerable.Range(0, mask.Length).ToArray();
            var flags = new bool[mask.Length];
            for (int j = 0; j < mask.KeptCount; j++)
            {
                int pick = j + rng.NextInt(order.Length - j);
                (order[j], order[pick]) = (order[pick], order[j]);
                flags[order[j]] = true;
            }

            result[i] = WeightMask.FromFlags(flags);
        }

        return result;
    }

    private static void RequireBuilt(Network network)
    {
        if (!network.IsBuilt)
        {
            throw new ArgumentException("the network is not built: build it (or train it) before pruning.", nameof(network));
        }
    }
}
