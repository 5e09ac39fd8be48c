using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Tests.Onnx;

/// <summary>One network of the export matrix: how to build, train and export it.</summary>
public sealed record ExportCase(string Name, TaskKind Task, Func<Network> Network, NormalizationKind Normalization, OnnxExportOptions Options)
{
    public override string ToString() => Name;
}

/// <summary>Synthetic data and briefly trained models for the export tests.</summary>
internal static class OnnxTestModels
{
    public const int Features = 8;
    public const int Classes = 4;

    /// <summary>The matrix: each activation, batch norm folded and not, each dropout kind, each normalization,
    /// each task, and renamed inputs and outputs.</summary>
    public static readonly ExportCase[] Cases =
    [
        Multi("relu", () => Net(new Dense(16), new ReLU(), new Dense(Classes))),
        Multi("leaky_relu", () => Net(new Dense(16), new LeakyReLU(0.1f), new Dense(Classes))),
        Multi("tanh", () => Net(new Dense(16, WeightInit.GlorotUniform), new Tanh(), new Dense(Classes, WeightInit.GlorotUniform))),
        Multi("sigmoid", () => Net(new Dense(16, WeightInit.GlorotNormal), new Sigmoid(), new Dense(Classes))),
        Multi("gelu", () => Net(new Dense(16), new GELU(), new Dense(16), new GELU(), new Dense(Classes))),
        Multi("batch_norm_folded", BatchNormNet),
        Multi("batch_norm_unfolded", BatchNormNet, new OnnxExportOptions { FoldBatchNorm = false }),
        Multi("dropout_inverted", () => Net(new Dense(16), new ReLU(), new Dropout(0.3f), new Dense(Classes))),
        Multi("dropout_classic", () => Net(new Dense(16), new ReLU(), new Dropout(0.4f, DropoutVariant.Classic), new Dense(Classes))),
        Multi("gaussian_dropout", () => Net(new Dense(16), new ReLU(), new GaussianDropout(0.3f), new Dense(Classes))),
        Multi("dropconnect", () => Net(new DropConnectDense(16, 0.4f), new ReLU(), new DropConnectDense(Classes, 0.2f, DropConnectMaskMode.PerExample))),
        Multi("dropconnect_batch_norm_unfolded", () => Net(new DropConnectDense(16, 0.3f), new BatchNorm(), new ReLU(), new Dense(Classes)), new OnnxExportOptions { FoldBatchNorm = false }),
        Multi("normalization_none", () => Net(new Dense(16), new ReLU(), new Dense(Classes)), normalization: NormalizationKind.None),
        Multi("normalization_minmax", () => Net(new Dense(16), new ReLU(), new Dense(Classes)), normalization: NormalizationKind.MinMax),
        Multi("everything", () => Net(
            new Dense(24), new BatchNorm(), new GELU(), new Dropout(0.3f), new DropConnectDense(16, 0.3f), new BatchNorm(),
            new LeakyReLU(), new GaussianDropout(0.2f), new Dense(12, useBias: false), new BatchNorm(), new Tanh(),
            new Dropout(0.2f, DropoutVariant.Classic), new Dense(Classes))),
        Multi("renamed", () => Net(new Dense(16), new Sigmoid(), new Dense(Classes)), new OnnxExportOptions { InputName = "pixels", ProbabilitiesName = "p", LabelName = "label" }),
        new("binary", TaskKind.Binary, () => Net(new Dense(16), new BatchNorm(), new ReLU(), new Dropout(0.3f), new Dense(1)), NormalizationKind.Standard, new()),
        new("binary_gelu_minmax_unfolded", TaskKind.Binary, () => Net(new Dense(16), new BatchNorm(), new GELU(), new Dense(1)), NormalizationKind.MinMax, new() { FoldBatchNorm = false }),
        new("regression", TaskKind.Regression, () => Net(new Dense(16, WeightInit.GlorotUniform), new Tanh(), new GaussianDropout(0.1f), new Dense(2)), NormalizationKind.Standard, new()),
        new("regression_batch_norm_unfolded_none", TaskKind.Regression, () => Net(new Dense(16), new BatchNorm(), new ReLU(), new Dense(2)), NormalizationKind.None, new() { FoldBatchNorm = false, ScoreName = "y" }),
    ];

    public static Network BatchNormNet() => Net(
        new Dense(16), new BatchNorm(), new ReLU(), new Dense(16, useBias: false), new BatchNorm(), new Tanh(), new BatchNorm(), new Dense(Classes));

    /// <summary>Training data for a task: shifted and scaled columns, so that normalization matters.</summary>
    public static Dataset Data(TaskKind task, int n, int seed)
    {
        var blobs = TestData.Blobs(n, Features, task == TaskKind.Binary ? 2 : Classes, seed);
        var x = blobs.Features.Data.ToArray();
        for (int i = 0; i < x.Length; i++)
        {
            int j = i % Features;
            x[i] = x[i] * (1 + j) + 10 * j - 5;
        }

        switch (task)
        {
            case TaskKind.Multiclass:
                return Dataset.ForClassification(x, [Features], blobs.Labels!, Classes, ["ankle boot", "bag", "coat", "dress"]);
            case TaskKind.Binary:
                return Dataset.ForBinary(x, [Features], blobs.Labels!);
            default:
                var targets = new float[n * 2];
                for (int i = 0; i < n; i++)
                {
                    var row = blobs.Features.Data.AsSpan(i * Features, Features);
                    targets[2 * i] = row[0] - 0.5f * row[1] + 0.25f * row[2] * row[3];
                    targets[2 * i + 1] = MathF.Tanh(row[4]) + row[5];
                }

                return Dataset.ForRegression(x, [Features], targets, 2);
        }
    }

    /// <summary>Raw features the model has not seen.</summary>
    public static Tensor Inputs(TaskKind task, int n) => Data(task, n, 99).Features;

    /// <summary>Two epochs: enough for non-trivial weights and batch-norm statistics.</summary>
    public static TrainedModel Train(ExportCase c) => new Trainer(new TrainerOptions
    {
        Epochs = 2, BatchSize = 32, Seed = 11, Normalization = c.Normalization, MaxThreads = 1,
        Optimizer = new Adam { LearningRate = 0.01f },
    }).Fit(c.Network(), Data(c.Task, 256, 5));

    private static ExportCase Multi(string name, Func<Network> net, OnnxExportOptions? options = null, NormalizationKind normalization = NormalizationKind.Standard) =>
        new(name, TaskKind.Multiclass, net, normalization, options ?? new OnnxExportOptions());

    private static Network Net(params Layer[] layers) => Network.Sequential(layers);
}
