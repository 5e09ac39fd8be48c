using System.Globalization;
using System.Text.Json;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Onnx;

/// <summary>
/// Turns a graph written by <see cref="OnnxExporter"/> back into layers. It walks the nodes in order along the
/// chain of "current" tensors and recognises exactly the node patterns the layers' <c>ExportOnnx</c> methods write
/// (see each layer's file); anything else is refused with an <see cref="InvalidDataException"/> naming the node.
/// </summary>
internal sealed partial class OnnxGraphReader
{
    private const string Operators = "Gemm, Conv, MaxPool, AveragePool, GlobalAveragePool, Flatten, BatchNormalization, Relu, LeakyRelu, Tanh, Sigmoid, GELU as Div/Erf/Add/Mul/Mul, "
        + "Dropout, RandomNormalLike, Cast, Mul, Sub, Softmax, Concat, ArgMax, Identity, Transpose + LSTM / GRU + Squeeze, Cast + Gather, Reshape, "
        + "and after a Gemm Standout's Mul/Add/Sigmoid (with RandomUniformLike/Less), fast dropout's Gaussian expectation and DropConnect's moment matching (Sqrt, Erf, Exp, Div, Unsqueeze, Expand, ReduceMean)";

    private readonly string _source;
    private readonly ReaderLimits _limits;
    private readonly IReadOnlyList<NodeProto> _nodes;
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
    private readonly List<(Layer Layer, float[][] Values)> _layers = [];
    private int _position;
    private int _end;
    private string _current = "";
    private int[] _shape = [];
    private int[] _shapeAtInput = [];

    private OnnxGraphReader(string source, GraphProto graph, ReaderLimits limits)
    {
        _source = source;
        _limits = limits;
        var sparse = graph.SparseInitializer.Select(s => OnnxPruning.Densify(s, source, limits)).ToList();
        _nodes = OnnxPruning.TakeSparseConstants(graph.Node, sparse, source, limits);
        foreach (var t in graph.Initializer.Concat(sparse))
        {
            if (!_initializers.TryAdd(t.Name, t))
            {
                throw Fail($"two initializers are named '{Show(t.Name)}'.");
            }
        }
    }

    /// <summary>Reads a model whose sizes <see cref="OnnxModelLimits"/> has checked.</summary>
    public static TrainedModel Read(ModelProto model, string source, ReaderLimits limits)
    {
        CheckHeader(model, source);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in model.MetadataProps)
        {
            if (!metadata.TryAdd(entry.Key, entry.Value))
            {
                throw new InvalidDataException($"{source}: metadata key '{Show(entry.Key)}' appears twice.");
            }
        }

