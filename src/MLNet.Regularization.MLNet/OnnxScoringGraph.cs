using Google.Protobuf;
using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx.Protobuf;

namespace MLNet.Regularization.MLNet;

/// <summary>
/// Rewrites the outputs of an exported model for ML.NET's OnnxTransformer, which runs one row at a time (batch = 1)
/// and turns every tensor output into a vector column. Multiclass <c>Score</c> becomes the 1-D vector of class
/// probabilities the evaluator wants (the batch axis squeezed away, valid because ML.NET feeds one row); the
/// values that must be scalars (binary Score/Probability/PredictedLabel, regression Score, the multiclass class
/// index) leave the graph as vectors of one value under <see cref="Prefix"/> names, and <see cref="ScalarColumns"/>
/// turns them into scalars (OnnxTransformer 5.0.0 cannot read a rank-0 tensor output: its getter for non-vector
/// outputs only handles sequences and maps). The file a user exports with <c>OnnxExporter</c> is not touched.
/// </summary>
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

    /// <summary>The rewritten model bytes and the output columns they produce.</summary>
    public static (byte[] Bytes, string[] Outputs) Rewrite(byte[] exported, TaskKind task, int width)
    {
        var model = ModelProto.Parser.ParseFrom(exported);
        var graph = model.Graph;
        const string probabilities = "probabilities", label = "predicted_label", score = "score";
        graph.Output.Clear();
        switch (task)
        {
            case TaskKind.Multiclass:
                Node(graph, "Squeeze", [probabilities, Int64Initializer(graph, "rn_axes_0", [0])], "Score");
                Node(graph, "Identity", [label], PredictedIndex);
                Output(graph, "Score", TensorProto.Types.DataType.Float, [width]);
                Output(graph, PredictedIndex, TensorProto.Types.DataType.Int64, [1]);
                return (model.ToByteArray(), ["Score", PredictedIndex]);

            case TaskKind.Binary:
                // Probability = P(true) = probabilities[:, 1]; Score = its logit log(p / (1 − p)), the margin
                // ML.NET's calibrated binary trainers report; PredictedLabel = (index == 1) as Boolean.
                Node(graph, "Gather", [probabilities, Int64Initializer(graph, "rn_index_1", [])], Probability, ("axis", 1));
                Node(graph, "Sub", [FloatInitializer(graph, "rn_one", 1f), Probability], "rn_q");
                Node(graph, "Div", [Probability, "rn_q"], "rn_odds");
                Node(graph, "Log", ["rn_odds"], Score);
                Node(graph, "Cast", [label], PredictedLabel, ("to", (long)TensorProto.Types.DataType.Bool));
                Output(graph, Score, TensorProto.Types.DataType.Float, [1]);
                Output(graph, Probability, TensorProto.Types.DataType.Float, [1]);
                Output(graph, PredictedLabel, TensorProto.Types.DataType.Bool, [1]);
                return (model.ToByteArray(), [Score, Probability, PredictedLabel]);

            default:
                Node(graph, "Squeeze", [score, Int64Initializer(graph, "rn_axes_1", [1])], Score);
                Output(graph, Score, TensorProto.Types.DataType.Float, [1]);
                return (model.ToByteArray(), [Score]);
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

    private static void Output(GraphProto graph, string name, TensorProto.Types.DataType type, int[] shape)
    {
        var tensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = new TensorShapeProto() };
        foreach (int d in shape)
        {
            tensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        }

        graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensorType } });
    }
}
