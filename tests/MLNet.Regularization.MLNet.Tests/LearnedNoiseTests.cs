using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.MLNet.Tests;

/// <summary>The learned and Bayesian dropout layers through ML.NET: named in the options' layer list, trained, exported
/// to ONNX and scored by ML.NET with the native model's scores.</summary>
public class LearnedNoiseTests(ITestOutputHelper output)
{
    [Fact]
    public void Layer_lists_with_learned_noise_train_and_score_like_the_native_model()
    {
        var ml = new MLContext(seed: 1);
        var (_, _, trainRows, testRows) = Rows.FashionMnist();
        var train = ml.Data.LoadFromEnumerable(trainRows.Take(1000));
        var test = ml.Data.LoadFromEnumerable(testRows.Take(200));
        var options = new RegularizedNetworkOptions
        {
            Layers =
            [
                new LayerSpec { Type = "concrete_dropout", Rate = 0.2f },
                new LayerSpec { Type = "sparse_variational_dense", Units = 64, KlWarmup = 10 },
                new LayerSpec { Type = "relu" },
                new LayerSpec { Type = "structured_bayesian_pruning" },
                new LayerSpec { Type = "standout_dense", Units = 32 },
                new LayerSpec { Type = "fast_dropout_dense", Units = 32, Rate = 0.2f },
                new LayerSpec { Type = "dropconnect_dense", Units = 16, Rate = 0.2f, Inference = "gaussian", Samples = 20 },
                new LayerSpec { Type = "relu" },
            ],
            Epochs = 8, BatchSize = 50, LearningRate = 0.003f,
        };
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(options));
        var model = pipeline.Fit(train);
        var network = model.LastTransformer.Model;
        Assert.Equal(["ConcreteDropout", "SparseVariationalDense", "ReLU", "StructuredBayesianPruning", "StandoutDense", "FastDropoutDense", "DropConnectDense", "ReLU", "Dense"],
            network.Network.Layers.Select(l => l.Name));
        Assert.Equal(4, LearnedNoise.Of(network.Network).Count);

        var scored = model.Transform(test);
        var metrics = ml.MulticlassClassification.Evaluate(scored);
        output.WriteLine($"every learned-noise method in one MLP, 1,000 images, 8 epochs: test accuracy {metrics.MicroAccuracy:F4}, log-loss {metrics.LogLoss:F4}");
        Assert.True(metrics.MicroAccuracy > 0.5, $"accuracy {metrics.MicroAccuracy}");

        // ML.NET scores through ONNX Runtime; the Gaussian DropConnect layer samples there with the runtime's own
        // normals, so the scores agree with the native model's to within its Monte Carlo error.
        var scores = scored.GetColumn<float[]>("Score").SelectMany(s => s).ToArray();
        var x = new Tensor(testRows.Take(200).SelectMany(r => r.Features).ToArray(), 200, 784);
        var native = network.PredictProbabilities(x);
        Assert.Equal(native.Length, scores.Length);
        double mean = native.Zip(scores, (a, b) => Math.Abs(a - (double)b)).Average();
        output.WriteLine($"mean |ML.NET score − native probability| = {mean:E2}");
        Assert.InRange(mean, 0, 0.02);
    }
}
