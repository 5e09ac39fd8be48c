using MLNet.Regularization.Layers;

namespace MLNet.Regularization.Pruning;

/// <summary>
/// Turns what structured Bayesian pruning learned into a smaller network (Neklyudov et al., 2017): every
/// <see cref="StructuredBayesianPruning"/> layer removes the units whose signal-to-noise ratio fell below its threshold.
/// A layer that gates the units of a Dense or Conv2D (it follows that layer, with only batch norm, activations, pooling
/// and dropout between) takes those neurons or channels out of the network through <see cref="StructuredPruning.Apply"/>:
/// their rows, biases, batch-norm channels and the matching input columns of the next layer go, and the GEMMs shrink.
/// A layer on the network's input features cannot shrink the input the model takes, so the features it prunes become
/// masked (zero) input columns of the next layer instead (a <see cref="WeightMask"/>). Sparse variational dropout needs
/// no such step: its inference network is already the masked sparse one.
/// </summary>
public static class BayesianPruning
{
    /// <summary>The units each structured Bayesian pruning layer keeps, as selections of the Dense or Conv2D whose units it
    /// gates (a layer that would lose every unit keeps its one with the highest signal-to-noise ratio). Input-feature
    /// layers, which gate no such layer, are not listed.</summary>
    /// <param name="network">A trained network with structured Bayesian pruning layers.</param>
    /// <exception cref="NotSupportedException">A pruning layer gates a layer that structured pruning cannot shrink.</exception>
    public static IReadOnlyList<UnitSelection> SelectUnits(Network network)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (!network.IsBuilt)
        {
            throw new ArgumentException("the network is not built: train it before pruning.", nameof(network));
        }

        var kept = new SortedDictionary<int, bool[]>();
        for (int i = 0; i < network.Layers.Count; i++)
        {
            if (network.Layers[i] is not StructuredBayesianPruning sbp)
            {
                continue;
            }

            int producer = GatedProducer(network, i);
            if (producer < 0)
            {
                continue;
            }

            var flags = KeptOrBest(sbp);
            kept[producer] = kept.TryGetValue(producer, out var other) ? flags.Zip(other, (a, b) => a && b).ToArray() : flags;
        }

        return kept.Select(k => new UnitSelection(k.Key, network.Layers[k.Key].Name, k.Value.Length,
            Enumerable.Range(0, k.Value.Length).Where(u => k.Value[u]).ToArray())).ToList();
    }

    /// <summary>The smaller network: units with a signal-to-noise ratio below the threshold removed, pruned input features
    /// masked; <paramref name="network"/> is not changed. The result computes what the original's inference network
    /// computes without the removed units' contributions — E[θ]-scaled outputs the posterior marks as noise — so it
    /// predicts nearly as the original does and usually needs no fine-tuning.</summary>
    /// <param name="network">A trained network with structured Bayesian pruning layers.</param>
    /// <exception cref="ArgumentException">The network has no structured Bayesian pruning layer.</exception>
    /// <exception cref="NotSupportedException">A pruning layer gates a layer that structured pruning cannot shrink.</exception>
    public static StructuredPruningResult Shrink(Network network)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (!network.IsBuilt || !network.Layers.Any(l => l is StructuredBayesianPruning))
        {
            throw new ArgumentException("the network has no StructuredBayesianPruning layer (or is not built), so there is nothing to prune.", nameof(network));
        }

        var selection = SelectUnits(network);
        var result = StructuredPruning.Apply(network, selection);
        var smaller = result.Network;
        for (int i = 0; i < smaller.Layers.Count; i++)
        {
            if (smaller.Layers[i] is StructuredBayesianPruning sbp && GatedProducer(smaller, i) < 0)
            {
                MaskInputColumns(smaller, i, sbp);
            }
        }

        return result;
    }

    /// <summary>The Dense / Conv2D (or DropConnect variant) whose units the pruning layer at <paramref name="index"/> gates:
    /// the nearest one before it with only batch norms, activations, pooling and dropout between; −1 for an input
    /// layer.</summary>
    private static int GatedProducer(Network network, int index)
    {
        var sbp = (StructuredBayesianPruning)network.Layers[index];
        for (int j = index - 1; j >= 0; j--)
        {
            var layer = network.Layers[j];
            if (layer is Dense or Conv2D or DropConnectDense or DropConnectConv2D)
            {
                if (layer.OutputShape[0] != sbp.Units)
                {
                    throw new NotSupportedException($"layer {index} (StructuredBayesianPruning) acts on {sbp.Units} units but follows layer {j} ({layer.Name}) with {layer.OutputShape[0]}: put it before any Flatten.");
                }

                return j;
            }

            if (layer is Flatten or GlobalAveragePool)
            {
                throw new NotSupportedException($"layer {index} (StructuredBayesianPruning) acts on the output of layer {j} ({layer.Name}), not on whole neurons or channels: put it before any Flatten or GlobalAveragePool.");
            }

            if (layer.Parameters.Count > 0 && layer is not BatchNorm)
            {
                throw new NotSupportedException($"layer {index} (StructuredBayesianPruning) follows layer {j} ({layer.Name}), whose units it cannot remove; structured Bayesian pruning shrinks Dense, Conv2D, DropConnectDense and DropConnectConv2D layers.");
            }
        }

        return -1;
    }

    /// <summary>The units that survive, or the one with the highest SNR when none does.</summary>
    private static bool[] KeptOrBest(StructuredBayesianPruning sbp)
    {
        var flags = sbp.Kept();
        if (!flags.Contains(true))
        {
            var snr = sbp.SignalToNoise();
            flags[Array.IndexOf(snr, snr.Max())] = true;
        }

        return flags;
    }

    /// <summary>Masks the input columns of the layer after an input-feature pruning layer that read a pruned feature.</summary>
    private static void MaskInputColumns(Network network, int index, StructuredBayesianPruning sbp)
    {
        var kept = sbp.Kept();
        if (!kept.Contains(false))
        {
            return;
        }

        int target = network.StructuredBayesianPruningTarget(index);
        var weight = network.Layers[target].Parameters.First(p => p.Kind == ParameterKind.Weight);
        int outputs = network.Layers[target].OutputShape[0], fanIn = weight.Value.Length / outputs, group = fanIn / sbp.Units;
        var flags = new bool[weight.Value.Length];
        for (int k = 0; k < flags.Length; k++)
        {
            flags[k] = kept[k % fanIn / group];
        }

        var mask = WeightMask.FromFlags(flags);
        weight.SetMask(weight.Mask is { } existing ? existing.Intersect(mask) : mask);
    }
}
