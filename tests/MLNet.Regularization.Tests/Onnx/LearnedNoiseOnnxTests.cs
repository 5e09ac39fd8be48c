using System.Runtime.InteropServices;
using System.Text.Json;
using Google.Protobuf;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.Tests.Onnx;

/// <summary>Every learned-noise method's inference export (and the sparse and shrunk models), run once through the ONNX
/// checker and ONNX Runtime; plus the Gaussian DropConnect model with its RandomNormalLike replaced by the very noise
/// C# used, which isolates the arithmetic from the sampling.</summary>
public sealed class LearnedNoiseOnnxFixture : ExportedModelsFixture, IDisposable
{
    private readonly TempFolder _folder = new();

    public LearnedNoiseOnnxFixture()
    {
        var x = OnnxTestModels.Inputs(TaskKind.Multiclass, Rows);
        var cases = LearnedNoiseOnnxTests.Models().Select(m => (m.Name, m.Model, m.Options, x, new[] { "probabilities", "predicted_label" })).ToList();
        ExportAndRun(cases);

        var (model, path, _) = Models["dropconnect_gaussian"];
        SubstitutedPath = _folder.File("dropconnect_gaussian_noise.onnx");
        File.WriteAllBytes(SubstitutedPath, WithCSharpNoise(File.ReadAllBytes(path), model, Rows).ToByteArray());
        SubstitutedChecker = OnnxTools.CheckModels([SubstitutedPath])[SubstitutedPath];
        Substituted = OnnxTools.Floats(OnnxTools.RunOnnxRuntime([new OrtJob(SubstitutedPath, x.Data, x.Shape.ToArray(), "features", ["probabilities"])], _folder.Path)[0]["probabilities"]);
    }

    public string SubstitutedPath { get; }

    public string SubstitutedChecker { get; }

    /// <summary>ONNX Runtime's probabilities from the model whose noise is C#'s.</summary>
    public float[] Substituted { get; }

    public new void Dispose()
    {
        _folder.Dispose();
        base.Dispose();
    }

    /// <summary>The model with each RandomNormalLike node replaced by a constant: the C# layer's noise table ε[z, unit]
    /// repeated for every one of <paramref name="rows"/> examples, as [Z, rows, units].</summary>
    private static ModelProto WithCSharpNoise(byte[] bytes, TrainedModel model, int rows)
    {
        var proto = ModelProto.Parser.ParseFrom(bytes);
        var layers = model.InferenceNetwork.Layers.OfType<DropConnectGaussianInference>().ToList();
        var nodes = proto.Graph.Node.Where(n => n.OpType == "RandomNormalLike").ToList();
        Assert.Equal(layers.Count, nodes.Count);
        for (int k = 0; k < nodes.Count; k++)
        {
            var layer = layers[k];
            var values = new float[layer.Samples * rows * layer.Units];
            for (int z = 0; z < layer.Samples; z++)
            {
                for (int r = 0; r < rows; r++)
                {
                    layer.Noise.AsSpan(z * layer.Units, layer.Units).CopyTo(values.AsSpan((z * rows + r) * layer.Units, layer.Units));
                }
            }

            var tensor = new TensorProto { Name = nodes[k].Output[0], DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
            tensor.Dims.AddRange([layer.Samples, rows, layer.Units]);
            proto.Graph.Initializer.Add(tensor);
            proto.Graph.Node.Remove(nodes[k]);
        }

        return proto;
    }
}

public class LearnedNoiseOnnxTests(LearnedNoiseOnnxFixture fixture, ITestOutputHelper output) : IClassFixture<LearnedNoiseOnnxFixture>
{
    private const int K = OnnxTestModels.Classes;

    public static TheoryData<string> Names => new(Models().Select(m => m.Name));

