using Google.Protobuf;
using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.MLNet;

/// <summary>
/// The ONNX graph that ML.NET's OnnxTransformer runs for a trained model: the engine's export with extra outputs
/// in the forms ML.NET wants, plus what is needed to get the engine's model back from a saved ML.NET model.
/// </summary>
/// <remarks>
/// <para>OnnxTransformer runs one row at a time (batch = 1) and turns every tensor output into a vector column.
/// Multiclass <c>Score</c> becomes the 1-D vector of class probabilities the evaluator wants (the batch axis squeezed
/// away); the values that must be scalars (binary Score/Probability/PredictedLabel, regression Score, the multiclass
/// class index) leave the graph as vectors of one value under <see cref="Prefix"/> names, and
/// <see cref="ScalarColumns"/> turns them into scalars (OnnxTransformer cannot read a rank-0 tensor output). A network
/// that reads images gets a flat input named after the features column and a Reshape to [N, C, H, W], so the column
/// may be a flat vector or ExtractPixels' [C, H, W] one.</para>
/// <para>Everything the rewrite adds is appended after the export's own nodes and initializers, and the export's
/// inputs and outputs are kept in the <see cref="ScoringKey"/> metadata entry, so <see cref="Restore"/> can give
/// back the export and the engine's model after <c>mlContext.Model.Load</c>. A network with dropout layers also
/// carries its Monte Carlo export (<see cref="MonteCarloKey"/>), which brings those layers back, so
/// <c>PredictWithUncertainty</c> works on a reloaded model. The file a user exports with <c>OnnxExporter</c> is not
/// touched.</para>
/// </remarks>
internal static class OnnxScoringGraph
{
    /// <summary>Prefix of the intermediate columns (vectors of one value) that <see cref="ScalarColumns"/> turns into scalars.</summary>
    public const string Prefix = "RegularizedNetwork.";

    /// <summary>Multiclass: the arg-max class index (Int64 vector of one value).</summary>
    public const string PredictedIndex = Prefix + "PredictedIndex";

    /// <summary>Binary and regression: the score (Single vector of one value).</summary>
    public const string Score = Prefix + "Score";

    /// <summary>Binary: P(true) (Single vector of one value).</summary>
    public const string Probability = Prefix + "Probability";

    /// <summary>Binary: the predicted class (Boolean vector of one value).</summary>
    public const string PredictedLabel = Prefix + "PredictedLabel";

    /// <summary>Metadata key marking a scoring graph; its value holds the export's own inputs and outputs.</summary>
    public const string ScoringKey = "mlnet_scoring_graph";

    /// <summary>Metadata key holding the Monte Carlo export (base64), when the network has dropout layers.</summary>
    public const string MonteCarloKey = "mlnet_monte_carlo_model";

    /// <summary>Metadata key: "true" when the multiclass label the model was trained on had key values.</summary>
    public const string LabelKeyValuesKey = "mlnet_label_key_values";

    /// <summary>The export's input name when the rewrite puts a flat input and a Reshape in front of it.</summary>
    private const string ShapedInput = "rn_features_shaped";

