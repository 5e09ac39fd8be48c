namespace MLNet.Regularization.Onnx;

/// <summary>
/// How <see cref="OnnxExporter"/> writes a model. The defaults suit ML.NET's <c>ApplyOnnxModel</c>: input
/// <c>features</c>, outputs <c>probabilities</c> and <c>predicted_label</c> (classification) or <c>score</c>
/// (regression).
/// </summary>
public sealed class OnnxExportOptions
{
    /// <summary>Name of the graph input, a float tensor [batch, features] of raw (unnormalized) features
    /// (default <c>features</c>).</summary>
    public string InputName { get; set; } = "features";

    /// <summary>Name of the class-probability output, float [batch, K]; binary models give [batch, 2] with columns
    /// P(0), P(1), as <c>TrainedModel.PredictProbabilities</c> does (default <c>probabilities</c>).</summary>
    public string ProbabilitiesName { get; set; } = "probabilities";

    /// <summary>Name of the predicted-class output, int64 [batch] (default <c>predicted_label</c>).</summary>
    public string LabelName { get; set; } = "predicted_label";

    /// <summary>Name of the regression output, float [batch, targets] (default <c>score</c>).</summary>
    public string ScoreName { get; set; } = "score";

    /// <summary>Fold each batch norm that directly follows a Dense into that Gemm (default true), so the graph is
    /// exactly the network <c>TrainedModel</c> predicts with. False keeps BatchNormalization nodes with the running
    /// statistics; predictions agree to float rounding.</summary>
    public bool FoldBatchNorm { get; set; } = true;

    /// <summary>Write the Monte Carlo variant (default false): Dropout becomes an active ONNX <c>Dropout</c> node
    /// (<c>training_mode</c> = true), Gaussian dropout multiplies by <c>RandomNormalLike</c> noise N(1, p/(1−p)),
    /// and DropConnect multiplies its weights by a fresh Bernoulli mask per run (one mask shared by the rows of a
    /// batch). Every run of the model is then one stochastic sample; run it T times and average.</summary>
    public bool MonteCarlo { get; set; }

    /// <summary>Seed written into the random nodes of a Monte Carlo export, or null (default) to let the runtime
    /// seed them. With a seed, each new ONNX Runtime session draws the same sequence of samples.</summary>
    public int? MonteCarloSeed { get; set; }

    /// <summary>Write weight matrices and kernels that are mostly zero — pruned ones — as ONNX
    /// <c>sparse_initializer</c>s (COO: the non-zero values and their int64 positions) instead of dense initializers
    /// (default false). Only tensors that get smaller move (at most a third non-zero), so the file shrinks with the
    /// sparsity. ONNX Runtime turns them back into dense tensors when it loads the model: the file is smaller, the
    /// arithmetic (and its speed) the same. The importer reads both forms.</summary>
    public bool SparseWeights { get; set; }

    /// <summary>The ONNX operator set the exporter writes (17; IR version 8). GELU uses the Erf form.</summary>
    public int Opset => OnnxFormat.Opset;

    /// <summary>The ONNX IR version the exporter writes (8, the one that goes with opset 17).</summary>
    public long IrVersion => OnnxFormat.IrVersion;

    /// <summary>Throws <see cref="ArgumentException"/> for an empty or repeated tensor name.</summary>
    public void Validate()
    {
        (string Name, string Value)[] names =
        [
            (nameof(InputName), InputName), (nameof(ProbabilitiesName), ProbabilitiesName),
            (nameof(LabelName), LabelName), (nameof(ScoreName), ScoreName),
        ];
        foreach (var (name, value) in names)
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                throw new ArgumentException($"OnnxExportOptions.{name} must be a non-empty tensor name.", name);
            }
        }

        for (int i = 0; i < names.Length; i++)
        {
            for (int j = 0; j < i; j++)
            {
                if (names[i].Value == names[j].Value)
                {
                    throw new ArgumentException($"OnnxExportOptions.{names[j].Name} and {names[i].Name} are both '{names[i].Value}'; tensor names must differ.", names[i].Name);
                }
            }
        }
    }
}
