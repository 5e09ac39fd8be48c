using Google.Protobuf;
using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Onnx;

/// <summary>
/// Reads back a model that <see cref="OnnxExporter"/> wrote: the way to reload a saved model. The result predicts
/// bit for bit as the exported model did. It holds the exported network, so after a normal export inverted and
/// Gaussian dropout are gone (classic dropout comes back from its inference scaling), DropConnect is a Dense with the
/// expected weights and batch norm is folded (unless the export kept it); after a Monte Carlo export the dropout,
/// Gaussian dropout and DropConnect layers come back and <see cref="TrainedModel.PredictWithUncertainty"/> works.
/// Weight initialization settings, which only matter before training, are not stored. The normalization baked into the graph
/// becomes the model's <see cref="TrainedModel.Normalizer"/> again, and the metadata restores the task, class names,
/// seed, trainer settings and history.
/// </summary>
/// <remarks>Only models written by this library are accepted; anything else (another producer, another operator
/// set, an operator or attribute the exporter never writes) is refused with an <see cref="InvalidDataException"/>
/// naming the problem. Score other ONNX models with ONNX Runtime or ML.NET's <c>ApplyOnnxModel</c>.</remarks>
public static class OnnxImporter
{
    /// <summary>Loads the model in the file at <paramref name="path"/>.</summary>
    /// <param name="path">The ONNX file.</param>
    /// <param name="limits">Caps on file size, node count, string length, tensor sizes and class count, checked
    /// before allocating (<see cref="ReaderLimits.Default"/> when null).</param>
    /// <exception cref="InvalidDataException">The file is not a model this library exported, or exceeds a limit.</exception>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    public static TrainedModel Load(string path, ReaderLimits? limits = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        limits = Checked(limits);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        return Read(limits.ReadAll(stream, $"'{path}'"), $"'{path}'", limits);
    }

    /// <summary>Loads a model from its ONNX bytes (as <see cref="OnnxExporter.ExportToBytes"/> returns them).</summary>
    /// <param name="bytes">The model.</param>
    /// <param name="limits">Caps, as for <see cref="Load(string, ReaderLimits?)"/>.</param>
    /// <exception cref="InvalidDataException">The bytes are not a model this library exported, or exceed a limit.</exception>
    public static TrainedModel Load(byte[] bytes, ReaderLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        limits = Checked(limits);
        string source = $"the ONNX model ({bytes.Length} bytes)";
        ReaderLimits.Check(bytes.Length, limits.MaxFileBytes, source, $"{bytes.Length:N0} bytes", nameof(ReaderLimits.MaxFileBytes));
        return Read(bytes, source, limits);
    }

    /// <summary>Loads a model from a stream, read to its end (but never past <see cref="ReaderLimits.MaxFileBytes"/>).</summary>
    /// <param name="stream">The model.</param>
    /// <param name="limits">Caps, as for <see cref="Load(string, ReaderLimits?)"/>.</param>
    /// <exception cref="InvalidDataException">The stream does not hold a model this library exported, or exceeds a limit.</exception>
    public static TrainedModel Load(Stream stream, ReaderLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        limits = Checked(limits);
        byte[] bytes = limits.ReadAll(stream, "the ONNX model stream");
        return Read(bytes, $"the ONNX model stream ({bytes.Length} bytes)", limits);
    }

    private static ReaderLimits Checked(ReaderLimits? limits)
    {
        limits ??= ReaderLimits.Default;
        limits.Validate();
        return limits;
    }

    private static TrainedModel Read(byte[] bytes, string source, ReaderLimits limits)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{source} is not a valid ONNX file: its protobuf data is truncated or corrupt ({e.Message})", e);
        }

        if (model.Graph is null || !model.HasIrVersion)
        {
            throw new InvalidDataException($"{source} is not an ONNX model: it has {(model.HasIrVersion ? "no graph" : "no IR version")}{(bytes.Length == 0 ? " (the file is empty)" : "")}.");
        }

        OnnxModelLimits.Check(model, source, limits);
        return OnnxGraphReader.Read(model, source, limits);
    }
}
