using System.Globalization;
using System.Text;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// A stack of layers applied in order. Build it with <see cref="Sequential"/>, give it an input shape with
/// <c>Build</c> (the trainer does this from the data), and train it with the <c>Trainer</c>.
/// </summary>
public sealed class Network
{
    private readonly Layer[] _layers;
    private int[]? _inputShape;
    private int _firstLearningLayer;

    /// <summary>The index of the first layer with parameters: backward stops there.</summary>
    internal int FirstLearningLayer => _firstLearningLayer;

    private Network(Layer[] layers) => _layers = layers;

    /// <summary>A network that applies <paramref name="layers"/> in order, for example
    /// <c>Network.Sequential(new Dense(256), new ReLU(), new Dropout(0.5f), new Dense(10))</c>.</summary>
    public static Network Sequential(params Layer[] layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Length == 0)
        {
            throw new ArgumentException("a network needs at least one layer.", nameof(layers));
        }

        // One pass with a map from each layer object to its first position: linear in the number of layers (the
        // ONNX importer assembles networks of up to a million layers from untrusted files).
        var seen = new Dictionary<Layer, int>(layers.Length, ReferenceEqualityComparer.Instance);
        for (int i = 0; i < layers.Length; i++)
        {
            if (layers[i] is null)
            {
                throw new ArgumentException($"layer {i} is null.", nameof(layers));
            }

            if (!seen.TryAdd(layers[i], i))
            {
                throw new ArgumentException($"layer {i} ({layers[i].Name}) is the same object as layer {seen[layers[i]]}; create a new instance for each position.", nameof(layers));
            }
        }

