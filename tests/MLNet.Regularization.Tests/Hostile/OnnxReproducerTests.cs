using System.Diagnostics;
using Google.Protobuf;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Hostile;

/// <summary>The ONNX reproducers of issue 15: unbounded reads, giant names in messages, quadratic import, untyped
/// exceptions from hostile geometry, and NaN or negative-variance models that loaded and predicted NaN.</summary>
public sealed class OnnxReproducerTests(Xunit.Abstractions.ITestOutputHelper log)
{
    private static readonly Lazy<TrainedModel> DenseModel = new(() => new Trainer(new TrainerOptions { Epochs = 1 }).Fit(
        Network.Sequential(new Dense(8), new ReLU(), new Dense(3)), TestData.Blobs(60, 5, 3, 1)));

    private static readonly Lazy<TrainedModel> ConvModel = new(() => new Trainer(new TrainerOptions { Epochs = 1, BatchSize = 4 }).Fit(
        Network.Sequential(new Conv2D(2, 3), new ReLU(), new Flatten(), new Dense(3)),
        TestData.Blobs(8, 28 * 28, 3, 2).Reshape(1, 28, 28)));

    private static readonly Lazy<TrainedModel> BatchNormModel = new(() => new Trainer(new TrainerOptions { Epochs = 1 }).Fit(
        Network.Sequential(new Dense(4), new BatchNorm(), new ReLU(), new Dense(3)), TestData.Blobs(60, 5, 3, 1)));

    private static ModelProto Exported(TrainedModel model, OnnxExportOptions? options = null) =>
        ModelProto.Parser.ParseFrom(OnnxExporter.ExportToBytes(model, options));

    private static string Refused(ModelProto model, ReaderLimits? limits = null) =>
        Assert.Throws<InvalidDataException>(() => OnnxImporter.Load(model.ToByteArray(), limits)).Message;

    private static NodeProto Node(ModelProto model, string opType) => model.Graph.Node.First(n => n.OpType == opType);

    private static void SetInts(NodeProto node, string name, params long[] values)
    {
        var attribute = node.Attribute.FirstOrDefault(a => a.Name == name);
        if (attribute is null)
        {
            attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
            node.Attribute.Add(attribute);
        }

        attribute.Ints.Clear();
        attribute.Ints.Add(values);
    }