    /// <summary>A trained model per method, some with their learned noise pushed so that pruning has something to do.</summary>
    internal static IEnumerable<(string Name, TrainedModel Model, OnnxExportOptions Options)> Models()
    {
        static TrainedModel Train(string name, Func<Network> network) =>
            OnnxTestModels.Train(new ExportCase(name, TaskKind.Multiclass, network, NormalizationKind.Standard, new()));

        yield return ("fast_dropout_relu", Train("fast_dropout_relu", () => Network.Sequential(new FastDropoutDense(16, 0.3f), new FastDropoutDense(K, 0.3f, FastDropoutActivation.Linear))), new());
        yield return ("fast_dropout_sigmoid", Train("fast_dropout_sigmoid", () => Network.Sequential(new FastDropoutDense(16, 0.2f, FastDropoutActivation.Sigmoid), new Dense(K))), new());
        yield return ("variational_dropout", Train("variational_dropout", () => Network.Sequential(new VariationalDense(16), new ReLU(), new VariationalDense(K, VariationalDropoutGranularity.PerLayer))), new());
        var sparse = SparseModel();
        yield return ("sparse_variational_dropout", sparse, new());
        yield return ("sparse_variational_dropout_sparse_weights", sparse, new() { SparseWeights = true });
        yield return ("concrete_dropout", Train("concrete_dropout", () => Network.Sequential(new ConcreteDropout(), new Dense(16), new ReLU(), new ConcreteDropout(0.3f), new Dense(K))), new());
        yield return ("standout", Train("standout", () => Network.Sequential(new StandoutDense(16), new StandoutDense(12, new Tanh()), new StandoutDense(8, new GELU()), new Dense(K))), new());
        var (sbp, shrunk) = StructuredModels();
        yield return ("structured_bayesian_pruning", sbp, new());
        yield return ("structured_bayesian_pruning_shrunk", shrunk, new());
        yield return ("dropconnect_gaussian", Train("dropconnect_gaussian", () => Network.Sequential(
            new DropConnectDense(16, 0.4f, inference: DropConnectInference.GaussianMomentMatching, inferenceSamples: 200), new ReLU(),
            new DropConnectDense(12, 0.3f, inference: DropConnectInference.GaussianMomentMatching, inferenceSamples: 150), new BatchNorm(), new Tanh(),
            new Dense(K))), new() { FoldBatchNorm = true });
    }

    /// <summary>The model around another network (same normalizer, history and metadata).</summary>
    internal static TrainedModel WithNetwork(TrainedModel m, Network network) =>
        new(network, m.Normalizer, m.History, m.Task, m.ClassCount, m.TargetSize, m.ClassNames, m.Seed, m.TrainingSettings);

    /// <summary>Sparse variational dropout with seven weights in eight pushed to log α = 5 (over the threshold).</summary>
    private static TrainedModel SparseModel()
    {
        var trained = OnnxTestModels.Train(new ExportCase("sparse", TaskKind.Multiclass,
            () => Network.Sequential(new SparseVariationalDense(64), new ReLU(), new SparseVariationalDense(K)), NormalizationKind.Standard, new()));
        var network = trained.Network.Clone();
        foreach (var layer in network.Layers.OfType<SparseVariationalDense>())
        {
            var theta = layer.Weight.Value.Data;
            for (int k = 0; k < theta.Length; k++)
            {
                if (k % 8 != 0)
                {
                    layer.LogSigma2.Value.Data[k] = MathF.Log(theta[k] * theta[k] + 1e-8f) + 5f;
                }
            }
        }

        return WithNetwork(trained, network);
    }

