using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Tests.Onnx;
using MLNet.Regularization.Training;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.Tests.Recurrent;

/// <summary>Recurrent models for the export tests: each trained briefly on synthetic sequences [T = 6, D = 3].</summary>
internal static class RecurrentOnnxModels
{
    public const int Steps = 6, Features = 3, Classes = 4, Vocabulary = 20;

    public static readonly (string Name, TaskKind Task, Func<Network> Network, NormalizationKind Normalization)[] Cases =
    [
        ("lstm_last", TaskKind.Multiclass, () => Network.Sequential(new LSTM(12), new Dense(Classes)), NormalizationKind.Standard),
        ("lstm_sequences_flatten", TaskKind.Multiclass, () => Network.Sequential(new LSTM(7, returnSequences: true), new Flatten(), new Dense(Classes)), NormalizationKind.None),
        ("lstm_stacked_regularized", TaskKind.Multiclass, () => Network.Sequential(
            new LSTM(10, true, new NonRecurrentDropout(0.2f), new WeightDrop(0.3f)), new LSTM(8, true, new RnnDrop(0.2f)),
            new LSTM(8, false, new VariationalRecurrentDropout(0.2f, 0.2f, 0.2f)), new Dropout(0.2f), new Dense(Classes)), NormalizationKind.Standard),
        ("gru_last", TaskKind.Multiclass, () => Network.Sequential(new GRU(12), new Dense(Classes)), NormalizationKind.MinMax),
        ("gru_stacked_regularized", TaskKind.Multiclass, () => Network.Sequential(
            new GRU(10, true, new RecurrentDropoutWithoutMemoryLoss(0.2f), new NonRecurrentDropout(0.1f, 0.1f)),
            new GRU(9, false, new WeightDrop(0.3f), new VariationalRecurrentDropout(0f, 0.25f)), new Dense(Classes)), NormalizationKind.Standard),
        ("lstm_recurrent_dropout_gru_sequences", TaskKind.Multiclass, () => Network.Sequential(
            new LSTM(8, true, new RecurrentDropoutWithoutMemoryLoss(0.2f, RecurrentMaskSampling.PerSequence)), new GRU(6, true), new Flatten(), new Dense(Classes)), NormalizationKind.Standard),
        ("gru_regression", TaskKind.Regression, () => Network.Sequential(new GRU(10, false, new VariationalRecurrentDropout(0.1f, 0.1f)), new Dense(1)), NormalizationKind.Standard),
        ("lstm_binary", TaskKind.Binary, () => Network.Sequential(new LSTM(10), new Dense(1)), NormalizationKind.Standard),
        ("bidirectional_stacked", TaskKind.Multiclass, () => Network.Sequential(
            new Bidirectional(new LSTM(6, true, new NonRecurrentDropout(0.1f))), new Bidirectional(new GRU(5, false, new WeightDrop(0.2f))), new Dense(Classes)), NormalizationKind.Standard),
        ("bidirectional_gru_sequences", TaskKind.Multiclass, () => Network.Sequential(
            new Bidirectional(new GRU(4, true)), new Flatten(), new Dense(Classes)), NormalizationKind.Standard),
        ("embedding_lstm", TaskKind.Multiclass, () => Network.Sequential(
            new Embedding(Vocabulary, 5, dropout: 0.1f), new LSTM(8, false, new VariationalRecurrentDropout(0.1f, 0.1f)), new Dense(Classes)), NormalizationKind.None),
    ];

    public static Dataset Data(string name, TaskKind task, int n, int seed)
    {
        if (name.StartsWith("embedding", StringComparison.Ordinal))
        {
            // Token sequences whose class is the most frequent token's residue mod 4.
            var rng = new MLNet.Regularization.Tensors.Rng(seed);
            var ids = new float[n * Steps];
            var labels = new int[n];
            for (int i = 0; i < n; i++)
            {
                labels[i] = i % Classes;
                for (int t = 0; t < Steps; t++)
                {
                    ids[(i * Steps) + t] = t % 2 == 0 ? (Classes * rng.NextInt(Vocabulary / Classes)) + labels[i] : rng.NextInt(Vocabulary);
                }
            }

            return Dataset.ForClassification(ids, [Steps], labels, Classes);
        }

        var blobs = OnnxTestModels.Data(task, n, seed);
        var x = blobs.Features.Data.AsSpan(0, n * 8).ToArray();
        var sequences = new float[n * Steps * Features];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < Steps * Features; j++)
            {
                sequences[(i * Steps * Features) + j] = x[(i * 8) + (j % 8)] + (0.1f * j);
            }
        }

        return task switch
        {
            TaskKind.Multiclass => Dataset.ForClassification(sequences, [Steps, Features], blobs.Labels!, Classes),
            TaskKind.Binary => Dataset.ForBinary(sequences, [Steps, Features], blobs.Labels!),
            _ => Dataset.ForRegression(sequences, [Steps, Features], blobs.Targets!.Where((_, k) => k % 2 == 0).ToArray()),
        };
    }

    public static TrainedModel Train(string name)
    {
        var c = Cases.Single(k => k.Name == name);
        return new Trainer(new TrainerOptions
        {
            Epochs = 3, BatchSize = 32, Seed = 11, Normalization = c.Normalization, MaxThreads = 1, GradientClipNorm = 5f,
            Optimizer = new Adam { LearningRate = 0.01f },
        }).Fit(c.Network(), Data(name, c.Task, 256, 5));
    }

    public static Tensor Inputs(string name) => Data(name, Cases.Single(k => k.Name == name).Task, ExportedModelsFixture.Rows, 99).Features;
}