    /// <summary>An endless stream of zeros, like /dev/zero.</summary>
    private sealed class EndlessZeros : Stream
    {
        public long Served { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => Served; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            Array.Clear(buffer, offset, count);
            Served += count;
            return count;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public void An_endless_stream_is_refused_at_the_file_size_limit()
    {
        var zeros = new EndlessZeros();
        var error = Assert.Throws<InvalidDataException>(() => OnnxImporter.Load(zeros, new ReaderLimits { MaxFileBytes = 8 << 20 }));
        Assert.Contains("ReaderLimits.MaxFileBytes (8,388,608)", error.Message);
        Assert.True(zeros.Served <= (16 << 20), $"read {zeros.Served:N0} bytes past a limit of 8 MiB");
    }

    [Fact]
    public void Dev_zero_is_refused_at_the_file_size_limit()
    {
        if (!File.Exists("/dev/zero"))
        {
            return; // not on Linux/macOS
        }

        var error = Assert.Throws<InvalidDataException>(() => OnnxImporter.Load("/dev/zero", new ReaderLimits { MaxFileBytes = 1 << 20 }));
        Assert.Contains("'/dev/zero'", error.Message);
        Assert.Contains("MaxFileBytes", error.Message);
    }

    [Fact]
    public void A_20_million_character_node_name_is_refused_with_a_short_message()
    {
        var model = Exported(DenseModel.Value);
        Node(model, "Relu").Name = new string('n', 20_000_000);
        string message = Refused(model);
        Assert.Contains("ReaderLimits.MaxStringLength", message);
        Assert.True(message.Length < 1000, $"a message of {message.Length:N0} characters");
    }

    [Fact]
    public void Long_names_under_the_limit_are_shortened_in_messages()
    {
        var model = Exported(DenseModel.Value);
        var relu = Node(model, "Relu");
        relu.Name = new string('n', 1_000_000);
        relu.OpType = "Elu";
        string message = Refused(model);
        Assert.Contains("'Elu'", message);
        Assert.Contains("(1,000,000 characters)", message);
        Assert.True(message.Length < 1000, $"a message of {message.Length:N0} characters");
    }

    [Fact]
    public void Node_count_limit_is_named()
    {
        var model = Exported(DenseModel.Value);
        Assert.Contains("ReaderLimits.MaxNodeCount (3)", Refused(model, new ReaderLimits { MaxNodeCount = 3 }));
    }

    [Fact]
    public void Import_is_linear_in_the_number_of_nodes()
    {
        // Gemm -> n Relu -> Gemm -> Softmax -> ArgMax, for n and 4n. Linear import takes about 4 times as long for 4n
        // nodes, quadratic import (Network.Sequential's old duplicate check: 6 s at 100,000 layers, 24 s at 200,000)
        // 16 times. Each size is imported twice, alternately, and the faster time kept, so the ratio compares like
        // with like on a busy machine; no absolute time is asserted.
        // MLNET_REG_IMPORT_NODES=1000000 repeats the measurement once (the node limit is raised to fit).
        if (int.TryParse(Environment.GetEnvironmentVariable("MLNET_REG_IMPORT_NODES"), out int requested) && requested > 0)
        {
            var (seconds, cpu) = TimeImport(requested);
            log.WriteLine($"imported {requested:N0} Relu nodes in {seconds:F2} s ({cpu:F2} s of CPU)");
            return;
        }

        const int Small = 25_000, Large = 100_000;
        double small = double.MaxValue, large = double.MaxValue;
        for (int round = 0; round < 2; round++)
        {
            small = Math.Min(small, TimeImport(Small).Seconds);
            large = Math.Min(large, TimeImport(Large).Seconds);
        }

        log.WriteLine($"{Small:N0} nodes: {small:F3} s, {Large:N0} nodes: {large:F3} s, ratio {large / small:F1} (linear 4, quadratic 16)");
        Assert.True(large / small < 9, $"importing 4 times the nodes took {large / small:F1} times as long ({small:F3} s, {large:F3} s): the import is not linear.");
    }

    /// <summary>Imports a network with <paramref name="relus"/> Relu nodes in a row; wall and CPU seconds.</summary>
    private static (double Seconds, double Cpu) TimeImport(int relus)
    {
        var model = Exported(DenseModel.Value);
        var relu = Node(model, "Relu");
        int at = model.Graph.Node.IndexOf(relu);
        string input = relu.Input[0], output = relu.Output[0];
        model.Graph.Node.RemoveAt(at);
        var chain = new NodeProto[relus];
        for (int i = 0; i < relus; i++)
        {
            chain[i] = new NodeProto { Name = $"relu{i}", OpType = "Relu", Input = { i == 0 ? input : $"r{i - 1}" }, Output = { i == relus - 1 ? output : $"r{i}" } };
        }

        var nodes = model.Graph.Node.ToList();
        nodes.InsertRange(at, chain);
        model.Graph.Node.Clear();
        model.Graph.Node.Add(nodes);
        byte[] bytes = model.ToByteArray();

        var clock = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var imported = OnnxImporter.Load(bytes, new ReaderLimits { MaxNodeCount = relus + 10 });
        var result = (clock.Elapsed.TotalSeconds, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds);
        Assert.Equal(relus + 2, imported.Network.Layers.Count);
        return result;
    }

    [Fact]
    public void Flatten_of_four_billion_values_is_refused_not_overflowed()
    {
        var model = Exported(DenseModel.Value);
        var dims = model.Graph.Input[0].Type.TensorType.Shape.Dim;
        dims[1].DimValue = 4;
        dims.Add(new TensorShapeProto.Types.Dimension { DimValue = 1073741825 });
        var gemm = Node(model, "Gemm");
        int at = model.Graph.Node.IndexOf(gemm);
        model.Graph.Node.Insert(at, new NodeProto { Name = "flatten", OpType = "Flatten", Input = { gemm.Input[0] }, Output = { "flat" }, Attribute = { new AttributeProto { Name = "axis", I = 1, Type = AttributeProto.Types.AttributeType.Int } } });
        gemm.Input[0] = "flat";
        string message = Refused(model);
        Assert.Contains("ReaderLimits.MaxTensorElements", message);
        Assert.Contains("[4, 1073741825]", message);
    }

    [Fact]
    public void A_30x30_kernel_on_a_28x28_input_is_an_invalid_model()
    {
        var model = Exported(ConvModel.Value);
        var conv = Node(model, "Conv");
        var weight = model.Graph.Initializer.First(t => t.Name == conv.Input[1]);
        weight.Dims[2] = 30;
        weight.Dims[3] = 30;
        weight.RawData = ByteString.CopyFrom(new byte[2 * 1 * 30 * 30 * sizeof(float)]);
        SetInts(conv, "kernel_shape", 30, 30);
        string message = Refused(model);
        Assert.Contains("does not fit input [1, 28, 28]", message);
    }

    [Theory]
    [InlineData("dilations", 2147483647L)]
    [InlineData("dilations", 65536L)]
    [InlineData("strides", 2147483647L)]
    public void Huge_dilations_and_strides_are_refused(string attribute, long value)
    {
        var model = Exported(ConvModel.Value);
        SetInts(Node(model, "Conv"), attribute, value, value);
        string message = Refused(model);
        Assert.Contains("Conv", message);
    }

    [Fact]
    public void Pads_of_int_MaxValue_are_refused_not_wrapped()
    {
        var model = Exported(ConvModel.Value);
        SetInts(Node(model, "Conv"), "pads", int.MaxValue, int.MaxValue, int.MaxValue, int.MaxValue);
        Assert.Contains("larger than 268,435,456 pixels per axis", Refused(model));
    }

    [Fact]
    public void Moderate_pads_that_blow_up_the_activations_hit_the_tensor_limit()
    {
        var model = Exported(ConvModel.Value);
        SetInts(Node(model, "Conv"), "pads", 100_000, 100_000, 100_000, 100_000);
        Assert.Contains("ReaderLimits.MaxTensorElements", Refused(model));
    }

    [Fact]
    public void A_null_class_label_is_refused_at_load_not_in_predict()
    {
        var model = Exported(DenseModel.Value);
        Set(model, OnnxFormat.Keys.ClassNamesGiven, "true");
        Set(model, OnnxFormat.Keys.ClassLabels, """["a", null, "c"]""");
        string message = Refused(model);
        Assert.Contains("null", message);
        Assert.Contains("class 1", message);
    }

    [Fact]
    public void Nan_weights_are_refused()
    {
        var model = Exported(DenseModel.Value);
        SetValue(model, Node(model, "Gemm").Input[1], 5, float.NaN);
        string message = Refused(model);
        Assert.Contains("NaN at index 5", message);
        Assert.Contains("finite", message);
    }

    [Fact]
    public void A_negative_batch_norm_variance_is_refused()
    {
        var model = Exported(BatchNormModel.Value, new OnnxExportOptions { FoldBatchNorm = false });
        var bn = Node(model, "BatchNormalization");
        SetValue(model, bn.Input[4], 2, -0.5f);
        string message = Refused(model);
        Assert.Contains("-0.5 for channel 2", message);
        Assert.Contains("cannot be negative", message);
    }

    [Fact]
    public void A_valid_model_still_round_trips_under_the_default_limits()
    {
        var model = DenseModel.Value;
        var imported = OnnxImporter.Load(OnnxExporter.ExportToBytes(model));
        var x = TestData.Blobs(10, 5, 3, 4).Features;
        Assert.Equal(model.PredictProbabilities(x), imported.PredictProbabilities(x));
    }

    /// <summary>Overwrites one value of a float initializer (stored as raw little-endian bytes by the exporter).</summary>
    private static void SetValue(ModelProto model, string initializer, int index, float value)
    {
        var tensor = model.Graph.Initializer.First(t => t.Name == initializer);
        var raw = tensor.RawData.ToByteArray();
        BitConverter.GetBytes(value).CopyTo(raw, 4 * index);
        tensor.RawData = ByteString.CopyFrom(raw);
    }

    private static void Set(ModelProto model, string key, string value)
    {
        var entry = model.MetadataProps.FirstOrDefault(e => e.Key == key);
        if (entry is null)
        {
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }
        else
        {
            entry.Value = value;
        }
    }
}
