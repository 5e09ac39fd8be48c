using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Recurrent;

/// <summary>Recurrent architectures as a spec's layer list (what the CLI's --spec and the ML.NET adapter take): a flat
/// feature vector reshaped to [T, D], every recurrent regularizer by name, clear errors.</summary>
public class RecurrentSpecTests
{
    private const string Stack = """
        { "layers": [
            { "type": "reshape", "shape": [6, 8] },
            { "type": "lstm", "units": 12, "returnSequences": true, "inputDropout": 0.1, "weightDrop": 0.3, "candidateDropout": 0.2, "candidateSampling": "per_sequence" },
            { "type": "lstm", "units": 10, "returnSequences": true, "rnnDrop": 0.2 },
            { "type": "gru", "units": 8, "returnSequences": true, "zoneoutHidden": 0.1, "bidirectional": true },
            { "type": "lstm", "units": 8, "variationalInput": 0.2, "variationalRecurrent": 0.2, "variationalOutput": 0.1, "zoneoutCell": 0.3 },
            { "type": "dropout", "rate": 0.2 }
          ],
          "training": { "epochs": 2, "batchSize": 32, "normalization": "standard", "seed": 3 } }
        """;

    [Fact]
    public void A_recurrent_layer_list_builds_each_regularizer_and_trains_on_flat_features()
    {
        var spec = ModelSpec.FromJson(Stack);
        var network = spec.CreateNetwork(3);
        Assert.Equal([typeof(Reshape), typeof(LSTM), typeof(LSTM), typeof(Bidirectional), typeof(LSTM), typeof(Dropout), typeof(Dense)], network.Layers.Select(l => l.GetType()));
        var first = (LSTM)network.Layers[1];
        Assert.True(first.ReturnSequences);
        Assert.Equal(["NonRecurrentDropout(input=0.1, output=0)", "RecurrentDropout(rate=0.2, PerSequence)", "WeightDrop(rate=0.3)"], first.Regularizers.Select(r => r.Summary).Order());
        Assert.IsType<RnnDrop>(((LSTM)network.Layers[2]).Regularizers.Single());
        var both = (Bidirectional)network.Layers[3];
        Assert.IsType<GRU>(both.ForwardLayer);
        Assert.Equal(0.1f, Assert.IsType<Zoneout>(both.BackwardLayer.Regularizers.Single()).HiddenRate);
        Assert.Equal(["VariationalRecurrentDropout(input=0.2, recurrent=0.2, output=0.1)", "Zoneout(cell=0.3, hidden=0)"], ((LSTM)network.Layers[4]).Regularizers.Select(r => r.Summary));

        var data = TestData.Blobs(96, 48, 3, 1);
        var model = new Trainer(spec.Training.ToTrainerOptions()).Fit(network, data);
        Assert.Equal([48], model.InputShape);
        Assert.Equal(2, model.History.Epochs.Count);
        Assert.Equal(ModelSpec.FromJson(spec.ToJson()).ToJson(), spec.ToJson());
        Assert.Contains("reshape(6x8) → lstm(12, true, 0.1, 0.2, per_sequence, 0.3)", spec.Describe());
    }

    [Fact]
    public void Reshape_and_embedding_export_and_import_bit_for_bit()
    {
        var spec = ModelSpec.FromJson("""
            { "layers": [ { "type": "embedding", "vocabulary": 20, "dimension": 4, "rate": 0.1 }, { "type": "gru", "units": 6 } ],
              "training": { "epochs": 1, "batchSize": 16, "normalization": "none" } }
            """);
        var data = RecurrentOnnxModels.Data("embedding", TaskKind.Multiclass, 64, 1);
        var model = new Trainer(spec.Training.ToTrainerOptions()).Fit(spec.CreateNetwork(data), data);
        var imported = OnnxImporter.Load(OnnxExporter.ExportToBytes(model));
        Assert.Equal(model.PredictProbabilities(data.Features), imported.PredictProbabilities(data.Features));

        var flat = new Trainer(new TrainerOptions { Epochs = 1 }).Fit(Network.Sequential(new Reshape(6, 8), new LSTM(5), new Dense(3)), TestData.Blobs(64, 48, 3, 2));
        var reloaded = OnnxImporter.Load(OnnxExporter.ExportToBytes(flat));
        Assert.Equal(["Reshape", "LSTM", "Dense"], reloaded.Network.Layers.Select(l => l.Name));
        Assert.Equal(flat.PredictProbabilities(TestData.Blobs(16, 48, 3, 3).Features), reloaded.PredictProbabilities(TestData.Blobs(16, 48, 3, 3).Features));
    }

    [Theory]
    [InlineData("""{ "layers": [ { "type": "gru", "units": 4, "rnnDrop": 0.2 } ] }""", "layer 1 of 'layers' (gru): 'rnnDrop' does not apply to this layer type")]
    [InlineData("""{ "layers": [ { "type": "lstm", "units": 4, "inputDropout": 0.2, "variationalInput": 0.2 } ] }""", "NonRecurrentDropout and VariationalRecurrentDropout both mask the Input site")]
    [InlineData("""{ "layers": [ { "type": "lstm", "units": 4, "candidateSampling": "per_step" } ] }""", "'candidateSampling' needs 'candidateDropout'")]
    [InlineData("""{ "layers": [ { "type": "lstm", "units": 4, "weightDrop": 1.5 } ] }""", "dropout rate must be in [0, 1), got 1.5")]
    [InlineData("""{ "layers": [ { "type": "reshape", "shape": [0, 4] } ] }""", "Reshape needs positive sizes")]
    [InlineData("""{ "layers": [ { "type": "embedding", "vocabulary": 10 } ] }""", "layer 1 of 'layers' (embedding): 'dimension' is required")]
    public void Bad_recurrent_specs_are_refused_naming_the_layer_and_property(string json, string message)
    {
        var e = Assert.ThrowsAny<Exception>(() => ModelSpec.FromJson(json));
        Assert.Contains(message, e.Message);
    }
}