public sealed class RecurrentParityFixture : ExportedModelsFixture
{
    public RecurrentParityFixture() => ExportAndRun(RecurrentOnnxModels.Cases.Select(c =>
    {
        var options = new OnnxExportOptions();
        string[] outputs = c.Task == TaskKind.Regression ? [options.ScoreName] : [options.ProbabilitiesName, options.LabelName];
        return (c.Name, RecurrentOnnxModels.Train(c.Name), options, RecurrentOnnxModels.Inputs(c.Name), outputs);
    }));
}

public class RecurrentOnnxTests(RecurrentParityFixture fixture, ITestOutputHelper output) : IClassFixture<RecurrentParityFixture>
{
    private static int[] Bits(float[] v) => v.Select(BitConverter.SingleToInt32Bits).ToArray();

    public static TheoryData<string> CaseNames => new(RecurrentOnnxModels.Cases.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Onnx_checker_accepts_and_Onnx_Runtime_reproduces_the_recurrent_model(string name)
    {
        var (model, path, x) = fixture.Models[name];
        Assert.True(fixture.Checker[path] == "OK", $"onnx.checker rejected {name}: {fixture.Checker[path]}");
        var outputs = fixture.Outputs[name];
        if (model.Task == TaskKind.Regression)
        {
            var expected = model.PredictValues(x);
            var actual = OnnxTools.Floats(outputs["score"]);
            double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
            output.WriteLine($"{name}: max |Δ score| = {worst:E2}");
            Assert.True(worst <= 1e-5, $"{name}: max |Δ score| = {worst:E2}");
            return;
        }

        var probabilities = model.PredictProbabilities(x);
        var ortProbabilities = OnnxTools.Floats(outputs["probabilities"]);
        Assert.Equal(probabilities.Length, ortProbabilities.Length);
        double maxDelta = probabilities.Zip(ortProbabilities, (e, a) => Math.Abs(e - a)).Max();
        output.WriteLine($"{name}: max |Δ probability| = {maxDelta:E2}");
        Assert.True(maxDelta <= 1e-5, $"{name}: max |Δ probability| = {maxDelta:E2}");
        var labels = model.PredictLabels(x);
        Assert.Equal(labels.Select(l => (long)l), OnnxTools.Int64s(outputs["predicted_label"]));
        Assert.True(labels.Distinct().Count() > 1, $"{name}: every input got the same label");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Export_then_import_predicts_bit_for_bit_the_same(string name)
    {
        var (model, path, x) = fixture.Models[name];
        var imported = OnnxImporter.Load(path);
        if (model.Task == TaskKind.Regression)
        {
            Assert.Equal(Bits(model.PredictValues(x)), Bits(imported.PredictValues(x)));
        }
        else
        {
            Assert.Equal(Bits(model.PredictProbabilities(x)), Bits(imported.PredictProbabilities(x)));
        }

        // The imported layers are the plain cells (the regularizers vanished), with the same shapes and settings.
        var expected = model.Network.Layers.Where(l => l is not Dropout).Select(l => l is RecurrentLayer r ? $"{r.Name}({r.Units}, {r.ReturnSequences})" : l is Embedding e ? $"Embedding({e.VocabularySize}, {e.Dimension})" : l.Name);
        var actual = imported.Network.Layers.Select(l => l is RecurrentLayer r ? $"{r.Name}({r.Units}, {r.ReturnSequences})" : l is Embedding e ? $"Embedding({e.VocabularySize}, {e.Dimension})" : l.Name);
        Assert.Equal(expected, actual);
        Assert.Equal(model.InputShape, imported.InputShape);
    }

    [Fact]
    public void Recurrent_layers_become_the_ONNX_operators_between_transposes()
    {
        string[] Ops(string name) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.Models[name].Path)).Graph.Node.Select(n => n.OpType).ToArray();
        Assert.Equal(["Sub", "Mul", "Transpose", "LSTM", "Squeeze", "Gemm", "Softmax", "ArgMax"], Ops("lstm_last"));
        Assert.Equal(["Transpose", "LSTM", "Squeeze", "Transpose", "Flatten", "Gemm", "Softmax", "ArgMax"], Ops("lstm_sequences_flatten"));
        Assert.Equal(["Cast", "Gather", "Transpose", "LSTM", "Squeeze", "Gemm", "Softmax", "ArgMax"], Ops("embedding_lstm"));
        var gru = ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.Models["gru_last"].Path)).Graph.Node.Single(n => n.OpType == "GRU");
        Assert.Equal(1, gru.Attribute.Single(a => a.Name == "linear_before_reset").I);
    }

    [Fact]
    public void Monte_Carlo_export_writes_non_recurrent_dropout_and_weight_drop_and_refuses_the_rest()
    {
        var model = new Trainer(new TrainerOptions { Epochs = 1, Seed = 3, BatchSize = 32 }).Fit(
            Network.Sequential(new LSTM(8, true, new NonRecurrentDropout(0.2f, 0.2f), new WeightDrop(0.3f)), new GRU(6, false, new WeightDrop(0.2f)), new Dense(RecurrentOnnxModels.Classes)),
            RecurrentOnnxModels.Data("mc", TaskKind.Multiclass, 128, 1));
        var bytes = OnnxExporter.ExportToBytes(model, new OnnxExportOptions { MonteCarlo = true, MonteCarloSeed = 5 });
        var ops = ModelProto.Parser.ParseFrom(bytes).Graph.Node.Select(n => n.OpType).ToList();
        Assert.Equal(4, ops.Count(o => o == "Dropout")); // input, R, output of the LSTM; R of the GRU
        var imported = OnnxImporter.Load(bytes);
        Assert.Equal(["Dropout", "LSTM", "Dropout", "GRU", "Dense"], imported.Network.Layers.Select(l => l.Name));
        Assert.Equal(0.3f, Assert.IsType<WeightDrop>(((LSTM)imported.Network.Layers[1]).Regularizers.Single()).Rate);

        // ONNX Runtime samples: two runs of one session differ.
        using var folder = new Data.TempFolder();
        string path = folder.File("mc.onnx");
        File.WriteAllBytes(path, bytes);
        var x = RecurrentOnnxModels.Data("mc", TaskKind.Multiclass, 4, 9).Features;
        var runs = OnnxTools.Floats(OnnxTools.RunOnnxRuntime([new OrtJob(path, x.Data, x.Shape.ToArray(), "features", ["probabilities"], 2)], folder.Path)[0]["probabilities"]);
        Assert.NotEqual(runs[..16], runs[16..]);
        Assert.Equal("OK", OnnxTools.CheckModels([path])[path]);

        foreach (var refused in new Func<Network>[]
        {
            () => Network.Sequential(new LSTM(4, false, new VariationalRecurrentDropout(0.2f, 0.2f)), new Dense(RecurrentOnnxModels.Classes)),
            () => Network.Sequential(new LSTM(4, false, new RnnDrop(0.2f)), new Dense(RecurrentOnnxModels.Classes)),
            () => Network.Sequential(new GRU(4, false, new RecurrentDropoutWithoutMemoryLoss(0.2f)), new Dense(RecurrentOnnxModels.Classes)),
        })
        {
            var m = new Trainer(new TrainerOptions { Epochs = 1 }).Fit(refused(), RecurrentOnnxModels.Data("mc", TaskKind.Multiclass, 64, 1));
            Assert.Contains("no Monte Carlo ONNX form", Assert.Throws<NotSupportedException>(() => OnnxExporter.ExportToBytes(m, new OnnxExportOptions { MonteCarlo = true })).Message);
            OnnxExporter.ExportToBytes(m); // the inference export is fine
        }

        var zoneout = new Trainer(new TrainerOptions { Epochs = 1 }).Fit(
            Network.Sequential(new LSTM(4, false, new Zoneout(0.3f, 0.1f)), new Dense(RecurrentOnnxModels.Classes)), RecurrentOnnxModels.Data("mc", TaskKind.Multiclass, 64, 1));
        Assert.Contains("zoneout's inference keeps", Assert.Throws<NotSupportedException>(() => OnnxExporter.ExportToBytes(zoneout)).Message);
        Assert.Contains(zoneout.PredictWithUncertainty(x, 3).Variance, v => v > 0f);
    }
}
