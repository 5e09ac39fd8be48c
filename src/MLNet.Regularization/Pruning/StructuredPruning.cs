using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Pruning;

/// <summary>How <see cref="StructuredPruning"/> ranks the units (neurons, conv channels) of a layer.</summary>
public enum UnitScore
{
    /// <summary>‖w‖₁ of the unit's incoming weights (a Dense row, a convolution filter).</summary>
    L1,

    /// <summary>‖w‖₂ of the unit's incoming weights.</summary>
    L2,

    /// <summary>|γ| of the unit's batch-norm scale (Liu et al., 2017, "Learning efficient convolutional networks
    /// through network slimming"; train with <c>TrainerOptions.BatchNormScaleL1</c> so that unneeded scales shrink).
    /// The layer must be followed by a BatchNorm before the next layer with weights.</summary>
    BatchNormScale,
}

/// <summary>Settings of <see cref="StructuredPruning"/>.</summary>
public sealed class StructuredPruningOptions
{
    /// <summary>The fraction of hidden units (neurons and conv channels, never the outputs) to remove (default 0.5).</summary>
    public double Fraction { get; set; } = 0.5;

    /// <summary>How units are ranked (default <see cref="UnitScore.L1"/>).</summary>
    public UnitScore Score { get; set; } = UnitScore.L1;

    /// <summary>Layer-wise (default): every hidden layer loses <see cref="Fraction"/> of its units. Global: the
    /// lowest-scoring units of all hidden layers together go, as network slimming's one threshold over every |γ|
    /// (norms of layers with different fan-in are not on one scale: prefer layer-wise for <see cref="UnitScore.L1"/>
    /// and <see cref="UnitScore.L2"/>).</summary>
    public PruningScope Scope { get; set; } = PruningScope.LayerWise;

    /// <summary>The fewest units a layer keeps (default 1).</summary>
    public int MinUnits { get; set; } = 1;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (!(Fraction >= 0 && Fraction < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(Fraction), Fraction, "StructuredPruningOptions.Fraction must be in [0, 1).");
        }

        if (!Enum.IsDefined(Score))
        {
            throw new ArgumentOutOfRangeException(nameof(Score), Score, "unknown unit score.");
        }

        if (!Enum.IsDefined(Scope))
        {
            throw new ArgumentOutOfRangeException(nameof(Scope), Scope, "unknown pruning scope.");
        }

        if (MinUnits < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MinUnits), MinUnits, "StructuredPruningOptions.MinUnits must be at least 1.");
        }
    }
}

/// <summary>The units one layer keeps.</summary>
/// <param name="LayerIndex">The layer's position in the original network (and in the smaller one: no layer is removed).</param>
/// <param name="Layer">The layer's type name.</param>
/// <param name="UnitsBefore">Its units (or filters) before pruning.</param>
/// <param name="Kept">The indices of the units it keeps, ascending.</param>
public sealed record UnitSelection(int LayerIndex, string Layer, int UnitsBefore, int[] Kept)
{
    /// <summary>How many units the layer loses.</summary>
    public int Removed => UnitsBefore - Kept.Length;
}

/// <summary>The smaller network and which units each hidden layer kept.</summary>
/// <param name="Network">The smaller dense network, built, with the kept weights (fine-tune it with a Trainer).</param>
/// <param name="Layers">Per hidden layer with weights, the kept units.</param>
public sealed record StructuredPruningResult(Network Network, IReadOnlyList<UnitSelection> Layers)
{
    /// <summary>Hidden units (neurons and channels) before pruning.</summary>
    public int HiddenUnitsBefore => Layers.Sum(l => l.UnitsBefore);

    /// <summary>Hidden units after pruning.</summary>
    public int HiddenUnitsAfter => Layers.Sum(l => l.Kept.Length);
}

