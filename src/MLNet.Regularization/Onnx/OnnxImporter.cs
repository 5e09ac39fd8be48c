using Google.Protobuf;
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
    /// <exception cref="InvalidDataException">The file is not a model this library exported.</exception>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    public static TrainedModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return Read(File.ReadAllBytes(path), $"'{path}'");
    }

    /// <summary>Loads a model from its ONNX bytes (as <see cref="OnnxExporter.ExportToBytes"/> returns them).</summary>
    /// <exception cref="InvalidDataException">The bytes are not a model this library exported.</exception>
    public static TrainedModel Load(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return Read(bytes, $"the ONNX model ({bytes.Length} bytes)");
    }

    /// <summary>Loads a model from a stream, read to its end.</summary>
    /// <exception cref="InvalidDataException">The stream does not hold a model this library exported.</exception>
    public static TrainedModel Load(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return Read(buffer.ToArray(), $"the ONNX model stream ({buffer.Length} bytes)");
    }

    private static TrainedModel Read(byte[] bytes, string source)
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

        return OnnxGraphReader.Read(model, source);
    }
}
