using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.MLNet.Tests;

public sealed class RegularizedNetworkTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static RegularizedNetworkOptions Small() => new() { HiddenLayers = { 16 }, Dropout = 0.1f, Epochs = 30, BatchSize = 32, LearningRate = 0.01f, Seed = 7, MaxThreads = 1 };

    private static IEstimator<ITransformer> BlobPipeline(MLContext ml, RegularizedNetworkOptions options) =>
        ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(options))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

    [Fact]
    public void FitTransform_GivesConventionalColumns_AndEvaluatorWorks()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1));
        var test = ml.Data.LoadFromEnumerable(Rows.Blobs(150, 2));
        var model = ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(Small())).Fit(train);
        var scored = model.Transform(test);

        var score = scored.Schema["Score"];
        Assert.Equal(3, ((VectorDataViewType)score.Type).Size);
        Assert.IsType<KeyDataViewType>(scored.Schema["PredictedLabel"].Type);
        Assert.Equal(scored.Schema["Label"].Type, scored.Schema["PredictedLabel"].Type);

        var metrics = ml.MulticlassClassification.Evaluate(scored);
        Assert.True(metrics.MicroAccuracy > 0.9, $"accuracy {metrics.MicroAccuracy}");
        Assert.True(metrics.LogLoss < 0.5, $"log-loss {metrics.LogLoss}");

        // PredictedLabel's key values are the label's: MapKeyToValue gives back the text classes.
        var names = ml.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel").Fit(scored).Transform(scored)
            .GetColumn<string>("PredictedText").ToList();
        var truth = test.GetColumn<string>("Label").ToList();
        Assert.True(names.Zip(truth).Count(p => p.First == p.Second) > 0.9 * truth.Count);
        Assert.All(names, n => Assert.Contains(n, Rows.ClassNames));
    }

    [Fact]
    public void FittedTransformer_ExposesTheNativeModel()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1));
        var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(train).Transform(train);
        var network = ml.MulticlassClassification.Trainers.RegularizedNetwork(Small()).Fit(keyed);

        Assert.Equal(30, network.Model.History.Epochs.Count);
        Assert.Equal(TaskKind.Multiclass, network.Task);
        Assert.Equal(Rows.ClassNames, network.Model.ClassNames);
        var mc = network.PredictWithUncertainty(keyed, samples: 10);
        Assert.Equal(300, mc.Count);
        Assert.Equal(3, mc.Classes);
        Assert.NotEmpty(OnnxImporter.Load(network.OnnxModel).Network.Layers);
    }

    [Fact]
    public void EarlyStopping_UsesTheValidationDataView()
    {
        var ml = new MLContext(seed: 1);
        var mapping = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1)));
        var train = mapping.Transform(ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1)));
        var validation = mapping.Transform(ml.Data.LoadFromEnumerable(Rows.Blobs(90, 9)));
        var options = Small();
        options.Epochs = 200;
        options.EarlyStoppingPatience = 2;
        options.ValidationData = validation;
        var network = ml.MulticlassClassification.Trainers.RegularizedNetwork(options).Fit(train);

        var history = network.Model.History;
        Assert.All(history.Epochs, e => Assert.NotNull(e.ValidationLoss));
        Assert.Equal(StopReason.EarlyStopped, history.StopReason);
        Assert.True(history.Epochs.Count < 200);
    }

    [Fact]
    public void PruningRounds_TrainALotteryTicket_WhosePrunedWeightsAreZeroInTheSavedModel()
    {
        var ml = new MLContext(seed: 1);
        var log = new List<string>();
        ml.Log += (_, e) =>
        {
            if (e.Message.Contains("pruning round", StringComparison.Ordinal))
            {
                lock (log)
                {
                    log.Add(e.Message);
                }
            }
        };
        var train = ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1));
        var test = ml.Data.LoadFromEnumerable(Rows.Blobs(150, 2));
        var options = Small();
        options.Epochs = 15;
        options.ValidationFraction = 0.2;
        options.EarlyStoppingPatience = 3;
        options.PruningRounds = 2;
        options.PruningRate = 0.5;
        var model = BlobPipeline(ml, options).Fit(train);

        // Two rounds at 50% (the output layer at 25%): a quarter of the hidden weights remain, as exact zeros in ONNX.
        var network = ((IEnumerable<ITransformer>)model).OfType<RegularizedNetworkTransformer>().Single();
        var layers = NetworkSparsity.PerLayer(network.Model.Network);
        Assert.Equal(0.25, layers[0].FractionRemaining, 2);
        Assert.Equal(0.5625, layers[1].FractionRemaining, 2);
        var imported = OnnxImporter.Load(network.OnnxModel);
        Assert.Equal(layers.Select(l => l.Remaining), NetworkSparsity.PerLayer(imported.Network).Select(l => l.Remaining));
        Assert.Equal(3, log.Count(m => m.Contains("pruning round", StringComparison.Ordinal)));

        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
        Assert.True(metrics.MicroAccuracy > 0.85, $"accuracy {metrics.MicroAccuracy}");
        var bad = Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers.RegularizedNetwork(new RegularizedNetworkOptions { PruningRounds = 1, PruningRate = 1 }));
        Assert.Contains("PruningRate must be in (0, 1)", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SaveLoad_GivesIdenticalPredictions_AndPredictionEngineWorks()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1));
        var testRows = Rows.Blobs(60, 3);
        var test = ml.Data.LoadFromEnumerable(testRows);
        var model = BlobPipeline(ml, Small()).Fit(train);

        var stream = new MemoryStream();
        ml.Model.Save(model, train.Schema, stream);
        stream.Position = 0;
        var fresh = new MLContext(seed: 5);
        var loaded = fresh.Model.Load(stream, out var schema);
        Assert.Equal("Features", schema["Features"].Name);

        var before = model.Transform(test);
        var after = loaded.Transform(test);
        Assert.Equal(before.GetColumn<float[]>("Score").SelectMany(v => v), after.GetColumn<float[]>("Score").SelectMany(v => v));
        Assert.Equal(before.GetColumn<string>("PredictedLabel"), after.GetColumn<string>("PredictedLabel"));

        var engine = fresh.Model.CreatePredictionEngine<BlobRow, BlobPrediction>(loaded);
        var predictions = testRows.Select(engine.Predict).ToList();
        Assert.Equal(before.GetColumn<string>("PredictedLabel"), predictions.Select(p => p.PredictedLabel));
        Assert.All(predictions, p => Assert.Equal(1f, p.Score.Sum(), 3));
    }

    [Fact]
    public void FashionMnistSubset_EvaluatorMatchesTheEngine()
    {
        var (trainSet, testSet, trainRows, testRows) = Rows.FashionMnist();
        var options = new RegularizedNetworkOptions { HiddenLayers = { 128 }, Dropout = 0.2f, BatchNorm = true, Epochs = 4, Seed = 42, MaxThreads = 2 };

        // The engine alone, same network, settings, seed and row order.
        var engineModel = new Trainer(options.ToTrainerOptions(options.Seed!.Value)).Fit(options.BuildNetwork(10), trainSet);
        var (_, engineAccuracy) = engineModel.Evaluate(testSet);

        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(trainRows);
        var test = ml.Data.LoadFromEnumerable(testRows);
        // ByValue keeps key k = class k + 1, so the adapter trains on exactly the engine's labels.
        var model = ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(options)).Fit(train);
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));

        output.WriteLine($"engine accuracy {engineAccuracy:F4}, ML.NET evaluator {metrics.MicroAccuracy:F4} (log-loss {metrics.LogLoss:F4})");
        Assert.InRange(metrics.MicroAccuracy, engineAccuracy - 0.005, engineAccuracy + 0.005);
        Assert.True(metrics.MicroAccuracy > 0.7, $"accuracy {metrics.MicroAccuracy}");
    }

    [Fact]
    public void Binary_GivesScoreProbabilityPredictedLabel_ForTheEvaluator()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Rows.Binary(300, 1));
        var test = ml.Data.LoadFromEnumerable(Rows.Binary(150, 2));
        var model = ml.BinaryClassification.Trainers.RegularizedNetwork(Small()).Fit(train);
        var scored = model.Transform(test);
        Assert.Equal(NumberDataViewType.Single, scored.Schema["Score"].Type);
        Assert.Equal(NumberDataViewType.Single, scored.Schema["Probability"].Type);
        Assert.Equal(BooleanDataViewType.Instance, scored.Schema["PredictedLabel"].Type);

        var metrics = ml.BinaryClassification.Evaluate(scored);
        Assert.True(metrics.Accuracy > 0.9, $"accuracy {metrics.Accuracy}");
        Assert.True(metrics.AreaUnderRocCurve > 0.95, $"AUC {metrics.AreaUnderRocCurve}");
        var probabilities = scored.GetColumn<float>("Probability").ToArray();
        var expected = model.Model.PredictProbabilities(Features(test));
        for (int i = 0; i < probabilities.Length; i++)
        {
            Assert.Equal(expected[2 * i + 1], probabilities[i], 5);
        }
    }

    [Fact]
    public void Regression_GivesScore_ForTheEvaluator()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Rows.Regression(400, 1));
        var test = ml.Data.LoadFromEnumerable(Rows.Regression(100, 2));
        var options = Small();
        options.Dropout = 0;
        options.Epochs = 60;
        var model = ml.Regression.Trainers.RegularizedNetwork(options).Fit(train);
        var scored = model.Transform(test);
        Assert.Equal(NumberDataViewType.Single, scored.Schema["Score"].Type);
        var metrics = ml.Regression.Evaluate(scored);
        Assert.True(metrics.RSquared > 0.9, $"R² {metrics.RSquared}");
        Assert.Equal(model.Model.PredictValues(Features(test)), scored.GetColumn<float>("Score").ToArray(), (a, b) => Math.Abs(a - b) < 1e-4f);
    }

    [Fact]
    public void ApplyRegularizedNetwork_ScoresAnExportedFile()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1));
        var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(train).Transform(train);
        var fitted = ml.MulticlassClassification.Trainers.RegularizedNetwork(Small()).Fit(keyed);
        string path = Path.Combine(Path.GetTempPath(), $"mlnet-adapter-{Guid.NewGuid():N}.onnx");
        try
        {
            OnnxExporter.Export(fitted.Model, path);
            var test = ml.Data.LoadFromEnumerable(Rows.Blobs(50, 4));
            var scored = ml.Transforms.ApplyRegularizedNetwork(path).Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel")).Fit(test).Transform(test);
            Assert.Equal(fitted.Transform(test).GetColumn<float[]>("Score").SelectMany(v => v), scored.GetColumn<float[]>("Score").SelectMany(v => v));
            Assert.All(scored.GetColumn<string>("PredictedLabel"), n => Assert.Contains(n, Rows.ClassNames));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void MissingColumns_AreNamed()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(Rows.Blobs(30, 1)))
            .Transform(ml.Data.LoadFromEnumerable(Rows.Blobs(30, 1)));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.RegularizedNetwork(new RegularizedNetworkOptions { FeatureColumnName = "Pixels" }).Fit(data));
        Assert.Contains("features column 'Pixels' was not found", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.RegularizedNetwork(new RegularizedNetworkOptions { LabelColumnName = "Class" }).Fit(data));
        Assert.Contains("label column 'Class' was not found", e.Message);
    }

    private sealed class VariableRow
    {
        public float[] Features { get; set; } = [];
        public bool Label { get; set; }
    }

    private sealed class DoubleRow
    {
        [VectorType(2)] public double[] Features { get; set; } = [];
        public bool Label { get; set; }
    }

    [Fact]
    public void BadFeatureTypes_AreNamed()
    {
        var ml = new MLContext(seed: 1);
        var variable = ml.Data.LoadFromEnumerable(new[] { new VariableRow { Features = [1, 2] }, new VariableRow { Features = [1, 2, 3], Label = true } });
        var e = Assert.Throws<ArgumentException>(() => ml.BinaryClassification.Trainers.RegularizedNetwork().Fit(variable));
        Assert.Contains("features column 'Features' is a variable-size vector", e.Message);

        var doubles = ml.Data.LoadFromEnumerable(new[] { new DoubleRow { Features = [1, 2] } });
        e = Assert.Throws<ArgumentException>(() => ml.BinaryClassification.Trainers.RegularizedNetwork().Fit(doubles));
        Assert.Contains("features column 'Features' must be a vector of Single", e.Message);
        output.WriteLine(e.Message);
    }

    [Fact]
    public void LabelTypeNotFittingTheTask_IsNamed()
    {
        var ml = new MLContext(seed: 1);
        var text = ml.Data.LoadFromEnumerable(Rows.Blobs(30, 1));
        var e = Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers.RegularizedNetwork().Fit(text));
        Assert.Contains("label column 'Label' is String, which does not fit multiclass training", e.Message);
        Assert.Contains("MapValueToKey", e.Message);

        e = Assert.Throws<ArgumentException>(() => ml.BinaryClassification.Trainers.RegularizedNetwork().Fit(text));
        Assert.Contains("does not fit binary training: it must be Boolean", e.Message);
        e = Assert.Throws<ArgumentException>(() => ml.Regression.Trainers.RegularizedNetwork().Fit(text));
        Assert.Contains("does not fit regression training", e.Message);
    }

    private static Tensor Features(IDataView data)
    {
        var rows = data.GetColumn<float[]>("Features").ToList();
        return new Tensor(rows.SelectMany(r => r).ToArray(), rows.Count, rows[0].Length);
    }
}