/// <summary>
/// Structured pruning: removes whole neurons of Dense / DropConnectDense layers and whole channels of Conv2D /
/// DropConnectConv2D layers, ranked by the norm of their incoming weights or by their batch-norm scale (network
/// slimming, Liu et al., 2017), and rebuilds a genuinely smaller dense network — fewer units, smaller GEMMs, a smaller
/// ONNX model. A removed unit takes with it its row of weights and its bias, its channel of every batch norm up to the
/// next layer with weights, and its columns (its input channel, or its H·W block of flattened features) of that next
/// layer. The smaller network computes exactly what the original computes with those units' outgoing weights masked
/// (<see cref="MaskedEquivalent"/>), up to float rounding of the shorter sums; fine-tune it afterwards (the paper does).
/// </summary>
/// <remarks>Supported: a chain of Dense, DropConnectDense, Conv2D and DropConnectConv2D layers with batch norms,
/// structured Bayesian pruning layers, activations, the dropout family, pooling, Flatten and GlobalAveragePool between them. The output layer's units are
/// never removed. Any other layer with parameters is refused with a <see cref="NotSupportedException"/>.</remarks>
public static class StructuredPruning
{
    /// <summary>Builds the smaller network for a given choice of units — from <see cref="Select"/> or from another criterion,
    /// such as structured Bayesian pruning's signal-to-noise ratios (<see cref="BayesianPruning"/>); <paramref name="network"/>
    /// is not changed. Hidden layers without a selection keep all their units.</summary>
    /// <param name="network">A built (trained) network.</param>
    /// <param name="selection">The units to keep, per hidden layer with weights.</param>
    public static StructuredPruningResult Apply(Network network, IReadOnlyList<UnitSelection> selection) =>
        new(Shrink(network, selection), selection);

    /// <summary>Chooses the units to remove and builds the smaller network; <paramref name="network"/> is not changed.</summary>
    /// <param name="network">A built (trained) network.</param>
    /// <param name="options">Fraction, score and scope; defaults when null.</param>
    public static StructuredPruningResult Prune(Network network, StructuredPruningOptions? options = null)
    {
        options ??= new StructuredPruningOptions();
        options.Validate();
        var selection = Select(network, options);
        return new StructuredPruningResult(Shrink(network, selection), selection);
    }

    /// <summary>Chooses the units each hidden layer keeps, without building anything.</summary>
    /// <param name="network">A built (trained) network.</param>
    /// <param name="options">Fraction, score and scope; defaults when null.</param>
    public static IReadOnlyList<UnitSelection> Select(Network network, StructuredPruningOptions? options = null)
    {
        options ??= new StructuredPruningOptions();
        options.Validate();
        var producers = Producers(network);
        var scored = new List<(int Producer, double[] Scores)>();
        for (int p = 0; p < producers.Count - 1; p++)
        {
            scored.Add((p, Scores(network, producers, p, options.Score)));
        }

        var removed = scored.Select(s => new bool[s.Scores.Length]).ToArray();
        if (options.Scope == PruningScope.LayerWise)
        {
            for (int s = 0; s < scored.Count; s++)
            {
                int units = scored[s].Scores.Length;
                int count = Math.Min((int)Math.Round(options.Fraction * units, MidpointRounding.AwayFromZero), Math.Max(0, units - options.MinUnits));
                foreach (int u in Enumerable.Range(0, units).OrderBy(u => scored[s].Scores[u]).ThenBy(u => u).Take(count))
                {
                    removed[s][u] = true;
                }
            }
        }
        else
        {
            int total = scored.Sum(s => s.Scores.Length);
            int count = (int)Math.Round(options.Fraction * total, MidpointRounding.AwayFromZero);
            var left = scored.Select(s => s.Scores.Length).ToArray();
            var order = scored.SelectMany((s, i) => s.Scores.Select((score, u) => (Layer: i, Unit: u, Score: score)))
                .OrderBy(x => x.Score).ThenBy(x => x.Layer).ThenBy(x => x.Unit);
            foreach (var (layer, unit, _) in order)
            {
                if (count == 0)
                {
                    break;
                }

                if (left[layer] > options.MinUnits)
                {
                    removed[layer][unit] = true;
                    left[layer]--;
                    count--;
                }
            }
        }

        return scored.Select((s, i) =>
        {
            var (index, layer) = producers[s.Producer];
            return new UnitSelection(index, layer.Name, s.Scores.Length, Enumerable.Range(0, s.Scores.Length).Where(u => !removed[i][u]).ToArray());
        }).ToList();
    }