    /// <summary>The scoring model bytes for <paramref name="model"/> reading column <paramref name="inputColumn"/>, and
    /// the output columns they produce; <paramref name="labelHasKeyValues"/> records whether the (multiclass) label
    /// had key values, so a reloaded model annotates its columns as the trained one did.</summary>
    public static (byte[] Bytes, string[] Outputs) Build(TrainedModel model, string inputColumn, bool labelHasKeyValues)
    {
        int[] shape = model.InputShape;
        int width = shape.Aggregate(1, (a, b) => a * b);
        bool reshape = shape.Length > 1;
        var exported = ModelProto.Parser.ParseFrom(OnnxExporter.ExportToBytes(model, new OnnxExportOptions { InputName = reshape ? ShapedInput : inputColumn }));
        var graph = exported.Graph;
        var original = new GraphProto { Name = $"{graph.Node.Count} {graph.Initializer.Count}" };
        original.Input.Add(graph.Input);
        original.Output.Add(graph.Output);
        exported.MetadataProps.Add(new StringStringEntryProto { Key = ScoringKey, Value = Convert.ToBase64String(original.ToByteArray()) });
        exported.MetadataProps.Add(new StringStringEntryProto { Key = LabelKeyValuesKey, Value = labelHasKeyValues ? "true" : "false" });
        if (MonteCarloBytes(model) is { } monteCarlo)
        {
            exported.MetadataProps.Add(new StringStringEntryProto { Key = MonteCarloKey, Value = Convert.ToBase64String(monteCarlo) });
        }

        if (reshape)
        {
            graph.Input.Clear();
            AddValue(graph.Input, inputColumn, TensorProto.Types.DataType.Float, [-1, width]);
            Node(graph, "Reshape", [inputColumn, Int64Initializer(graph, "rn_shape", [-1, .. shape.Select(d => (long)d)])], ShapedInput);
        }

        const string probabilities = "probabilities", label = "predicted_label", score = "score";
        string[] outputs;
        switch (model.Task)
        {
            case TaskKind.Multiclass:
                Node(graph, "Squeeze", [probabilities, Int64Initializer(graph, "rn_axes_0", [0])], "Score");
                Node(graph, "Identity", [label], PredictedIndex);
                outputs = ["Score", PredictedIndex];
                break;

            case TaskKind.Binary:
                // Probability = P(true) = probabilities[:, 1]; Score = its logit log(p / (1 − p)), the margin
                // ML.NET's calibrated binary trainers report; PredictedLabel = (index == 1) as Boolean.
                Node(graph, "Gather", [probabilities, Int64Initializer(graph, "rn_index_1", [])], Probability, ("axis", 1));
                Node(graph, "Sub", [FloatInitializer(graph, "rn_one", 1f), Probability], "rn_q");
                Node(graph, "Div", [Probability, "rn_q"], "rn_odds");
                Node(graph, "Log", ["rn_odds"], Score);
                Node(graph, "Cast", [label], PredictedLabel, ("to", (long)TensorProto.Types.DataType.Bool));
                outputs = [Score, Probability, PredictedLabel];
                break;

            default:
                Node(graph, "Squeeze", [score, Int64Initializer(graph, "rn_axes_1", [1])], Score);
                outputs = [Score];
                break;
        }

        graph.Output.Clear();
        foreach (string output in outputs)
        {
            var (type, dims) = output switch
            {
                "Score" => (TensorProto.Types.DataType.Float, new long[] { model.ProbabilityWidth }),
                PredictedIndex => (TensorProto.Types.DataType.Int64, [1]),
                PredictedLabel => (TensorProto.Types.DataType.Bool, [1]),
                _ => (TensorProto.Types.DataType.Float, [1]),
            };
            AddValue(graph.Output, output, type, dims);
        }

        return (exported.ToByteArray(), outputs);
    }

    /// <summary>True when <paramref name="bytes"/> is a scoring graph written by <see cref="Build"/>.</summary>
    public static bool IsScoringGraph(byte[] bytes)
    {
        try
        {
            return ModelProto.Parser.ParseFrom(bytes).MetadataProps.Any(p => p.Key == ScoringKey);
        }
        catch (InvalidProtocolBufferException)
        {
            return false;
        }
    }

    /// <summary>The name of the scoring graph's input: the features column it was built for.</summary>
    public static string InputName(byte[] scoringBytes) => ModelProto.Parser.ParseFrom(scoringBytes).Graph.Input[0].Name;

    /// <summary>Whether the label the scoring graph's model was trained on had key values.</summary>
    public static bool LabelHadKeyValues(byte[] scoringBytes) =>
        ModelProto.Parser.ParseFrom(scoringBytes).MetadataProps.Any(p => p.Key == LabelKeyValuesKey && p.Value == "true");

