using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Onnx;

/// <summary>
/// Writes a <see cref="TrainedModel"/> as an ONNX model (opset 17, IR version 8) that ONNX Runtime, ML.NET's
/// <c>ApplyOnnxModel</c> or any ONNX tool can run.
/// </summary>
/// <remarks>
/// <para>The graph is the model's <see cref="TrainedModel.InferenceNetwork"/>: DropConnect as a Gemm with its
/// expected weights, batch norm folded into the preceding Gemm (unless <see cref="OnnxExportOptions.FoldBatchNorm"/>
/// is off), inverted dropout and Gaussian dropout as nothing, classic dropout as its scaling. The fitted
/// <see cref="Normalizer"/> comes first as <c>Sub(offset)</c> then <c>Mul(scale)</c>, the order C# applies it in, so
/// the model takes raw features. Convolutional layers become <c>Conv</c> (DropConnectConv2D with its expected kernels,
/// batch norm folded per channel unless asked not to), <c>MaxPool</c>, <c>AveragePool</c>, <c>GlobalAveragePool</c>
/// + <c>Flatten</c> and <c>Flatten</c>; the training-only image regularizers become nothing, and max-pooling dropout
/// exports only with its plain-max inference rule (otherwise a <see cref="NotSupportedException"/>). Outputs: <c>probabilities</c> (Softmax over axis 1; for binary models
/// [batch, 2] = P(0), P(1)) and <c>predicted_label</c> (ArgMax, int64), or <c>score</c> for regression.</para>
/// <para>metadata_props record the library version, the layers with their regularizer settings, the class
/// labels, the training seed, the task, the normalization, the trainer settings and the training history; for a
/// pruned network also the sparsity per layer and the pruning masks (pruned weights are exact zeros in the graph).</para>
/// </remarks>
public static class OnnxExporter
{
    /// <summary>Test hook: called after part of the file has been written, to simulate a failure mid-write.</summary>
    internal static readonly AsyncLocal<Action?> MidWriteHook = new();

    /// <summary>Writes the model to <paramref name="path"/>. The bytes go to a temporary file in the same folder
    /// that is then renamed over the target, so a failed export never leaves a half-written model (and never
    /// damages an existing file at <paramref name="path"/>).</summary>
    /// <param name="model">The trained model.</param>
    /// <param name="path">Where to write, conventionally <c>*.onnx</c>; its folder must exist.</param>
    /// <param name="options">Names and variants; defaults when null.</param>
    /// <exception cref="DirectoryNotFoundException">The folder of <paramref name="path"/> does not exist.</exception>
    /// <exception cref="NotSupportedException">The network holds a layer without an ONNX form.</exception>
    public static void Export(TrainedModel model, string path, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        byte[] bytes = ExportToBytes(model, options);
        WriteAtomically(path, bytes);
    }

    /// <summary>The model as ONNX bytes (what <see cref="Export"/> writes), for in-memory use such as ML.NET.</summary>
    /// <param name="model">The trained model.</param>
    /// <param name="options">Names and variants; defaults when null.</param>
    /// <exception cref="NotSupportedException">The network holds a layer without an ONNX form.</exception>
    public static byte[] ExportToBytes(TrainedModel model, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new OnnxExportOptions();
        options.Validate();
        return BuildModel(model, options).ToByteArray();
    }

    internal static ModelProto BuildModel(TrainedModel model, OnnxExportOptions options)
    {
        var network = options.MonteCarlo ? InferenceFolding.ForMonteCarlo(model.Network, options.FoldBatchNorm)
            : options.FoldBatchNorm ? model.InferenceNetwork
            : InferenceFolding.ForInference(model.Network, foldBatchNorm: false);
        if (options.MonteCarlo && !network.Layers.Any(l => l.IsStochastic))
        {
            throw new ArgumentException("a Monte Carlo export needs a dropout, Gaussian dropout or DropConnect layer with a positive rate; this network has none, so every run would give the same output.", nameof(options));
        }

        var g = new OnnxGraphBuilder("mlnet_regularization", OnnxFormat.BatchDimension);
        var sampleShape = network.InputShape;
        g.AddInput(options.InputName, OnnxElementType.Float, sampleShape);
        if (model.Normalizer is { } normalizer)
        {
            if (normalizer.FeatureCount != network.InputShape.ToArray().Aggregate(1, (a, b) => a * b))
            {
                throw new InvalidOperationException($"the model's normalizer expects {normalizer.FeatureCount} features but the network's input is {Tensors.Tensor.FormatShape(network.InputShape)}.");
            }

            g.BeginScope("normalize", $"Normalizer({normalizer.Kind}): (x - offset) * scale, fitted on the training data");
            g.Then("Sub", [g.AddInitializer("offset", normalizer.Offset.Span, sampleShape)]);
            g.Then("Mul", [g.AddInitializer("scale", normalizer.Scale.Span, sampleShape)]);
        }

        var ctx = new OnnxExportContext(options.MonteCarlo, options.MonteCarloSeed);
        for (int i = 0; i < network.Layers.Count; i++)
        {
            var layer = network.Layers[i];
            g.BeginScope($"l{i}_{layer.Name.ToLowerInvariant()}", Describe(layer));
            layer.ExportOnnx(g, ctx);
        }

        AddOutputs(g, model, network, options);
        if (options.SparseWeights)
        {
            OnnxPruning.SparsifyWeights(g.Graph);
        }

        var proto = new ModelProto
        {
            IrVersion = OnnxFormat.IrVersion,
            ProducerName = OnnxFormat.ProducerName,
            ProducerVersion = OnnxFormat.ProducerVersion,
            ModelVersion = 1,
            DocString = $"{model.Task} model trained by MLNet.Regularization{(options.MonteCarlo ? " (Monte Carlo variant: every run is one stochastic sample)" : "")}: {model.Network.Describe()}",
            Graph = g.Graph,
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OnnxFormat.Opset });
        foreach (var (key, value) in Metadata(model, network, options))
        {
            proto.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }

