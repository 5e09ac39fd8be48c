using System.Reflection;

namespace MLNet.Regularization.Onnx;

/// <summary>
/// The fixed facts of the ONNX files this library writes and reads.
/// </summary>
/// <remarks>
/// Opset 17 with IR version 8: the newest pair that Debian's ONNX checker (onnx 1.12) validates, well inside what
/// ONNX Runtime (1.13 and later) and ML.NET's OnnxTransformer run. Opset 17 has everything the exporter needs:
/// Gemm, BatchNormalization (opset 15 form), Softmax on one axis (opset 13 form), Dropout with <c>ratio</c> and
/// <c>training_mode</c> inputs (opset 12+), RandomNormalLike, Erf. GELU is written in its exact Erf form,
/// 0.5·x·(1 + erf(x/√2)), because the fused Gelu operator only arrived in opset 20.
/// </remarks>
internal static class OnnxFormat
{
    /// <summary>The default-domain operator set version.</summary>
    public const int Opset = 17;

    /// <summary>The IR version that goes with opset 17.</summary>
    public const long IrVersion = 8;

    /// <summary>producer_name of every model this library writes; the importer reads nothing else.</summary>
    public const string ProducerName = "MLNet.Regularization";

    /// <summary>The symbolic batch dimension of inputs and outputs.</summary>
    public const string BatchDimension = "batch";

    /// <summary>The library version (informational version, which may carry a commit after '+').</summary>
    public static string LibraryVersion { get; } =
        typeof(OnnxFormat).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(OnnxFormat).Assembly.GetName().Version?.ToString() ?? "unknown";

    /// <summary>The version without build metadata, for producer_version.</summary>
    public static string ProducerVersion => LibraryVersion.Split('+')[0];

    /// <summary>Keys of metadata_props.</summary>
    public static class Keys
    {
        /// <summary>Library version that wrote the file.</summary>
        public const string LibraryVersion = "library_version";

        /// <summary>Multiclass, Binary or Regression.</summary>
        public const string Task = "task";

        /// <summary>The trained network, layer by layer with its regularizer settings (Network.Describe).</summary>
        public const string Layers = "layers";

        /// <summary>The network as written in the graph (after inference folding).</summary>
        public const string ExportedLayers = "exported_layers";

        /// <summary>JSON array of class labels (names, or "0".."K-1").</summary>
        public const string ClassLabels = "class_labels";

        /// <summary>True when the training data named its classes.</summary>
        public const string ClassNamesGiven = "class_names_given";

        /// <summary>Number of regression targets.</summary>
        public const string TargetSize = "target_size";

        /// <summary>The training seed.</summary>
        public const string Seed = "seed";

        /// <summary>None, MinMax or Standard: the normalization baked into the graph as Sub then Mul.</summary>
        public const string Normalization = "normalization";

        /// <summary>The trainer settings line.</summary>
        public const string TrainingSettings = "training_settings";

        /// <summary>JSON of the training history.</summary>
        public const string History = "history";

        /// <summary>Whether batch norm was folded into the preceding Gemm.</summary>
        public const string BatchNormFolded = "batch_norm_folded";

        /// <summary>Whether the graph is the Monte Carlo (stochastic) variant.</summary>
        public const string MonteCarlo = "monte_carlo";

        /// <summary>JSON of a pruned network's sparsity: totals and, per prunable layer, weights, survivors and
        /// sparsity (only for pruned networks).</summary>
        public const string Sparsity = "sparsity";

        /// <summary>JSON of a pruned network's masks, one per prunable weight in order (null where none): its length and
        /// survivors, and either <c>"nonzero": true</c> (the mask is the weight's non-zero pattern) or base64 of one bit
        /// per weight (only for pruned networks).</summary>
        public const string PruningMasks = "pruning_masks";

        /// <summary>What the learned-noise layers of the trained network learned (JSON: one object per layer with its
        /// method, learned rates, weights and units kept and regularizer; see <c>Layers.LearnedNoise.ToJson</c>).
        /// Written only when the network has such layers.</summary>
        public const string LearnedNoise = "learned_noise";
    }
}
