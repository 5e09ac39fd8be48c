using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.MLNet.Tests;

/// <summary>The trainer inside ML.NET pipelines: validation rows, the caller's MLContext, label keys and types.</summary>
public sealed class PipelineTests
{
    private static RegularizedNetworkOptions Small() => new() { HiddenLayers = { 16 }, Dropout = 0.1f, Epochs = 30, BatchSize = 32, LearningRate = 0.01f, Seed = 7, MaxThreads = 1 };

    /// <summary>Raw rows: two feature columns that the pipeline concatenates and normalizes, and a text label.</summary>
    public sealed class RawRow
    {
        [VectorType(2)] public float[] A { get; set; } = [];
        [VectorType(2)] public float[] B { get; set; } = [];
        public string Label { get; set; } = "";
    }

    private static List<RawRow> Raw(int n, int seed) =>
        Rows.Blobs(n, seed).Select(r => new RawRow { A = [r.Features[0] * 10, r.Features[1]], B = [r.Features[2], r.Features[3] - 5], Label = r.Label }).ToList();

    [Fact]
    public void Raw_validation_rows_go_through_the_upstream_transforms_as_in_the_readme()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Raw(300, 1));
        var validation = ml.Data.LoadFromEnumerable(Raw(90, 9));
        var options = Small();
        options.Epochs = 200;
        options.EarlyStoppingPatience = 3;
        options.ValidationData = validation;
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.Concatenate("Features", "A", "B"))
            .Append(ml.Transforms.NormalizeMinMax("Features"))
            .Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(options))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        var model = pipeline.Fit(train);

        var history = model.GetRegularizedNetwork()!.Model.History;
        Assert.All(history.Epochs, e => Assert.NotNull(e.ValidationLoss));
        Assert.Equal(StopReason.EarlyStopped, history.StopReason);

        // The validation loss the trainer saw is the loss of the fitted pipeline on the validation rows at the kept
        // epoch: the rows were normalized with the training data's min-max, as the pipeline scores them.
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(validation), predictedLabelColumnName: "PredictedLabel");
        double kept = history.Epochs[history.ModelEpoch - 1].ValidationLoss!.Value;
        Assert.Equal(kept, metrics.LogLoss, 3);
    }

    [Fact]
    public void Fit_with_train_and_validation_views_works_as_mlnet_trainers_do()
    {
        var ml = new MLContext(seed: 1);
        var mapping = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1)));
        var train = mapping.Transform(ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1)));
        var validation = mapping.Transform(ml.Data.LoadFromEnumerable(Rows.Blobs(90, 9)));
        var network = ml.MulticlassClassification.Trainers.RegularizedNetwork(Small()).Fit(train, validation);
        Assert.All(network.Model.History.Epochs, e => Assert.NotNull(e.ValidationLoss));
    }

    [Fact]
    public void Validation_keys_from_another_mapping_are_refused_with_a_message()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1))).Transform(ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1)));
        var other = ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Fit(ml.Data.LoadFromEnumerable(Rows.Blobs(90, 9))).Transform(ml.Data.LoadFromEnumerable(Rows.Blobs(90, 9)));
        var e = Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers.RegularizedNetwork(Small()).Fit(train, other));
        Assert.Contains("the validation label's keys (bird, cat, dog) differ from the training label's (cat, dog, bird)", e.Message);
    }

    [Fact]
    public void The_mlcontext_log_receives_the_epoch_lines()
    {
        var ml = new MLContext(seed: 1);
        var lines = new List<string>();
        ml.Log += (_, e) =>
        {
            if (e.Source == "RegularizedNetwork")
            {
                lock (lines)
                {
                    lines.Add(e.RawMessage);
                }
            }
        };
        var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(Rows.Blobs(90, 1))).Transform(ml.Data.LoadFromEnumerable(Rows.Blobs(90, 1)));
        var options = Small();
        options.Epochs = 3;
        ml.MulticlassClassification.Trainers.RegularizedNetwork(options).Fit(data);

        Assert.Contains(lines, l => l.StartsWith("training multiclass network on 90 rows (4 features), seed 7", StringComparison.Ordinal));
        Assert.Equal(3, lines.Count(l => l.StartsWith("epoch ", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("epoch 3/3: loss ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("finished (Completed): kept the weights of epoch 3 of 3", StringComparison.Ordinal));
    }

    [Fact]
    public void Cancelling_the_mlcontext_stops_training()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1))).Transform(ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1)));
        var options = Small();
        options.Epochs = 1000;
        int epochs = 0;
        // MLContext.CancelExecution is internal to ML.NET (AutoML calls it); reach it as AutoML's host would.
        var cancel = typeof(MLContext).GetMethod("CancelExecution", BindingFlags.NonPublic | BindingFlags.Instance)!;
        options.Progress = new SyncProgress<EpochRecord>(e =>
        {
            epochs = e.Epoch;
            if (e.Epoch == 2)
            {
                cancel.Invoke(ml, null);
            }
        });
        var trainer = ml.MulticlassClassification.Trainers.RegularizedNetwork(options);
        var e = Assert.Throws<OperationCanceledException>(() => trainer.Fit(data));
        // Cancelled during epoch 2's report: training stops before epoch 3 completes, whatever the machine's load.
        Assert.Equal(2, epochs);
        Assert.Contains("cancelled after 2 epoch(s)", e.Message);
    }

    [Fact]
    public void A_cancellation_token_stops_training_too()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1))).Transform(ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1)));
        using var source = new CancellationTokenSource();
        var options = Small();
        options.Epochs = 1000;
        options.CancellationToken = source.Token;
        int epochs = 0;
        options.Progress = new SyncProgress<EpochRecord>(e =>
        {
            epochs = e.Epoch;
            if (e.Epoch == 3)
            {
                source.Cancel();
            }
        });
        var e = Assert.Throws<OperationCanceledException>(() => ml.MulticlassClassification.Trainers.RegularizedNetwork(options).Fit(data));
        Assert.Contains("cancelled after 3 epoch(s)", e.Message);
        Assert.Equal(3, epochs);
    }

    [Fact]
    public void Without_a_seed_the_mlcontext_seed_decides_as_for_mlnet_trainers()
    {
        float[] Scores(int contextSeed)
        {
            var ml = new MLContext(seed: contextSeed);
            var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(Rows.Blobs(90, 1))).Transform(ml.Data.LoadFromEnumerable(Rows.Blobs(90, 1)));
            var options = Small();
            options.Seed = null;
            options.Epochs = 2;
            return ml.MulticlassClassification.Trainers.RegularizedNetwork(options).Fit(data).Transform(data).GetColumn<float[]>("Score").SelectMany(s => s).ToArray();
        }

        Assert.Equal(Scores(11), Scores(11));
        Assert.NotEqual(Scores(11), Scores(12));
    }

    [Fact]
    public void Onnx_runtime_settings_of_the_mlcontext_reach_the_scoring_transform()
    {
        IDataView Data(MLContext ml) => ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(Rows.Blobs(60, 1))).Transform(ml.Data.LoadFromEnumerable(Rows.Blobs(60, 1)));
        var options = Small();
        options.Epochs = 1;

        // A GPU that this machine's ONNX Runtime (the CPU build) does not have: the scoring transform asks ONNX Runtime
        // for the CUDA provider, exactly as ML.NET's own ApplyOnnxModel does in that context, and fails the same way.
        // (Before, the trainer scored in a context of its own and ignored the setting.)
        var gpu = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = false };
        var ours = Record.Exception(() => gpu.MulticlassClassification.Trainers.RegularizedNetwork(options).Fit(Data(gpu)));
        var cpuModel = new MLContext(seed: 1).MulticlassClassification.Trainers.RegularizedNetwork(options).Fit(Data(new MLContext(seed: 1)));
        var theirs = Record.Exception(() => gpu.Transforms.ApplyOnnxModel(new MemoryStream(cpuModel.OnnxModel)).Fit(Data(gpu)));
        Assert.NotNull(ours);
        Assert.NotNull(theirs);
        Assert.Equal(theirs.GetType(), ours.GetType());
        Assert.Contains("CUDA", ours.Message);
    }

    [Fact]
    public void ByOccurrence_keys_score_as_well_as_ByValue_keys()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1));
        var test = ml.Data.LoadFromEnumerable(Rows.Blobs(150, 2));
        double Accuracy(ValueToKeyMappingEstimator.KeyOrdinality ordinality)
        {
            var model = ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ordinality)
                .Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(Small())).Fit(train);
            var scored = model.Transform(test);
            // Predicted keys are the label's keys: the same values in the same order.
            Assert.Equal(Keys(scored.Schema["Label"]), Keys(scored.Schema["PredictedLabel"]));
            return ml.MulticlassClassification.Evaluate(scored).MicroAccuracy;
        }

        double byOccurrence = Accuracy(ValueToKeyMappingEstimator.KeyOrdinality.ByOccurrence);
        double byValue = Accuracy(ValueToKeyMappingEstimator.KeyOrdinality.ByValue);
        Assert.True(byValue > 0.9, $"ByValue accuracy {byValue}");
        Assert.InRange(byOccurrence, byValue - 0.03, byValue + 0.03);
    }

    [Fact]
    public void A_uint_label_comes_back_as_uint_after_MapKeyToValue()
    {
        var ml = new MLContext(seed: 1);
        var rows = Rows.Blobs(300, 1).Select(r => new UIntRow { Features = r.Features, Label = (uint)(Array.IndexOf(Rows.ClassNames, r.Label) * 10 + 3) }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var model = ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByOccurrence)
            .Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(Small()))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedValue", "PredictedLabel")).Fit(data);
        var scored = model.Transform(data);
        Assert.Equal(NumberDataViewType.UInt32, scored.Schema["PredictedValue"].Type);
        var predicted = scored.GetColumn<uint>("PredictedValue").ToList();
        Assert.True(predicted.Zip(rows).Count(p => p.First == p.Second.Label) > 0.9 * rows.Count);

        // The same as ML.NET's own trainer gives.
        var sdca = ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy())
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedValue", "PredictedLabel")).Fit(data);
        Assert.Equal(sdca.Transform(data).Schema["PredictedValue"].Type, scored.Schema["PredictedValue"].Type);
    }

    /// <summary>A row with a UInt32 label.</summary>
    public sealed class UIntRow
    {
        [VectorType(4)] public float[] Features { get; set; } = [];
        public uint Label { get; set; }
    }

    private static string[] Keys(DataViewSchema.Column column)
    {
        VBuffer<ReadOnlyMemory<char>> values = default;
        column.GetKeyValues(ref values);
        return values.DenseValues().Select(v => v.ToString()).ToArray();
    }

    /// <summary>An IProgress that reports on the training thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