        return proto;
    }

    private static void AddOutputs(OnnxGraphBuilder g, TrainedModel model, Network network, OnnxExportOptions options)
    {
        int width = network.OutputShape.Length == 1 ? network.OutputShape[0] : -1;
        g.BeginScope("output", model.Task.ToString());
        switch (model.Task)
        {
            case TaskKind.Multiclass:
                RequireWidth(model.ClassCount);
                g.AddNode("Softmax", [g.Current], [OnnxAttribute.Int("axis", 1)], options.ProbabilitiesName);
                break;

            case TaskKind.Binary:
                // One logit z: P(1) = σ(z), P(0) = 1 − P(1), concatenated as [batch, 2] like PredictProbabilities.
                RequireWidth(1);
                string p1 = g.AddNode("Sigmoid", [g.Current]);
                string p0 = g.AddNode("Sub", [g.AddScalar("one", 1f), p1]);
                g.AddNode("Concat", [p0, p1], [OnnxAttribute.Int("axis", 1)], options.ProbabilitiesName);
                break;

            default:
                RequireWidth(model.TargetSize);
                g.AddNode("Identity", [g.Current], output: options.ScoreName);
                g.AddOutput(options.ScoreName, OnnxElementType.Float, [model.TargetSize]);
                return;
        }

        g.AddNode("ArgMax", [options.ProbabilitiesName], [OnnxAttribute.Int("axis", 1), OnnxAttribute.Int("keepdims", 0)], options.LabelName);
        g.AddOutput(options.ProbabilitiesName, OnnxElementType.Float, [model.ProbabilityWidth]);
        g.AddOutput(options.LabelName, OnnxElementType.Int64, []);

        void RequireWidth(int expected)
        {
            if (width != expected)
            {
                throw new InvalidOperationException($"the network's output has shape {Tensors.Tensor.FormatShape(network.OutputShape)} but a {model.Task} model needs [{expected}].");
            }
        }
    }

    private static IEnumerable<(string Key, string Value)> Metadata(TrainedModel model, Network exported, OnnxExportOptions options)
    {
        var inv = CultureInfo.InvariantCulture;
        yield return (OnnxFormat.Keys.LibraryVersion, OnnxFormat.LibraryVersion);
        yield return (OnnxFormat.Keys.Task, model.Task.ToString());
        yield return (OnnxFormat.Keys.Layers, model.Network.Describe());
        yield return (OnnxFormat.Keys.ExportedLayers, exported.Describe());
        if (model.Task == TaskKind.Regression)
        {
            yield return (OnnxFormat.Keys.TargetSize, model.TargetSize.ToString(inv));
        }
        else
        {
            var labels = model.ClassNames ?? Enumerable.Range(0, model.ClassCount).Select(i => i.ToString(inv)).ToArray();
            yield return (OnnxFormat.Keys.ClassLabels, JsonSerializer.Serialize(labels));
            yield return (OnnxFormat.Keys.ClassNamesGiven, model.ClassNames is null ? "false" : "true");
        }

        yield return (OnnxFormat.Keys.Seed, model.Seed.ToString(inv));
        yield return (OnnxFormat.Keys.Normalization, model.Normalizer?.Kind.ToString() ?? "None");
        yield return (OnnxFormat.Keys.TrainingSettings, model.TrainingSettings);
        yield return (OnnxFormat.Keys.History, OnnxHistoryJson.Write(model.History));
        yield return (OnnxFormat.Keys.BatchNormFolded, options.FoldBatchNorm ? "true" : "false");
        yield return (OnnxFormat.Keys.MonteCarlo, options.MonteCarlo ? "true" : "false");
        foreach (var entry in OnnxPruning.Metadata(exported))
        {
            yield return entry;
        }

        if (Layers.LearnedNoise.Of(model.Network).Count > 0)
        {
            yield return (OnnxFormat.Keys.LearnedNoise, Layers.LearnedNoise.ToJson(model.Network));
        }
    }

    private static string Describe(Layer layer)
    {
        string settings = layer.Describe();
        return settings.Length == 0 ? layer.Name : $"{layer.Name}({settings})";
    }

    /// <summary>Through <see cref="AtomicFile"/>: whole or not at all, errors naming the target, and the temporary files
    /// of exports killed mid-write deleted by the next export of the same file.</summary>
    private static void WriteAtomically(string path, byte[] bytes)
    {
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' is not a file path.", nameof(path));
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"cannot export the model to '{path}': the folder '{directory}' does not exist.");
        }

        AtomicFile.Write(path, stream =>
        {
            int half = bytes.Length / 2;
            stream.Write(bytes, 0, half);
            MidWriteHook.Value?.Invoke();
            stream.Write(bytes, half, bytes.Length - half);
        });
    }
}
