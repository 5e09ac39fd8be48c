using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Tests.Onnx;
using MLNet.Regularization.Training;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.Tests.Pruning;

/// <summary>Pruned and structurally shrunk models, exported (dense and with sparse weights) and run through the
/// ONNX checker and ONNX Runtime once.</summary>
public sealed class PruningOnnxFixture : ExportedModelsFixture
{
    public PruningOnnxFixture()
    {
        var cases = new List<(string, TrainedModel, OnnxExportOptions, Tensor, string[])>();
        foreach (var (name, model, test) in PruningOnnxTests.Models())
        {
            cases.Add((name, model, new OnnxExportOptions(), test, ["probabilities", "predicted_label"]));
            cases.Add((name + "_sparse", model, new OnnxExportOptions { SparseWeights = true }, test, ["probabilities", "predicted_label"]));
        }

        ExportAndRun(cases);
    }
}

public class PruningOnnxTests(PruningOnnxFixture fixture, ITestOutputHelper output) : IClassFixture<PruningOnnxFixture>
{
    public static TheoryData<string> Names => ["ticket_mlp", "ticket_conv", "shrunk_mlp", "shrunk_conv", "ticket_mlp_sparse", "ticket_conv_sparse", "shrunk_mlp_sparse", "shrunk_conv_sparse"];

    /// <summary>A magnitude-pruned MLP (80% of the weights gone, DropConnect and batch norm folded at export), a pruned
    /// conv net (batch norm folded into a pruned Conv) and both structurally shrunk and fine-tuned.</summary>
    internal static IEnumerable<(string Name, TrainedModel Model, Tensor Test)> Models()
    {
        foreach (string kind in new[] { "mlp", "conv-flatten" })
        {
            var (net, data, test) = StructuredPruningTests.Case(kind);
            var dense = StructuredPruningTests.Train(net, data, epochs: 2);
            var pruned = dense.Network.Clone();
            MagnitudePruning.Prune(pruned, new MagnitudePruningOptions { Rate = 0.8 });
            string name = kind == "mlp" ? "mlp" : "conv";
            yield return ($"ticket_{name}", StructuredPruningTests.Train(pruned, data, epochs: 2), test.Features);
            var shrunk = StructuredPruning.Prune(dense.Network, StructuredPruningTests.OptionsFor(kind)).Network;
            yield return ($"shrunk_{name}", StructuredPruningTests.Train(shrunk, data, epochs: 2), test.Features);
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Onnx_Runtime_and_the_checker_accept_the_model_and_agree_with_CSharp(string name)
    {
        var (model, path, x) = fixture.Models[name];
        Assert.True(fixture.Checker[path] == "OK", $"onnx.checker rejected {name}: {fixture.Checker[path]}");
        var expected = model.PredictProbabilities(x);
        var actual = OnnxTools.Floats(fixture.Outputs[name]["probabilities"]);
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        output.WriteLine($"{name}: max |Δ probability| = {worst:E2}, file {new FileInfo(path).Length:N0} bytes");
        Assert.True(worst <= 1e-5, $"{name}: max |Δ probability| = {worst:E2}");
        Assert.Equal(model.PredictLabels(x).Select(l => (long)l), OnnxTools.Int64s(fixture.Outputs[name]["predicted_label"]));

        // Re-imported: the same predictions, bit for bit, and the same masks.
        var imported = OnnxImporter.Load(path);
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), imported.PredictProbabilities(x).Select(BitConverter.SingleToInt32Bits));
        var masks = NetworkSparsity.GetMasks(model.Network);
        var back = NetworkSparsity.GetMasks(imported.Network);
        Assert.Equal(masks.Select(m => m?.ToBits()), back.Select(m => m?.ToBits()));
    }

    [Theory]
    [InlineData("ticket_mlp")]
    [InlineData("ticket_conv")]
    public void A_ticket_exports_exact_zeros_and_its_sparsity_per_layer(string name)
    {
        var (model, path, _) = fixture.Models[name];
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var metadata = proto.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        using var sparsity = JsonDocument.Parse(metadata["sparsity"]);
        var layers = sparsity.RootElement.GetProperty("layers").EnumerateArray().ToList();
        var expected = NetworkSparsity.PerLayer(model.InferenceNetwork);
        Assert.Equal(expected.Count, layers.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal($"l{expected[i].LayerIndex}_{expected[i].Layer.ToLowerInvariant()}", layers[i].GetProperty("layer").GetString());
            Assert.Equal(expected[i].Remaining, layers[i].GetProperty("remaining").GetInt64());
            Assert.Equal(expected[i].Sparsity, layers[i].GetProperty("sparsity").GetDouble(), 5);

            // The initializer of that layer's weight holds exactly as many non-zeros as the mask keeps (no survivor is
            // exactly 0 after training), and a zero wherever the mask prunes.
            var weight = proto.Graph.Initializer.Single(t => t.Name.StartsWith(layers[i].GetProperty("layer").GetString()!, StringComparison.Ordinal) && t.Dims.Count >= 2);
            var values = OnnxTools.Floats(weight.RawData.ToByteArray());
            var mask = NetworkSparsity.PrunableWeights(model.InferenceNetwork)[i].Weight.Mask!;
            Assert.All(Enumerable.Range(0, values.Length), j => Assert.True(mask.IsKept(j) || values[j] == 0f));
            Assert.Equal(mask.KeptCount, values.Count(v => v != 0f));
        }

        Assert.InRange(sparsity.RootElement.GetProperty("fraction_remaining").GetDouble(), 0.15, 0.25);
        Assert.True(metadata.ContainsKey("pruning_masks"));
    }