    /// <summary>A copy of <paramref name="network"/> in which every removed unit's outgoing weights (and incoming row)
    /// are masked instead of removed: it computes what the smaller network computes. Existing masks are kept.</summary>
    /// <param name="network">The network the selection was made for.</param>
    /// <param name="selection">The units to keep, as <see cref="Select"/> or <see cref="Prune"/> returned them.</param>
    public static Network MaskedEquivalent(Network network, IReadOnlyList<UnitSelection> selection)
    {
        var producers = Producers(network);
        var keep = KeptPerProducer(producers, selection);
        var copy = network.Clone();
        var copyProducers = Producers(copy);
        for (int p = 0; p < copyProducers.Count; p++)
        {
            var weight = WeightOf(copyProducers[p].Layer);
            int units = Units(copyProducers[p].Layer), fanIn = weight.Value.Length / units;
            int group = p == 0 ? 0 : GroupSize(copy, copyProducers, p);
            var rows = keep[p] is { } r ? new HashSet<int>(r) : null;
            var columns = p > 0 && keep[p - 1] is { } c ? new HashSet<int>(c) : null;
            var flags = new bool[weight.Value.Length];
            for (int u = 0; u < units; u++)
            {
                for (int j = 0; j < fanIn; j++)
                {
                    flags[u * fanIn + j] = (rows is null || rows.Contains(u)) && (columns is null || columns.Contains(InputUnit(copyProducers[p].Layer, j, group)));
                }
            }

            var mask = WeightMask.FromFlags(flags);
            weight.SetMask(weight.Mask is { } existing ? existing.Intersect(mask) : mask);
        }

        return copy;
    }

    /// <summary>Builds the smaller network for a selection.</summary>
    private static Network Shrink(Network network, IReadOnlyList<UnitSelection> selection)
    {
        var producers = Producers(network);
        var keep = KeptPerProducer(producers, selection);
        var steps = new List<(Layer Layer, float[][] Values)>();
        var masks = new List<WeightMask?>();
        int producer = -1;
        int[]? channels = null;
        for (int i = 0; i < network.Layers.Count; i++)
        {
            var layer = network.Layers[i];
            if (producer + 1 < producers.Count && producers[producer + 1].Index == i)
            {
                producer++;
                int group = producer == 0 ? 0 : GroupSize(network, producers, producer);
                var (newLayer, values, mask) = ShrinkProducer(layer, keep[producer], producer == 0 ? null : keep[producer - 1], group);
                steps.Add((newLayer, values));
                masks.Add(mask);
                channels = keep[producer];
            }
            else if (layer is BatchNorm bn)
            {
                var kept = channels ?? Enumerable.Range(0, bn.Channels).ToArray();
                steps.Add((bn.CreateUnbuiltCopy(), [Pick(bn.Gamma.Value.Data, kept), Pick(bn.Beta.Value.Data, kept), Pick(bn.RunningMean.Data, kept), Pick(bn.RunningVariance.Data, kept)]));
            }
            else if (layer is StructuredBayesianPruning sbp)
            {
                if (producer >= 0 && sbp.Units != Units(producers[producer].Layer))
                {
                    throw new NotSupportedException($"layer {i} (StructuredBayesianPruning) acts on {sbp.Units} units, not on the {Units(producers[producer].Layer)} units of layer {producers[producer].Index}, so it cannot follow them through pruning (put it before any Flatten).");
                }

                var kept = channels ?? Enumerable.Range(0, sbp.Units).ToArray();
                steps.Add((sbp.CreateUnbuiltCopy(), [Pick(sbp.Mu.Value.Data, kept), Pick(sbp.LogSigma.Value.Data, kept)]));
            }
            else
            {
                steps.Add((layer.CreateUnbuiltCopy(), []));
            }
        }

        var smaller = Network.Assemble(network.InputShape, steps);
        NetworkSparsity.SetMasks(smaller, masks);
        return smaller;
    }