        return new Network((Layer[])layers.Clone());
    }

    /// <summary>The layers, in order.</summary>
    public IReadOnlyList<Layer> Layers => _layers;

    /// <summary>True once built.</summary>
    public bool IsBuilt => _inputShape is not null;

    /// <summary>The per-example input shape (known once built).</summary>
    public ReadOnlySpan<int> InputShape => _inputShape ?? throw new InvalidOperationException("the network is not built yet.");

    /// <summary>The per-example output shape (known once built).</summary>
    public ReadOnlySpan<int> OutputShape => _layers[^1].OutputShape;

    /// <summary>All trainable parameters, layer by layer.</summary>
    public IEnumerable<Parameter> Parameters => _layers.SelectMany(l => l.Parameters);

    /// <summary>The number of trainable values.</summary>
    public long ParameterCount => Parameters.Sum(p => (long)p.Value.Length);

    /// <summary>Fixes every layer's shapes and initializes the weights from <paramref name="seed"/>.</summary>
    /// <param name="inputShape">Per-example input shape, such as [784] or [1, 28, 28].</param>
    /// <param name="seed">Seed for weight initialization.</param>
    /// <returns>This network.</returns>
    public Network Build(ReadOnlySpan<int> inputShape, int seed = 0) => Build(inputShape, new Rng(seed));

    /// <summary>Builds with an explicit random source for initialization.</summary>
    public Network Build(ReadOnlySpan<int> inputShape, Rng init)
    {
        ReadOnlySpan<int> shape = inputShape;
        bool parametersBefore = false;
        _firstLearningLayer = _layers.Length;
        for (int i = 0; i < _layers.Length; i++)
        {
            var layer = _layers[i];
            try
            {
                layer.Build(shape, init);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"cannot build layer {i} ({layer.Name}) for input {Tensor.FormatShape(shape)}: {e.Message}", nameof(inputShape), e);
            }

            layer.NeedsInputGradient = parametersBefore;
            if (!parametersBefore && layer.Parameters.Count > 0)
            {
                _firstLearningLayer = i;
            }

            parametersBefore |= layer.Parameters.Count > 0;
            shape = layer.OutputShape;
        }

        FuseActivations();
        ConnectLearnedNoise();
        _inputShape = inputShape.ToArray();
        return this;
    }

    /// <summary>Gives each <see cref="ConcreteDropout"/> the weights of the layer right after it (its regularizer's
    /// l²‖W‖²/(1 − p) term), and checks that each <see cref="StructuredBayesianPruning"/> is followed by a layer its
    /// expected noise can fold into at inference.</summary>
    private void ConnectLearnedNoise()
    {
        for (int i = 0; i < _layers.Length; i++)
        {
            if (_layers[i] is ConcreteDropout concrete)
            {
                concrete.FollowingWeight = i + 1 < _layers.Length ? _layers[i + 1].Parameters.FirstOrDefault(p => p.Kind == ParameterKind.Weight) : null;
            }
            else if (_layers[i] is StructuredBayesianPruning && StructuredBayesianPruningTarget(i) < 0)
            {
                throw new ArgumentException(
                    $"layer {i} (StructuredBayesianPruning) must be followed by a Dense, Conv2D, DropConnectDense, DropConnectConv2D, VariationalDense, SparseVariationalDense, StandoutDense or FastDropoutDense, with only ReLU, LeakyReLU, pooling, Flatten, GlobalAveragePool and the dropout layers in between: its expected noise E[θ] folds into that layer's input weights at inference.", "layers");
            }
        }
    }

    /// <summary>The index of the layer whose input weights the structured Bayesian pruning layer at
    /// <paramref name="index"/> scales at inference, or −1 when there is none it can reach.</summary>
    internal int StructuredBayesianPruningTarget(int index)
    {
        for (int j = index + 1; j < _layers.Length; j++)
        {
            switch (_layers[j])
            {
                case Dense or Conv2D or DropConnectDense or DropConnectConv2D or VariationalDense or SparseVariationalDense or StandoutDense or FastDropoutDense:
                    return j;
                case ReLU or LeakyReLU or MaxPool2D or AvgPool2D or Flatten or GlobalAveragePool or Dropout or GaussianDropout or ConcreteDropout or SpatialDropout2D:
                    continue;
                default:
                    return -1;
            }
        }

        return -1;
    }

    /// <summary>A Dense, Conv2D or BatchNorm followed by a ReLU applies the ReLU in its own output pass, and the
    /// ReLU passes its input through; a MaxPool2D after a ReLU applies the ReLU's derivative while it routes the
    /// gradient, and the ReLU passes the gradient through. Passes over the activations fewer, the same bits.</summary>
    private void FuseActivations()
    {
        for (int i = 0; i < _layers.Length; i++)
        {
            var next = i + 1 < _layers.Length ? _layers[i + 1] : null;
            bool fused = next is ReLU;
            if (_layers[i] is IFusesActivation producer)
            {
                producer.FusedActivation = fused ? GemmActivation.ReLU : GemmActivation.None;
            }

            if (_layers[i] is Activation activation)
            {
                activation.AppliedByPreviousLayer = i > 0 && _layers[i - 1] is IFusesActivation && activation is ReLU;
                activation.GradientAppliedByNextLayer = activation is ReLU && next is MaxPool2D;
            }

            if (_layers[i] is MaxPool2D pool)
            {
                pool.AppliesReluGradient = i > 0 && _layers[i - 1] is ReLU;
            }
        }
    }

    /// <summary>Runs every layer forward.</summary>
    public Tensor Forward(Tensor x, ForwardContext ctx)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(ctx);
        EnsureBuilt();
        foreach (var layer in _layers)
        {
            x = layer.Forward(x, ctx);
        }

        return x;
    }

    /// <summary>Backpropagates dLoss/dOutput through every layer, filling the parameters' gradients.</summary>
    public void Backward(Tensor dy, ForwardContext ctx)
    {
        ArgumentNullException.ThrowIfNull(dy);
        EnsureBuilt();

        // Layers before the first one with parameters need no backward pass: nothing there learns.
        for (int i = _layers.Length - 1; i >= _firstLearningLayer; i--)
        {
            dy = _layers[i].Backward(dy, ctx);
        }
    }

    /// <summary>Builds a network of fresh, unbuilt <paramref name="layers"/> for <paramref name="inputShape"/> and
    /// gives each layer its values: its parameters' values in order, then its state tensors (used by inference
    /// folding and the ONNX importer).</summary>
    internal static Network Assemble(ReadOnlySpan<int> inputShape, IReadOnlyList<(Layer Layer, float[][] Values)> layers)
    {
        var network = Sequential(layers.Select(s => s.Layer).ToArray()).Build(inputShape, new Rng(0));
        foreach (var (layer, values) in layers)
        {
            var targets = layer.Parameters.Select(p => p.Value).Concat(layer.State).ToList();
            if (targets.Count != values.Length)
            {
                throw new ArgumentException($"{layer.Name}: {values.Length} value arrays given for {targets.Count} tensors.", nameof(layers));
            }

            for (int i = 0; i < values.Length; i++)
            {
                if (values[i].Length != targets[i].Length)
                {
                    throw new ArgumentException($"{layer.Name}: tensor {i} needs {targets[i].Length} values ({targets[i].ShapeText}), got {values[i].Length}.", nameof(layers));
                }

                values[i].CopyTo(targets[i].Span);
            }
        }

        return network;
    }

    /// <summary>A deep copy: same configuration, same parameter values, pruning masks and state, independent storage.</summary>
    public Network Clone()
    {
        var copy = new Network(_layers.Select(l => l.CreateUnbuiltCopy()).ToArray());
        if (IsBuilt)
        {
            copy.Build(InputShape, new Rng(0));
            copy.CopyValuesFrom(this);
        }

        return copy;
    }

    /// <summary>Copies parameter values, pruning masks and state from a network of identical structure.</summary>
    public void CopyValuesFrom(Network source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source._layers.Length != _layers.Length)
        {
            throw new ArgumentException("networks differ in their number of layers.", nameof(source));
        }

        for (int i = 0; i < _layers.Length; i++)
        {
            var from = source._layers[i].Parameters;
            var to = _layers[i].Parameters;
            CopyTensors(from.Select(p => p.Value).ToList(), to.Select(p => p.Value).ToList(), i);
            CopyTensors(source._layers[i].State, _layers[i].State, i);
            for (int j = 0; j < to.Count; j++)
            {
                // Masks are immutable: the copy shares the source's.
                to[j].SetMask(from[j].Mask);
            }
        }

        static void CopyTensors(IReadOnlyList<Tensor> from, IReadOnlyList<Tensor> to, int layer)
        {
            if (from.Count != to.Count)
            {
                throw new ArgumentException($"layer {layer} differs in its number of tensors.", nameof(source));
            }

            for (int j = 0; j < from.Count; j++)
            {
                if (!from[j].HasShape(to[j].Shape))
                {
                    throw new ArgumentException($"layer {layer}: tensor {j} has shape {from[j].ShapeText}, expected {to[j].ShapeText}.", nameof(source));
                }

                from[j].Span.CopyTo(to[j].Span);
            }
        }
    }

    /// <summary>A table of layers, output shapes and parameter counts, like Keras' <c>summary()</c>; learned-noise layers
    /// add what they learned (rates, weights and units kept).</summary>
    public string Summary()
    {
        EnsureBuilt();
        var sb = new StringBuilder();
        const string Row = "{0,-4} {1,-20} {2,-18} {3,12}  {4}";
        sb.AppendLine(string.Format(CultureInfo.InvariantCulture, Row, "#", "layer", "output shape", "parameters", "settings"));
        sb.AppendLine(string.Format(CultureInfo.InvariantCulture, Row, "", "input", Tensor.FormatShape(InputShape), "", ""));
        for (int i = 0; i < _layers.Length; i++)
        {
            var l = _layers[i];
            long count = l.Parameters.Sum(p => (long)p.Value.Length);
            string settings = l is ILearnedNoise learned ? $"{l.Describe()}; learned: {learned.Summarize().Describe()}" : l.Describe();
            sb.AppendLine(string.Format(CultureInfo.InvariantCulture, Row, i, l.Name, Tensor.FormatShape(l.OutputShape), count.ToString("N0", CultureInfo.InvariantCulture), settings));
        }

        sb.Append(CultureInfo.InvariantCulture, $"total trainable parameters: {ParameterCount:N0}");
        return sb.ToString();
    }

    /// <summary>One line per layer with its settings, for logs and model metadata.</summary>
    public string Describe() => string.Join(" -> ", _layers.Select(l => l.Describe().Length == 0 ? l.Name : $"{l.Name}({l.Describe()})"));

    private void EnsureBuilt()
    {
        if (!IsBuilt)
        {
            throw new InvalidOperationException("the network is not built: call Build(inputShape) or train it with a Trainer.");
        }
    }
}