    [Fact]
    public void Sparse_weights_hold_only_the_survivors_and_shrink_the_file()
    {
        foreach (string name in new[] { "ticket_mlp", "ticket_conv" })
        {
            var dense = ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.Models[name].Path));
            var sparse = ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.Models[name + "_sparse"].Path));
            var constants = sparse.Graph.Node.Where(n => n.OpType == "Constant").ToList();
            // The hidden layers (80% pruned) move; the output layer (pruned at half the rate, 40%) would grow as COO.
            var weights = NetworkSparsity.PrunableWeights(fixture.Models[name].Model.InferenceNetwork);
            Assert.Equal(weights.Count - 1, constants.Count);
            Assert.Equal(weights.Count(w => w.Weight.Mask!.KeptCount * 3L < w.Weight.Value.Length), constants.Count);
            foreach (var constant in constants)
            {
                var s = constant.Attribute.Single(a => a.Name == "sparse_value").SparseTensor;
                var original = dense.Graph.Initializer.Single(t => t.Name == constant.Output[0]);
                Assert.Equal(original.Dims, s.Dims);
                Assert.Equal(OnnxTools.Floats(original.RawData.ToByteArray()).Count(v => v != 0f), (int)s.Values.Dims[0]);
                Assert.DoesNotContain(sparse.Graph.Initializer, t => t.Name == constant.Output[0]);
            }

            long denseBytes = new FileInfo(fixture.Models[name].Path).Length, sparseBytes = new FileInfo(fixture.Models[name + "_sparse"].Path).Length;
            output.WriteLine($"{name}: {denseBytes:N0} bytes dense, {sparseBytes:N0} bytes with sparse weights");
            Assert.True(sparseBytes < denseBytes * 0.9, $"{name}: {sparseBytes} bytes sparse vs {denseBytes} dense");
        }

        // Unpruned weights stay dense: their COO form would be larger.
        var shrunk = ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.Models["shrunk_mlp_sparse"].Path));
        Assert.DoesNotContain(shrunk.Graph.Node, n => n.OpType == "Constant");
    }

    [Fact]
    public void Graph_sparse_initializers_run_in_Onnx_Runtime_and_import()
    {
        // The other sparse form ONNX offers: graph.sparse_initializer. ONNX types it sparse_tensor(float), which Gemm
        // does not take, so the checker's strict inference refuses it; ONNX Runtime densifies it at load and runs it.
        var (model, path, x) = fixture.Models["ticket_mlp"];
        var proto = OnnxExporter.BuildModel(model, new OnnxExportOptions());
        OnnxPruning.SparsifyWeights(proto.Graph, asSparseInitializers: true);
        Assert.Equal(3, proto.Graph.SparseInitializer.Count);
        using var folder = new Data.TempFolder();
        string file = folder.WriteBytes("sparse_initializers.onnx", proto.ToByteArray());
        output.WriteLine($"checker on graph.sparse_initializer: {OnnxTools.CheckModels([file])[file]}");
        var ort = OnnxTools.RunOnnxRuntime([new OrtJob(file, x.Data, x.Shape.ToArray(), "features", ["probabilities"])], folder.Path)[0];
        var expected = model.PredictProbabilities(x);
        Assert.True(expected.Zip(OnnxTools.Floats(ort["probabilities"]), (e, a) => Math.Abs(e - a)).Max() <= 1e-5);
        Assert.Equal(expected, OnnxImporter.Load(file).PredictProbabilities(x));
    }

    [Fact]
    public void A_shrunk_network_exports_smaller_gemms()
    {
        Assert.Equal([16, 12], GemmShape("shrunk_mlp", 0));
        Assert.Equal([12, 16], GemmShape("shrunk_mlp", 1));
        Assert.Equal([8, 12], GemmShape("shrunk_mlp", 2));
        Assert.Equal([3, 8], GemmShape("shrunk_mlp", 3));
        Assert.Equal([32, 12], GemmShape("ticket_mlp", 0));

        long[] GemmShape(string name, int index)
        {
            var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.Models[name].Path)).Graph;
            var gemm = graph.Node.Where(n => n.OpType == "Gemm").ElementAt(index);
            return graph.Initializer.Single(t => t.Name == gemm.Input[1]).Dims.ToArray();
        }
    }

    [Fact]
    public void A_mask_that_is_not_the_non_zero_pattern_is_stored_bit_by_bit()
    {
        // A survivor that is exactly 0 (possible, if unlikely, after training): the mask is no longer the graph's
        // non-zero pattern, so its bits are written, and it comes back exactly.
        var (model, _, x) = fixture.Models["ticket_mlp"];
        var network = model.Network.Clone();
        var weight = NetworkSparsity.PrunableWeights(network)[1].Weight;
        int survivor = Array.FindIndex(weight.Mask!.ToFlags(), f => f);
        weight.Value.Data[survivor] = 0f;
        var edited = StructuredPruningTests.Model(network, model);
        var proto = OnnxExporter.BuildModel(edited, new OnnxExportOptions());
        using var masks = JsonDocument.Parse(proto.MetadataProps.Single(p => p.Key == "pruning_masks").Value);
        var entries = masks.RootElement.GetProperty("masks").EnumerateArray().ToList();
        Assert.True(entries[0].GetProperty("nonzero").GetBoolean());
        Assert.False(entries[1].TryGetProperty("nonzero", out _));
        Assert.Equal(Convert.ToBase64String(weight.Mask.ToBits()), entries[1].GetProperty("bits").GetString());
        var imported = OnnxImporter.Load(proto.ToByteArray());
        Assert.Equal(weight.Mask.ToBits(), NetworkSparsity.PrunableWeights(imported.Network)[1].Weight.Mask!.ToBits());
        Assert.Equal(edited.PredictProbabilities(x), imported.PredictProbabilities(x));
    }

    [Fact]
    public void Masks_that_do_not_fit_the_graph_are_refused()
    {
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.Models["ticket_mlp"].Path));
        var entry = proto.MetadataProps.Single(p => p.Key == "pruning_masks");
        var original = JsonNode.Parse(entry.Value)!;

        // Bits that prune a weight the graph holds as non-zero.
        var mask = NetworkSparsity.PrunableWeights(fixture.Models["ticket_mlp"].Model.InferenceNetwork)[0].Weight.Mask!;
        var flags = mask.ToFlags();
        int survivor = Array.IndexOf(flags, true);
        flags[survivor] = false;
        entry.Value = Edit(first =>
        {
            first["bits"] = Convert.ToBase64String(WeightMask.FromFlags(flags).ToBits());
            first["kept"] = mask.KeptCount - 1;
        });
        Assert.Contains($"prunes weight {survivor} of layer 0 (Dense)", Error(proto), StringComparison.Ordinal);

        entry.Value = Edit(first => first["kept"] = mask.KeptCount + 1);
        Assert.Contains($"keeps {mask.KeptCount} weights of layer 0 (Dense) but says it keeps {mask.KeptCount + 1}", Error(proto), StringComparison.Ordinal);
        entry.Value = Edit(first => first.Remove("nonzero"));
        Assert.Contains("has neither bits nor", Error(proto), StringComparison.Ordinal);
        entry.Value = Edit(first => first["length"] = 5);
        Assert.Contains("covers 5 weights but layer 0 (Dense) has 384", Error(proto), StringComparison.Ordinal);
        entry.Value = Edit(first => first["bits"] = "not base64!");
        Assert.Contains("'pruning_masks' is not in the expected form", Error(proto), StringComparison.Ordinal);
        entry.Value = """{"masks":[null]}""";
        Assert.Contains("has 1 masks but the graph has 4 prunable weights", Error(proto), StringComparison.Ordinal);
        entry.Value = "[";
        Assert.Contains("'pruning_masks' is not in the expected form", Error(proto), StringComparison.Ordinal);

        string Edit(Action<JsonObject> change)
        {
            var copy = original.DeepClone();
            change(copy["masks"]![0]!.AsObject());
            return copy.ToJsonString();
        }

        static string Error(ModelProto model) => Assert.Throws<InvalidDataException>(() => OnnxImporter.Load(model.ToByteArray())).Message;
    }

    [Fact]
    public void A_malformed_sparse_weight_is_refused()
    {
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.Models["ticket_mlp_sparse"].Path));
        var indices = proto.Graph.Node[0].Attribute[0].SparseTensor.Indices;
        var raw = indices.RawData.ToByteArray();
        BitConverter.GetBytes(long.MaxValue).CopyTo(raw, 8);
        indices.RawData = ByteString.CopyFrom(raw);
        var message = Assert.Throws<InvalidDataException>(() => OnnxImporter.Load(proto.ToByteArray())).Message;
        Assert.Contains($"has index {long.MaxValue} at position 1", message, StringComparison.Ordinal);

        proto.Graph.Node[0].Attribute[0].Name = "value";
        message = Assert.Throws<InvalidDataException>(() => OnnxImporter.Load(proto.ToByteArray())).Message;
        Assert.Contains("is not a sparse weight", message, StringComparison.Ordinal);
    }
}