    /// <summary>Structured Bayesian pruning on the inputs and two hidden layers, with a third of each layer's units made
    /// noisy (SNR &lt; 1), and the smaller network built from it.</summary>
    private static (TrainedModel Full, TrainedModel Shrunk) StructuredModels()
    {
        var trained = OnnxTestModels.Train(new ExportCase("sbp", TaskKind.Multiclass, () => Network.Sequential(
            new StructuredBayesianPruning(), new Dense(16), new ReLU(), new StructuredBayesianPruning(), new Dense(12), new BatchNorm(), new ReLU(),
            new StructuredBayesianPruning(), new Dense(K)), NormalizationKind.Standard, new()));
        var network = trained.Network.Clone();
        foreach (var layer in network.Layers.OfType<StructuredBayesianPruning>())
        {
            for (int u = 0; u < layer.Units; u += 3)
            {
                layer.LogSigma.Value.Data[u] = 1.5f;
            }
        }

        return (WithNetwork(trained, network), WithNetwork(trained, BayesianPruning.Shrink(network).Network));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Onnx_checker_accepts_the_export(string name)
    {
        string path = fixture.Models[name].Path;
        Assert.True(fixture.Checker[path] == "OK", $"onnx.checker.check_model(full_check=True) rejected {name}: {fixture.Checker[path]}");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Onnx_Runtime_reproduces_the_CSharp_predictions(string name)
    {
        var (model, _, x) = fixture.Models[name];
        var expected = model.PredictProbabilities(x);
        var actual = OnnxTools.Floats(fixture.Outputs[name]["probabilities"]);
        Assert.Equal(expected.Length, actual.Length);
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        double mean = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Average();
        output.WriteLine($"{name}: max |Δ probability| = {worst:E2}, mean {mean:E2}");
        if (name == "dropconnect_gaussian")
        {
            // ONNX Runtime draws its own normals: both are Monte Carlo estimates of one expectation (150 and 200 samples
            // per unit), which agree to their sampling error and on nearly every label.
            Assert.InRange(mean, 0, 0.02);
            double labels = model.PredictLabels(x).Zip(OnnxTools.Int64s(fixture.Outputs[name]["predicted_label"]), (a, b) => a == b ? 1.0 : 0.0).Average();
            Assert.InRange(labels, 0.9, 1.0);
            return;
        }

        Assert.True(worst <= 1e-5, $"{name}: max |Δ probability| = {worst:E2}");
        Assert.Equal(model.PredictLabels(x).Select(l => (long)l), OnnxTools.Int64s(fixture.Outputs[name]["predicted_label"]));
    }

    [Fact]
    public void Gaussian_DropConnect_export_given_the_CSharp_noise_agrees_to_float_rounding()
    {
        Assert.True(fixture.SubstitutedChecker == "OK", fixture.SubstitutedChecker);
        var (model, path, x) = fixture.Models["dropconnect_gaussian"];
        var expected = model.PredictProbabilities(x);
        double worst = expected.Zip(fixture.Substituted, (e, a) => Math.Abs(e - a)).Max();
        output.WriteLine($"dropconnect_gaussian with C#'s noise: max |Δ probability| = {worst:E2}");
        Assert.True(worst <= 1e-5, $"max |Δ probability| = {worst:E2}");

        // The inference network pairs each Gaussian DropConnect layer with its activation (the batch norm folded in).
        Assert.Equal(["DropConnectGaussianInference", "DropConnectGaussianInference", "Dense"], model.InferenceNetwork.Layers.Select(l => l.Name));
        string[] ops = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph.Node.Select(n => n.OpType).ToArray();
        Assert.Equal(2, ops.Count(o => o == "RandomNormalLike"));
        Assert.Equal(2, ops.Count(o => o == "ReduceMean"));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Export_then_import_predicts_bit_for_bit_the_same(string name)
    {
        var (model, path, x) = fixture.Models[name];
        var imported = OnnxImporter.Load(path);
        Assert.Equal(model.PredictProbabilities(x).Select(BitConverter.SingleToInt32Bits), imported.PredictProbabilities(x).Select(BitConverter.SingleToInt32Bits));
        // The inference network's layers come back, but for those that export as nothing (concrete dropout is the identity
        // at inference) and a linear fast dropout output layer, whose inference form is a plain Gemm.
        var expectedLayers = model.InferenceNetwork.Layers.Where(l => l is not (ConcreteDropout or Dropout or GaussianDropout))
            .Select(l => l is FastDropoutDense { Activation: FastDropoutActivation.Linear } ? "Dense" : l.Name);
        Assert.Equal(expectedLayers, imported.Network.Layers.Select(l => l.Name));
        var again = OnnxImporter.Load(OnnxExporter.ExportToBytes(imported));
        Assert.Equal(imported.Network.Describe(), again.Network.Describe());
    }

    [Fact]
    public void Sparse_variational_export_is_the_masked_sparse_network_and_records_its_masks()
    {
        var (model, path, _) = fixture.Models["sparse_variational_dropout"];
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var layers = model.Network.Layers.OfType<SparseVariationalDense>().ToList();
        var gemms = proto.Graph.Node.Where(n => n.OpType == "Gemm").ToList();
        Assert.Equal(2, gemms.Count);
        for (int i = 0; i < layers.Count; i++)
        {
            var weight = proto.Graph.Initializer.Single(t => t.Name == gemms[i].Input[1]);
            var values = MemoryMarshal.Cast<byte, float>(weight.RawData.Span).ToArray();
            var keep = layers[i].KeepMask();
            Assert.True(keep.PrunedCount >= values.Length * 7 / 8);
            for (int k = 0; k < values.Length; k++)
            {
                Assert.Equal(keep.IsKept(k) ? layers[i].Weight.Value.Data[k] : 0f, values[k]);
            }
        }

        var metadata = proto.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Contains(OnnxFormat.Keys.PruningMasks, metadata.Keys);
        var learned = JsonDocument.Parse(metadata[OnnxFormat.Keys.LearnedNoise]).RootElement;
        Assert.Equal(layers[0].KeepMask().KeptCount, learned[0].GetProperty("weightsKept").GetInt64());

        // The imported model carries the masks; the sparse-initializer file is smaller.
        var imported = OnnxImporter.Load(path);
        Assert.Equal(layers.Select(l => l.KeepMask().KeptCount), NetworkSparsity.GetMasks(imported.Network).Select(m => m!.KeptCount));
        long dense = new FileInfo(path).Length, sparse = new FileInfo(fixture.Models["sparse_variational_dropout_sparse_weights"].Path).Length;
        output.WriteLine($"dense initializers {dense:N0} bytes, sparse {sparse:N0} bytes");
        Assert.True(sparse < dense);
    }

    [Fact]
    public void Structured_Bayesian_pruning_exports_a_smaller_dense_network()
    {
        var (full, fullPath, _) = fixture.Models["structured_bayesian_pruning"];
        var (shrunk, shrunkPath, _) = fixture.Models["structured_bayesian_pruning_shrunk"];
        static int[] Units(string path)
        {
            var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph;
            return graph.Node.Where(n => n.OpType == "Gemm").Select(n => (int)graph.Initializer.Single(t => t.Name == n.Input[1]).Dims[0]).ToArray();
        }

        // 16 and 12 hidden units, every third made noisy: 16 − 6 and 12 − 4 remain; the noise layers fold away.
        Assert.Equal([16, 12, K], Units(fullPath));
        Assert.Equal([10, 8, K], Units(shrunkPath));
        Assert.DoesNotContain(ModelProto.Parser.ParseFrom(File.ReadAllBytes(shrunkPath)).Graph.Node, n => n.OpType == "Mul" && n.Input.Any(i => i.Contains("noise", StringComparison.Ordinal)));
        Assert.True(new FileInfo(shrunkPath).Length < new FileInfo(fullPath).Length);

        // The input-feature pruning layer masks the first layer's columns of the pruned features (8 features, 3 pruned).
        var first = NetworkSparsity.GetMasks(shrunk.Network)[0]!;
        Assert.Equal(3 * 10, first.PrunedCount);

        // The smaller model predicts nearly what the full one does (the removed units were noise).
        var x = OnnxTestModels.Inputs(TaskKind.Multiclass, 64);
        double agreement = full.PredictLabels(x).Zip(shrunk.PredictLabels(x), (a, b) => a == b ? 1.0 : 0.0).Average();
        output.WriteLine($"full and shrunk models agree on {agreement:P0} of 64 examples");
        Assert.True(agreement > 0.5);
    }

    [Fact]
    public void Learned_rates_are_in_the_summary_and_the_metadata()
    {
        var (model, path, _) = fixture.Models["concrete_dropout"];
        var rates = model.Network.Layers.OfType<ConcreteDropout>().Select(c => c.Rate).ToArray();
        Assert.All(rates, r => Assert.NotEqual(0.1f, r)); // learned, moved from where they started
        var metadata = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        string summary = model.Network.Summary();
        output.WriteLine(summary);
        foreach (float r in rates)
        {
            Assert.Contains($"learned: drop rate {r.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)}", summary);
        }

        // The settings (what the checkpoint and the "layers" entry identify a network by) do not change with training.
        Assert.Contains("ConcreteDropout(initial rate=0.1, temperature=0.1", metadata[OnnxFormat.Keys.Layers]);
        var learned = JsonDocument.Parse(metadata[OnnxFormat.Keys.LearnedNoise]).RootElement;
        Assert.Equal(rates.Length, learned.GetArrayLength());
        for (int i = 0; i < rates.Length; i++)
        {
            Assert.Equal("concrete dropout", learned[i].GetProperty("method").GetString());
            Assert.Equal(rates[i], learned[i].GetProperty("mean").GetDouble(), 6);
        }
    }
}
