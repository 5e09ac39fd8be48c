using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.Regularization.Experiments;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.MLNet.Tests;

/// <summary>Recurrent networks through ML.NET: a fixed-size vector column read as a sequence [T, D].</summary>
public class SequenceTests(ITestOutputHelper output)
{
    [Fact]
    public void An_lstm_reads_a_vector_column_as_row_sequences_and_scores_like_the_native_model()
    {
        var ml = new MLContext(seed: 1);
        var (_, _, trainRows, testRows) = Rows.FashionMnist();
        var train = ml.Data.LoadFromEnumerable(trainRows.Take(1000));
        var test = ml.Data.LoadFromEnumerable(testRows.Take(200));
        var options = new RegularizedNetworkOptions
        {
            Layers = [new LayerSpec { Type = "lstm", Units = 32, VariationalInput = 0.1f, VariationalRecurrent = 0.1f }],
            InputShape = [28, 28], Epochs = 4, BatchSize = 50, LearningRate = 0.005f,
        };
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(options));
        var model = pipeline.Fit(train);
        var network = model.LastTransformer;
        Assert.Equal([28, 28], network.Model.InputShape);
        Assert.IsType<Layers.LSTM>(network.Model.Network.Layers[0]);

        var scored = model.Transform(test);
        var metrics = ml.MulticlassClassification.Evaluate(scored);
        output.WriteLine($"LSTM(32) on 1,000 row sequences, 4 epochs: test accuracy {metrics.MicroAccuracy:F4}, log-loss {metrics.LogLoss:F4}");
        Assert.True(metrics.MicroAccuracy > 0.5, $"accuracy {metrics.MicroAccuracy}");

        // ML.NET (ONNX Runtime behind it) and the native model agree on every score.
        var scores = scored.GetColumn<float[]>("Score").SelectMany(s => s).ToArray();
        var x = new Tensor(testRows.Take(200).SelectMany(r => r.Features).ToArray(), 200, 28, 28);
        var native = network.Model.PredictProbabilities(x);
        Assert.Equal(native.Length, scores.Length);
        Assert.True(native.Zip(scores, (a, b) => Math.Abs(a - b)).Max() <= 1e-5);
    }
}