    /// <summary>A producer with only the kept rows (<paramref name="rows"/>, null = all) and input columns (the units
    /// <paramref name="inputs"/> of the previous producer, null = all, each <paramref name="group"/> columns wide).</summary>
    private static (Layer Layer, float[][] Values, WeightMask? Mask) ShrinkProducer(Layer layer, int[]? rows, int[]? inputs, int group)
    {
        var weight = WeightOf(layer);
        var bias = layer.Parameters.FirstOrDefault(p => p.Kind == ParameterKind.Bias);
        int units = Units(layer), fanIn = weight.Value.Length / units;
        rows ??= Enumerable.Range(0, units).ToArray();
        var inputSet = inputs is null ? null : new HashSet<int>(inputs);
        var columns = Enumerable.Range(0, fanIn).Where(j => inputSet is null || inputSet.Contains(InputUnit(layer, j, group))).ToArray();
        var w = new float[rows.Length * columns.Length];
        var flags = weight.Mask is null ? null : new bool[w.Length];
        for (int r = 0; r < rows.Length; r++)
        {
            for (int c = 0; c < columns.Length; c++)
            {
                int from = rows[r] * fanIn + columns[c];
                w[r * columns.Length + c] = weight.Value.Data[from];
                if (flags is not null)
                {
                    flags[r * columns.Length + c] = weight.Mask!.IsKept(from);
                }
            }
        }

        int n = rows.Length;
        Layer shrunk = layer switch
        {
            Dense d => new Dense(n, d.Init, d.UseBias),
            DropConnectDense dc => new DropConnectDense(n, dc.Rate, dc.MaskMode, dc.Init, dc.Inference, dc.InferenceSamples),
            Conv2D c => new Conv2D(n, (c.KernelHeight, c.KernelWidth), c.Stride, c.Padding, c.Dilation, c.UseBias, c.Init),
            DropConnectConv2D dcc => new DropConnectConv2D(n, (dcc.KernelHeight, dcc.KernelWidth), dcc.Rate, dcc.Stride, dcc.Padding, dcc.Dilation, dcc.UseBias, dcc.Init, dcc.Granularity),
            _ => throw new NotSupportedException($"{layer.Name} cannot be shrunk."),
        };
        float[][] values = bias is null ? [w] : [w, Pick(bias.Value.Data, rows)];
        return (shrunk, values, flags is null ? null : WeightMask.FromFlags(flags));
    }

    /// <summary>The unit (channel) of the previous producer that input column <paramref name="column"/> of a producer
    /// reads: for a convolution, the input channel of kernel position <paramref name="column"/>; for a Dense after a
    /// convolution, the channel whose flattened H·W block (<paramref name="group"/> wide) holds it.</summary>
    private static int InputUnit(Layer layer, int column, int group) => layer switch
    {
        Conv2D c => column / (c.KernelHeight * c.KernelWidth),
        DropConnectConv2D c => column / (c.KernelHeight * c.KernelWidth),
        _ => group == 0 ? column : column / group,
    };

    /// <summary>How many input columns of producer <paramref name="p"/> belong to one unit of producer p − 1 (1 between
    /// Dense layers, H·W after a flattened convolution).</summary>
    private static int GroupSize(Network network, IReadOnlyList<(int Index, Layer Layer)> producers, int p)
    {
        var consumer = producers[p].Layer;
        int previousUnits = Units(producers[p - 1].Layer);
        if (consumer is Conv2D or DropConnectConv2D)
        {
            return 1;
        }

        int features = consumer.InputShape[0];
        if (features % previousUnits != 0)
        {
            throw new NotSupportedException($"layer {producers[p].Index} ({consumer.Name}) reads {features} features, not a whole number per unit of layer {producers[p - 1].Index} ({previousUnits} units).");
        }

        return features / previousUnits;
    }

