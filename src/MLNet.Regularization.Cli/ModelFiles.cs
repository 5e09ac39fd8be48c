using MLNet.Regularization.Onnx;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Cli;

/// <summary>Saving and loading models as ONNX files (the engine's exporter and importer).</summary>
internal static class ModelFiles
{
    /// <summary>Writes the model (atomically, through the exporter). The Monte Carlo variant keeps dropout,
    /// Gaussian dropout and DropConnect active, so that the importer gives them back for 'predict --mc-samples';
    /// <paramref name="sparseWeights"/> stores mostly-zero (pruned) weights sparse.</summary>
    public static void Save(TrainedModel model, string path, bool monteCarlo = false, bool sparseWeights = false) =>
        OnnxExporter.Export(model, path, new OnnxExportOptions { MonteCarlo = monteCarlo, SparseWeights = sparseWeights });

    /// <summary>Reads a model this library exported.</summary>
    public static TrainedModel Load(string path) => OnnxImporter.Load(path);
}
