using Google.Protobuf;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Onnx;

public class OnnxImportErrorTests
{
    private static readonly Lazy<TrainedModel> Model = new(() => new Trainer(new TrainerOptions { Epochs = 1 }).Fit(
        Network.Sequential(new Dense(8), new ReLU(), new Dense(8), new Tanh(), new Dense(3)), TestData.Blobs(60, 5, 3, 1)));

    private static ModelProto Exported() => ModelProto.Parser.ParseFrom(OnnxExporter.ExportToBytes(Model.Value));

    private static string ImportError(ModelProto model) =>
        Assert.Throws<InvalidDataException>(() => OnnxImporter.Load(model.ToByteArray())).Message;

    [Fact]
    public void A_truncated_file_is_refused_naming_the_file()
    {
        using var folder = new TempFolder();
        byte[] bytes = OnnxExporter.ExportToBytes(Model.Value);
        string path = folder.WriteBytes("cut.onnx", bytes[..(bytes.Length / 2)]);
        var message = Assert.Throws<InvalidDataException>(() => OnnxImporter.Load(path)).Message;
        Assert.Contains("cut.onnx", message);
        Assert.Contains("truncated or corrupt", message);
    }

    [Fact]
    public void Random_bytes_and_an_empty_file_are_not_ONNX()
    {
        var random = new byte[4096];
        new Random(5).NextBytes(random);
        Assert.Contains("ONNX", Assert.Throws<InvalidDataException>(() => OnnxImporter.Load(random)).Message);

        using var folder = new TempFolder();
        string empty = folder.WriteBytes("empty.onnx", []);
        var message = Assert.Throws<InvalidDataException>(() => OnnxImporter.Load(empty)).Message;
        Assert.Contains("empty.onnx", message);
        Assert.Contains("the file is empty", message);

        // A text file: protobuf may even parse it, but it is no model.
        string text = folder.WriteText("model.onnx", "this is not a model");
        Assert.Contains("model.onnx", Assert.Throws<InvalidDataException>(() => OnnxImporter.Load(text)).Message);
    }

    [Fact]
    public void A_model_from_another_producer_is_refused()
    {
        // A valid ONNX model (y = Relu(x)) as another tool would write it.
        var graph = new GraphProto { Name = "other" };
        graph.Node.Add(new NodeProto { Name = "relu", OpType = "Relu", Input = { "x" }, Output = { "y" } });
        graph.Input.Add(FloatInfo("x", 4));
        graph.Output.Add(FloatInfo("y", 4));
        var model = new ModelProto { IrVersion = 8, ProducerName = "pytorch", ProducerVersion = "2.1", Graph = graph, OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 17 } } };
        var message = ImportError(model);
        Assert.Contains("'pytorch'", message);
        Assert.Contains("reads only models this library exported", message);

        model.ProducerName = "";
        Assert.Contains("unnamed producer", ImportError(model));
    }

    [Theory]
    [InlineData("Relu", "Resize")] // Conv is read since the convolutional export
    [InlineData("Tanh", "LSTM")]
    [InlineData("Relu", "Softplus")]
    public void An_unsupported_operator_is_named_with_its_node(string replaced, string unsupported)
    {
        var model = Exported();
        var node = model.Graph.Node.First(n => n.OpType == replaced);
        node.OpType = unsupported;
        var message = ImportError(model);
        Assert.Contains($"operator '{unsupported}'", message);
        Assert.Contains($"node '{node.Name}'", message);
    }

    [Fact]
    public void An_unsupported_attribute_is_named_with_its_node()
    {
        var model = Exported();
        var gemm = model.Graph.Node.First(n => n.OpType == "Gemm");
        gemm.Attribute.Add(new AttributeProto { Name = "transA", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        var message = ImportError(model);
        Assert.Contains($"node '{gemm.Name}' (Gemm)", message);
        Assert.Contains("transA = 1", message);

        model = Exported();
        var relu = model.Graph.Node.First(n => n.OpType == "Relu");
        relu.Attribute.Add(new AttributeProto { Name = "approximate", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8("tanh") });
        Assert.Contains($"node '{relu.Name}' (Relu) has attribute 'approximate'", ImportError(model));
    }

    [Fact]
    public void Another_opset_or_domain_is_refused()
    {
        var model = Exported();
        model.OpsetImport[0].Version = 13;
        Assert.Contains("version 13", ImportError(model));

        model = Exported();
        var node = model.Graph.Node.First(n => n.OpType == "Relu");
        node.Domain = "com.microsoft";
        var message = ImportError(model);
        Assert.Contains("com.microsoft", message);
        Assert.Contains(node.Name, message);
    }

    [Fact]
    public void A_graph_whose_nodes_do_not_chain_or_whose_weights_do_not_fit_is_refused()
    {
        var model = Exported();
        var second = model.Graph.Node.Where(n => n.OpType == "Gemm").ElementAt(1);
        second.Input[0] = "features";
        Assert.Contains("reads 'features' where the chain of layers is at", ImportError(model));

        model = Exported();
        var weight = model.Graph.Initializer.First(t => t.Name.EndsWith("weight", StringComparison.Ordinal));
        weight.Dims[1] += 1;
        Assert.Contains(weight.Name, ImportError(model));

        model = Exported();
        model.MetadataProps.Remove(model.MetadataProps.First(p => p.Key == "task"));
        Assert.Contains("no valid 'task' entry", ImportError(model));
    }

    [Fact]
    public void A_missing_file_is_a_FileNotFoundException()
    {
        using var folder = new TempFolder();
        Assert.Throws<FileNotFoundException>(() => OnnxImporter.Load(folder.File("nothing.onnx")));
    }

    private static ValueInfoProto FloatInfo(string name, int width)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = width });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }
}
