using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Onnx;

public class OnnxRoundTripTests
{
    private static int[] Bits(float[] v) => v.Select(BitConverter.SingleToInt32Bits).ToArray();

    public static TheoryData<string, bool, bool> Variants()
    {
        var data = new TheoryData<string, bool, bool>();
        foreach (string name in new[] { "everything", "batch_norm_folded", "dropconnect_batch_norm_unfolded", "normalization_minmax", "normalization_none", "binary", "binary_gelu_minmax_unfolded", "regression", "regression_batch_norm_unfolded_none" })
        {
            data.Add(name, true, false);
            data.Add(name, false, false);
        }

        data.Add("everything", true, true);
        data.Add("everything", false, true);
        data.Add("binary", true, true);
        return data;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Export_then_import_predicts_bit_for_bit_the_same(string name, bool foldBatchNorm, bool monteCarlo)
    {
        var c = OnnxTestModels.Cases.Single(k => k.Name == name);
        var model = OnnxTestModels.Train(c);
        var options = new OnnxExportOptions { FoldBatchNorm = foldBatchNorm, MonteCarlo = monteCarlo };
        var imported = OnnxImporter.Load(OnnxExporter.ExportToBytes(model, options));
        var x = OnnxTestModels.Inputs(c.Task, 64);
        if (c.Task == TaskKind.Regression)
        {
            Assert.Equal(Bits(model.PredictValues(x)), Bits(imported.PredictValues(x)));
        }
        else
        {
            Assert.Equal(Bits(model.PredictProbabilities(x)), Bits(imported.PredictProbabilities(x)));
            Assert.Equal(model.PredictLabels(x), imported.PredictLabels(x));
        }

        // Everything the model carries besides the network comes back from the graph and its metadata.
        Assert.Equal(model.Task, imported.Task);
        Assert.Equal(model.ClassCount, imported.ClassCount);
        Assert.Equal(model.TargetSize, imported.TargetSize);
        Assert.Equal(model.ClassNames, imported.ClassNames);
        Assert.Equal(model.Seed, imported.Seed);
        Assert.Equal(model.TrainingSettings, imported.TrainingSettings);
        Assert.Equal(model.InputShape, imported.InputShape);
        Assert.Equal(model.History.Epochs, imported.History.Epochs);
        Assert.Equal(model.History.ModelEpoch, imported.History.ModelEpoch);
        Assert.Equal(model.Normalizer?.Kind, imported.Normalizer?.Kind);
        Assert.Equal(Bits(model.Normalizer?.Offset.ToArray() ?? []), Bits(imported.Normalizer?.Offset.ToArray() ?? []));
        Assert.Equal(Bits(model.Normalizer?.Scale.ToArray() ?? []), Bits(imported.Normalizer?.Scale.ToArray() ?? []));

        // The imported network is the exported one: batch norm folded or not; outside Monte Carlo, inverted and
        // Gaussian dropout are gone (classic dropout comes back from its inference scaling).
        var exported = monteCarlo ? InferenceFolding.ForMonteCarlo(model.Network, foldBatchNorm) : InferenceFolding.ForInference(model.Network, foldBatchNorm);
        var expectedLayers = exported.Layers
            .Where(l => monteCarlo ? l is not Dropout { Rate: 0f } : l is not (GaussianDropout or Dropout { Variant: DropoutVariant.Inverted }))
            .Select(l => l.Name);
        Assert.Equal(expectedLayers, imported.Network.Layers.Select(l => l.Name));
        Assert.Equal(monteCarlo || expectedLayers.Contains("Dropout"), imported.Network.Layers.Any(l => l.IsStochastic));

        // Exporting the imported model again gives the same graph.
        var again = OnnxImporter.Load(OnnxExporter.ExportToBytes(imported, options));
        Assert.Equal(imported.Network.Describe(), again.Network.Describe());
    }

    [Fact]
    public void Monte_Carlo_round_trip_keeps_every_stochastic_layer_with_its_settings()
    {
        var model = new Trainer(new TrainerOptions { Epochs = 1, Seed = 2 }).Fit(
            Network.Sequential(new Dense(16), new BatchNorm(momentum: 0.2f, epsilon: 1e-3f), new ReLU(), new Dropout(0.3f), new DropConnectDense(8, 0.25f),
                new GaussianDropout(0.2f), new BatchNorm(), new Tanh(), new Dropout(0.1f, DropoutVariant.Classic), new Dense(3)),
            TestData.Blobs(120, 6, 3, 1));
        var imported = OnnxImporter.Load(OnnxExporter.ExportToBytes(model, new OnnxExportOptions { MonteCarlo = true, FoldBatchNorm = false }));
        Assert.Equal(
            "Dense(units=16, init=HeUniform) -> BatchNorm(momentum=0.2, eps=0.001) -> ReLU -> Dropout(rate=0.3, inverted) -> "
            + "DropConnectDense(units=8, rate=0.25, mask=PerMiniBatch, init=HeUniform) -> GaussianDropout(rate=0.2, std=0.5) -> "
            + "BatchNorm(momentum=0.1, eps=1E-05) -> Tanh -> Dropout(rate=0.1, classic) -> Dense(units=3, init=HeUniform)",
            imported.Network.Describe());

        // Same layers, same weights, same random stream: Monte Carlo predictions agree too.
        var x = TestData.Blobs(10, 6, 3, 3).Features;
        Assert.Equal(Bits(model.PredictWithUncertainty(x, 20, 4).MeanProbabilities), Bits(imported.PredictWithUncertainty(x, 20, 4).MeanProbabilities));
    }

    [Fact]
    public void Classic_dropout_at_inference_comes_back_with_exactly_its_scaling()
    {
        foreach (float rate in new[] { 0.1f, 0.3f, 0.5f, 0.7f, 0.123456f, 0.9f })
        {
            var model = new Trainer(new TrainerOptions { Epochs = 1 }).Fit(
                Network.Sequential(new Dense(8), new Dropout(rate, DropoutVariant.Classic), new Dense(3)), TestData.Blobs(60, 4, 3, 1));
            var imported = OnnxImporter.Load(OnnxExporter.ExportToBytes(model));
            var dropout = Assert.IsType<Dropout>(imported.Network.Layers[1]);
            Assert.Equal(((Dropout)model.Network.Layers[1]).InferenceScale, dropout.InferenceScale);
        }
    }

    [Fact]
    public void Save_and_load_through_a_file_and_a_stream()
    {
        var model = OnnxTestModels.Train(OnnxTestModels.Cases.Single(c => c.Name == "everything"));
        using var folder = new TempFolder();
        string path = folder.File("model.onnx");
        OnnxExporter.Export(model, path);
        Assert.Equal(OnnxExporter.ExportToBytes(model), File.ReadAllBytes(path));
        var x = OnnxTestModels.Inputs(TaskKind.Multiclass, 16);
        Assert.Equal(Bits(model.PredictProbabilities(x)), Bits(OnnxImporter.Load(path).PredictProbabilities(x)));
        using var stream = File.OpenRead(path);
        Assert.Equal(Bits(model.PredictProbabilities(x)), Bits(OnnxImporter.Load(stream).PredictProbabilities(x)));
    }

    [Fact]
    public void Metadata_records_version_layers_labels_seed_and_normalization()
    {
        var model = OnnxTestModels.Train(OnnxTestModels.Cases.Single(c => c.Name == "everything"));
        var proto = MLNet.Regularization.Onnx.Protobuf.ModelProto.Parser.ParseFrom(OnnxExporter.ExportToBytes(model));
        var metadata = proto.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.StartsWith("0.1.0", metadata["library_version"]);
        Assert.Equal(model.Network.Describe(), metadata["layers"]);
        Assert.Contains("DropConnectDense(units=16, rate=0.3", metadata["layers"]);
        Assert.Equal("""["ankle boot","bag","coat","dress"]""", metadata["class_labels"]);
        Assert.Equal("11", metadata["seed"]);
        Assert.Equal("Multiclass", metadata["task"]);
        Assert.Equal("Standard", metadata["normalization"]);
        Assert.Equal(model.TrainingSettings, metadata["training_settings"]);
        Assert.Equal("MLNet.Regularization", proto.ProducerName);
        Assert.Equal(8, proto.IrVersion);
        Assert.Equal(17, Assert.Single(proto.OpsetImport).Version);

        // The batch dimension is symbolic: any number of rows goes in.
        var input = Assert.Single(proto.Graph.Input);
        Assert.Equal("features", input.Name);
        Assert.Equal("batch", input.Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal(OnnxTestModels.Features, input.Type.TensorType.Shape.Dim[1].DimValue);

        // Exports are deterministic.
        Assert.Equal(OnnxExporter.ExportToBytes(model), OnnxExporter.ExportToBytes(model));
    }
}