        var reader = new OnnxGraphReader(source, model.Graph, limits);
        try
        {
            return reader.ReadModel(model.Graph, metadata);
        }
        catch (ArgumentException e)
        {
            // A value that a layer refuses (a window that does not fit, a rate out of range): the model is invalid.
            throw reader.Fail($"{(reader._position < reader._nodes.Count ? $"at node {reader._position} ('{Show(reader._nodes[reader._position].Name)}'): " : "")}{e.Message}");
        }
    }

    private static void CheckHeader(ModelProto model, string source)
    {
        if (model.ProducerName != OnnxFormat.ProducerName)
        {
            string producer = model.HasProducerName && model.ProducerName.Length > 0 ? $"'{Show(model.ProducerName)}'" : "an unnamed producer";
            throw new InvalidDataException($"{source} was written by {producer}, not by {OnnxFormat.ProducerName}: OnnxImporter reads only models this library exported. Score other ONNX models with ONNX Runtime or ML.NET's ApplyOnnxModel.");
        }

        if (model.IrVersion != OnnxFormat.IrVersion)
        {
            throw new InvalidDataException($"{source} has IR version {model.IrVersion}; OnnxImporter reads IR version {OnnxFormat.IrVersion}.");
        }

        foreach (var opset in model.OpsetImport)
        {
            bool defaultDomain = opset.Domain is "" or "ai.onnx";
            if (!defaultDomain || opset.Version != OnnxFormat.Opset)
            {
                throw new InvalidDataException($"{source} imports operator set '{Show((opset.Domain.Length == 0 ? "ai.onnx" : opset.Domain))}' version {opset.Version}; OnnxImporter reads only the default domain at opset {OnnxFormat.Opset}.");
            }
        }

        if (model.OpsetImport.Count == 0)
        {
            throw new InvalidDataException($"{source} declares no operator set.");
        }
    }

    private TrainedModel ReadModel(GraphProto graph, Dictionary<string, string> metadata)
    {
        var task = ParseMetadata(metadata, OnnxFormat.Keys.Task, s => Enum.TryParse<TaskKind>(s, out var t) && Enum.IsDefined(t) ? t : (TaskKind?)null)
            ?? throw Fail($"its metadata has no valid '{OnnxFormat.Keys.Task}' entry (Multiclass, Binary or Regression).");
        string input = ReadInput(graph);
        _current = input;
        _end = _nodes.Count - task switch { TaskKind.Multiclass => 2, TaskKind.Binary => 4, _ => 1 };
        if (_end < 0)
        {
            throw Fail($"the graph has {_nodes.Count} nodes, too few for a {task} model's outputs.");
        }

        var normalizer = ReadNormalizer(metadata);
        while (_position < _end)
        {
            ReadLayer(_nodes[_position]);
        }

        if (_position != _end)
        {
            throw Fail($"the last layer's nodes run into the {task} outputs; the graph does not end in the outputs the exporter writes.");
        }

        var (classCount, targetSize) = ReadOutputs(graph, task);
        if (task != TaskKind.Regression)
        {
            ReaderLimits.Check(classCount, _limits.MaxClassCount, _source, $"a model of {classCount:N0} classes", nameof(ReaderLimits.MaxClassCount));
        }

        if (_position != _nodes.Count)
        {
            throw Fail($"node '{Show(_nodes[_position].Name)}' follows the outputs.");
        }

        Network network;
        try
        {
            network = Network.Assemble(_shapeAtInput, _layers);
        }
        catch (ArgumentException e)
        {
            throw Fail($"its layers do not fit together: {e.Message}");
        }

        IReadOnlyList<string>? classNames = null;
        if (task != TaskKind.Regression && metadata.GetValueOrDefault(OnnxFormat.Keys.ClassNamesGiven) == "true")
        {
            classNames = ParseMetadata(metadata, OnnxFormat.Keys.ClassLabels, s => JsonSerializer.Deserialize<string[]>(s))
                ?? throw Fail($"its metadata says the classes are named but has no '{OnnxFormat.Keys.ClassLabels}'.");
            if (classNames.Count != classCount)
            {
                throw Fail($"its metadata names {classNames.Count} classes but the graph has {classCount}.");
            }

            int missing = classNames.ToList().FindIndex(n => n is null);
            if (missing >= 0)
            {
                throw Fail($"its metadata entry '{OnnxFormat.Keys.ClassLabels}' has no name (null) for class {missing}.");
            }
        }

        if (metadata.TryGetValue(OnnxFormat.Keys.PruningMasks, out string? masks))
        {
            OnnxPruning.RestoreMasks(network, masks, _source);
        }

        var history = ParseMetadata(metadata, OnnxFormat.Keys.History, OnnxHistoryJson.Read) ?? new TrainingHistory([], 0, StopReason.Completed);
        int seed = ParseMetadata(metadata, OnnxFormat.Keys.Seed, s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : (int?)null) ?? 0;
        string settings = metadata.GetValueOrDefault(OnnxFormat.Keys.TrainingSettings, "");
        return new TrainedModel(network, normalizer, history, task, classCount, targetSize, classNames, seed, settings);
    }

    private string ReadInput(GraphProto graph)
    {
        var inputs = graph.Input.Where(i => !_initializers.ContainsKey(i.Name)).ToList();
        if (inputs.Count != 1)
        {
            throw Fail($"the graph has {inputs.Count} inputs; a model of this library has exactly one.");
        }

        var tensorType = inputs[0].Type?.TensorType;
        if (tensorType is null || tensorType.ElemType != (int)OnnxElementType.Float || tensorType.Shape is null || tensorType.Shape.Dim.Count < 2)
        {
            throw Fail($"input '{Show(inputs[0].Name)}' is not a float tensor [batch, features...].");
        }

        var dims = tensorType.Shape.Dim.Skip(1).ToList();
        if (dims.Any(d => d.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue || d.DimValue <= 0 || d.DimValue > int.MaxValue))
        {
            throw Fail($"input '{Show(inputs[0].Name)}' must have fixed positive dimensions after the batch dimension.");
        }

        _shape = dims.Select(d => (int)d.DimValue).ToArray();
        CheckShapeSize(null);
        _shapeAtInput = _shape;
        return inputs[0].Name;
    }

    private Normalizer? ReadNormalizer(Dictionary<string, string> metadata)
    {
        if (_position >= _end || _nodes[_position].OpType != "Sub")
        {
            return null;
        }

        var sub = Node("Sub", 2, 1);
        Attributes(sub);
        float[] offset = Floats(sub, sub.Input[1], _shape);
        Advance(sub);
        var mul = _position < _end ? _nodes[_position] : throw Fail(sub, "the normalization's Sub is not followed by its Mul.");
        Check(mul, "Mul", 2, 1);
        Attributes(mul);
        float[] scale = Floats(mul, mul.Input[1], _shape);
        Advance(mul);
        var kind = ParseMetadata(metadata, OnnxFormat.Keys.Normalization, s => Enum.TryParse<NormalizationKind>(s, out var k) && Enum.IsDefined(k) ? k : (NormalizationKind?)null)
            ?? NormalizationKind.None;
        try
        {
            return Normalizer.FromParameters(kind, offset, scale);
        }
        catch (ArgumentException e)
        {
            throw Fail(sub, $"the normalization is invalid: {e.Message}");
        }
    }

    private (int ClassCount, int TargetSize) ReadOutputs(GraphProto graph, TaskKind task)
    {
        if (_shape.Length != 1)
        {
            throw Fail($"the network ends in per-example shape {Tensors.Tensor.FormatShape(_shape)}; expected a vector.");
        }

        int width = _shape[0];
        var outputs = new List<(string Name, OnnxElementType Type, int Width)>();
        switch (task)
        {
            case TaskKind.Multiclass:
            {
                var softmax = Node("Softmax", 1, 1);
                RequireInt(softmax, Attributes(softmax, "axis"), "axis", 1, -1);
                Advance(softmax);
                ReadArgMax(softmax.Output[0]);
                outputs.Add((softmax.Output[0], OnnxElementType.Float, width));
                outputs.Add((_nodes[^1].Output[0], OnnxElementType.Int64, 0));
                break;
            }

            case TaskKind.Binary:
            {
                if (width != 1)
                {
                    throw Fail($"a binary model ends in one logit, this graph in {width} values.");
                }

                var sigmoid = Node("Sigmoid", 1, 1);
                Attributes(sigmoid);
                var sub = Next(sigmoid, "Sub", 2, [null, sigmoid.Output[0]]);
                RequireScalar(sub, sub.Input[0], 1f, "the binary output's Sub");
                var concat = Next(sub, "Concat", 2, [sub.Output[0], sigmoid.Output[0]]);
                RequireInt(concat, Attributes(concat, "axis"), "axis", 1, -1);
                _position += 2;
                Advance(concat);
                ReadArgMax(concat.Output[0]);
                outputs.Add((concat.Output[0], OnnxElementType.Float, 2));
                outputs.Add((_nodes[^1].Output[0], OnnxElementType.Int64, 0));
                break;
            }

            default:
            {
                var identity = Node("Identity", 1, 1);
                Attributes(identity);
                Advance(identity);
                outputs.Add((identity.Output[0], OnnxElementType.Float, width));
                break;
            }
        }

        if (graph.Output.Count != outputs.Count)
        {
            throw Fail($"the graph has {graph.Output.Count} outputs; a {task} model of this library has {outputs.Count}.");
        }

        for (int i = 0; i < outputs.Count; i++)
        {
            var declared = graph.Output[i];
            var type = declared.Type?.TensorType;
            if (declared.Name != outputs[i].Name || type is null || type.ElemType != (int)outputs[i].Type)
            {
                throw Fail($"graph output {i} is '{Show(declared.Name)}', expected the {outputs[i].Type} tensor '{Show(outputs[i].Name)}' that the last nodes compute.");
            }
        }

        return task switch
        {
            TaskKind.Multiclass => (width, 0),
            TaskKind.Binary => (2, 0),
            _ => (0, width),
        };
    }

    private void ReadArgMax(string probabilities)
    {
        var argMax = Node("ArgMax", 1, 1);
        if (argMax.Input[0] != probabilities)
        {
            throw Fail(argMax, "ArgMax does not read the probabilities.");
        }

        var attributes = Attributes(argMax, "axis", "keepdims", "select_last_index");
        RequireInt(argMax, attributes, "axis", 1, 0);
        RequireInt(argMax, attributes, "keepdims", 0, 1);
        RequireInt(argMax, attributes, "select_last_index", 0, 0);
        _position++;
    }

    /// <summary>Refuses a per-example shape of more than <see cref="ReaderLimits.MaxTensorElements"/> values (computed
    /// without overflow): what one example's activations would need at prediction time.</summary>
    private void CheckShapeSize(NodeProto? node)
    {
        long size = 1;
        foreach (int d in _shape)
        {
            size = size <= _limits.MaxTensorElements ? size * d : size;
        }

        if (size > _limits.MaxTensorElements)
        {
            string where = node is null ? $"{_source}: the input" : $"{_source}: node '{Show(node.Name)}' ({Show(node.OpType)})";
            throw ReaderLimits.Exceeded(where, $"a per-example shape {Tensors.Tensor.FormatShape(_shape)}", nameof(ReaderLimits.MaxTensorElements), _limits.MaxTensorElements);
        }
    }

    private static string Show(string? text) => ReaderLimits.Shorten(text);

    private InvalidDataException Fail(string problem) => new($"{_source} is not a model OnnxImporter can read: {problem}");

    private InvalidDataException Fail(NodeProto node, string problem) =>
        new($"{_source}: node '{Show(node.Name)}' ({Show(node.OpType)}): {problem}");

    private InvalidDataException Unsupported(NodeProto node, string what) =>
        new($"{_source}: node '{Show(node.Name)}' ({Show(node.OpType)}) has {what}, which OnnxImporter does not support.");
}