    /// <summary>The engine's export that <paramref name="scoringBytes"/> was built from, byte for byte.</summary>
    public static byte[] RestoreExport(byte[] scoringBytes)
    {
        var model = ModelProto.Parser.ParseFrom(scoringBytes);
        var entry = model.MetadataProps.FirstOrDefault(p => p.Key == ScoringKey)
            ?? throw new InvalidDataException("the ONNX model was not written by RegularizedNetwork's trainer (it has no scoring-graph metadata).");
        var original = GraphProto.Parser.ParseFrom(Convert.FromBase64String(entry.Value));
        var counts = original.Name.Split(' ');
        int nodes = int.Parse(counts[0], System.Globalization.CultureInfo.InvariantCulture);
        int initializers = int.Parse(counts[1], System.Globalization.CultureInfo.InvariantCulture);
        var graph = model.Graph;
        while (graph.Node.Count > nodes)
        {
            graph.Node.RemoveAt(graph.Node.Count - 1);
        }

        while (graph.Initializer.Count > initializers)
        {
            graph.Initializer.RemoveAt(graph.Initializer.Count - 1);
        }

        graph.Input.Clear();
        graph.Input.Add(original.Input);
        graph.Output.Clear();
        graph.Output.Add(original.Output);
        var keep = model.MetadataProps.Where(p => p.Key is not (ScoringKey or MonteCarloKey or LabelKeyValuesKey)).ToList();
        model.MetadataProps.Clear();
        model.MetadataProps.Add(keep);
        return model.ToByteArray();
    }

    /// <summary>The engine's model from a scoring graph: from its Monte Carlo export when it carries one (dropout
    /// layers back, so Monte Carlo prediction works), else from the restored export.</summary>
    public static TrainedModel Restore(byte[] scoringBytes)
    {
        var model = ModelProto.Parser.ParseFrom(scoringBytes);
        if (model.MetadataProps.FirstOrDefault(p => p.Key == MonteCarloKey) is { } monteCarlo)
        {
            return OnnxImporter.Load(Convert.FromBase64String(monteCarlo.Value));
        }

        return OnnxImporter.Load(RestoreExport(scoringBytes));
    }

    /// <summary>The Monte Carlo export, or null when the network has no stochastic layer or one whose Monte Carlo
    /// form ONNX cannot express (then a reloaded model predicts, but has no Monte Carlo prediction).</summary>
    private static byte[]? MonteCarloBytes(TrainedModel model)
    {
        if (!model.Network.Layers.Any(l => l.IsStochastic))
        {
            return null;
        }

        try
        {
            return OnnxExporter.ExportToBytes(model, new OnnxExportOptions { MonteCarlo = true });
        }
        catch (NotSupportedException)
        {
            return null;
        }
    }

    private static string Int64Initializer(GraphProto graph, string name, long[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        if (values.Length == 0)
        {
            tensor.Int64Data.Add(1); // a scalar 1 (rank 0)
        }
        else
        {
            tensor.Dims.Add(values.Length);
            tensor.Int64Data.Add(values);
        }

        graph.Initializer.Add(tensor);
        return name;
    }

    private static string FloatInitializer(GraphProto graph, string name, float value)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.FloatData.Add(value);
        graph.Initializer.Add(tensor);
        return name;
    }

    private static void Node(GraphProto graph, string op, string[] inputs, string output, params (string Name, long Value)[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = "mlnet_" + output.Replace('.', '_') };
        node.Input.Add(inputs);
        node.Output.Add(output);
        foreach (var (name, value) in attributes)
        {
            node.Attribute.Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });
        }

        graph.Node.Add(node);
    }

    /// <summary>Adds a tensor value description; a dimension of −1 is the symbolic batch dimension.</summary>
    private static void AddValue(Google.Protobuf.Collections.RepeatedField<ValueInfoProto> list, string name, TensorProto.Types.DataType type, long[] shape)
    {
        var tensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = new TensorShapeProto() };
        foreach (long d in shape)
        {
            tensorType.Shape.Dim.Add(d < 0 ? new TensorShapeProto.Types.Dimension { DimParam = "batch" } : new TensorShapeProto.Types.Dimension { DimValue = d });
        }

        list.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensorType } });
    }
}