    /// <summary>The layers with weights, in order; checks that everything between them keeps the channels apart.</summary>
    private static List<(int Index, Layer Layer)> Producers(Network network)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (!network.IsBuilt)
        {
            throw new ArgumentException("the network is not built: train it (or build it) before pruning.", nameof(network));
        }

        var producers = new List<(int, Layer)>();
        for (int i = 0; i < network.Layers.Count; i++)
        {
            var layer = network.Layers[i];
            if (layer is Dense or DropConnectDense or Conv2D or DropConnectConv2D)
            {
                producers.Add((i, layer));
            }
            else if (layer is not (BatchNorm or StructuredBayesianPruning) && layer.Parameters.Count > 0)
            {
                throw new NotSupportedException($"structured pruning does not know how to remove units through layer {i} ({layer.Name}).");
            }
        }

        if (producers.Count == 0)
        {
            throw new ArgumentException("the network has no Dense or convolution layer to prune.", nameof(network));
        }

        return producers;
    }

    /// <summary>The kept units of each producer (null for the output layer: all).</summary>
    private static int[]?[] KeptPerProducer(IReadOnlyList<(int Index, Layer Layer)> producers, IReadOnlyList<UnitSelection> selection)
    {
        ArgumentNullException.ThrowIfNull(selection);
        var keep = new int[]?[producers.Count];
        foreach (var s in selection)
        {
            int p = producers.ToList().FindIndex(x => x.Index == s.LayerIndex);
            if (p < 0 || p == producers.Count - 1)
            {
                throw new ArgumentException($"layer {s.LayerIndex} is not a hidden layer with weights of this network.", nameof(selection));
            }

            int units = Units(producers[p].Layer);
            if (s.UnitsBefore != units || s.Kept.Length == 0 || s.Kept.Any(u => u < 0 || u >= units) || s.Kept.Distinct().Count() != s.Kept.Length)
            {
                throw new ArgumentException($"the selection for layer {s.LayerIndex} does not fit its {units} units (it must keep at least one, each once).", nameof(selection));
            }

            keep[p] = s.Kept.Order().ToArray();
        }

        return keep;
    }

    private static double[] Scores(Network network, IReadOnlyList<(int Index, Layer Layer)> producers, int p, UnitScore score)
    {
        var (index, layer) = producers[p];
        int units = Units(layer);
        if (score == UnitScore.BatchNormScale)
        {
            var bn = network.Layers.Skip(index + 1).Take(producers[p + 1].Index - index - 1).OfType<BatchNorm>().FirstOrDefault()
                ?? throw new ArgumentException($"layer {index} ({layer.Name}) has no BatchNorm before the next layer with weights, so it cannot be ranked by batch-norm scale; use L1 or L2.", nameof(score));
            return bn.Gamma.Value.Data.Select(g => (double)Math.Abs(g)).ToArray();
        }

        var w = WeightOf(layer).Value.Data;
        int fanIn = w.Length / units;
        var scores = new double[units];
        for (int u = 0; u < units; u++)
        {
            double s = 0;
            for (int j = u * fanIn; j < (u + 1) * fanIn; j++)
            {
                s += score == UnitScore.L1 ? Math.Abs(w[j]) : (double)w[j] * w[j];
            }

            scores[u] = score == UnitScore.L1 ? s : Math.Sqrt(s);
        }

        return scores;
    }

    private static Parameter WeightOf(Layer layer) => layer.Parameters.First(p => p.Kind == ParameterKind.Weight);

    private static int Units(Layer layer) => layer.OutputShape[0];

    private static float[] Pick(float[] values, int[] indices) => indices.Select(i => values[i]).ToArray();
}
