using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Benchmarks;

/// <summary>
/// `dotnet run -c Release --project tests/MLNet.Regularization.Benchmarks -- pruning`: what pruning buys at inference.
/// (1) LeNet-300-100 against the same network with half its hidden units removed (structured pruning, 150-50):
/// samples/s at batch 1 and 1024 in this engine and in ONNX Runtime (both on all cores). (2) A magnitude-pruned LeNet-300-100 at several sparsities exported with dense initializers,
/// with sparse weights (Constant nodes with a sparse_value) and with graph.sparse_initializer: file size, ONNX
/// Runtime session creation time and samples/s. Weights are random (speed does not depend on training); every rate is
/// the best of five timed rounds after a warm-up.
/// </summary>
internal static class PruningRunner
{
    public static int Run(string[] args)
    {
        _ = args;
        Console.Error.WriteLine($"pruning benchmark: {Environment.ProcessorCount} threads, GEMM path {Gemm.ActivePath}, ONNX Runtime {OrtEnv.Instance().GetVersionString()}");
        using var folder = new TemporaryFolder();
        var dense = Model(LeNet().Build([784], 1));
        var small = Model(StructuredPruning.Prune(dense.Network, new StructuredPruningOptions { Fraction = 0.5 }).Network);

        const string Row = "{0,-34} {1,14} {2,14} {3,14} {4,14}";
        Console.WriteLine("Structured pruning: LeNet-300-100 (266,610 parameters) against 150-50 (125,810), inference samples/s");
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, "network", "C# batch 1", "C# batch 1024", "ORT batch 1", "ORT batch 1024"));
        foreach (var (name, model) in new[] { ("dense 300-100", dense), ("structured 150-50", small) })
        {
            string path = folder.File($"{name.Split(' ')[0]}.onnx");
            OnnxExporter.Export(model, path);
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, name,
                N(CSharpRate(model, 1)), N(CSharpRate(model, 1024)), N(OrtRate(path, 1, out _)), N(OrtRate(path, 1024, out _))));
        }

        Console.WriteLine();
        Console.WriteLine("Unstructured (magnitude) pruning of LeNet-300-100 in ONNX: file size, session creation (best of 5) and ONNX Runtime samples/s");
        const string Sparse = "{0,-10} {1,-22} {2,12} {3,12} {4,14} {5,14}";
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Sparse, "weights", "form", "bytes", "load ms", "batch 1", "batch 1024"));
        foreach (int rounds in new[] { 0, 7, 14, 20 })
        {
            var net = LeNet().Build([784], 1);
            for (int r = 0; r < rounds; r++)
            {
                MagnitudePruning.Prune(net, new MagnitudePruningOptions { Rate = 0.2 });
            }

            var model = Model(net);
            string remaining = (100 * NetworkSparsity.FractionRemaining(net)).ToString("0.0", CultureInfo.InvariantCulture) + "%";
            var forms = new (string Name, byte[] Bytes)[]
            {
                ("dense initializers", OnnxExporter.ExportToBytes(model)),
                ("sparse_value constants", OnnxExporter.ExportToBytes(model, new OnnxExportOptions { SparseWeights = true })),
                ("graph.sparse_initializer", SparseInitializers(model)),
            };
            foreach (var (form, bytes) in forms)
            {
                string path = folder.File($"{rounds}-{form.Split(' ')[0]}.onnx");
                File.WriteAllBytes(path, bytes);
                double one = OrtRate(path, 1, out double loadMs), many = OrtRate(path, 1024, out _);
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Sparse, remaining, form, bytes.Length.ToString("N0", CultureInfo.InvariantCulture), loadMs.ToString("F1", CultureInfo.InvariantCulture), N(one), N(many)));
            }
        }

        return 0;
    }

    private static Network LeNet() => Network.Sequential(
        new Dense(300, WeightInit.GlorotNormal), new ReLU(), new Dense(100, WeightInit.GlorotNormal), new ReLU(), new Dense(10, WeightInit.GlorotNormal));

    private static TrainedModel Model(Network network) =>
        new(network, null, new TrainingHistory([], 0, StopReason.Completed), TaskKind.Multiclass, 10, 0, null, 1, "");

    private static byte[] SparseInitializers(TrainedModel model)
    {
        var proto = OnnxExporter.BuildModel(model, new OnnxExportOptions());
        OnnxPruning.SparsifyWeights(proto.Graph, asSparseInitializers: true);
        return proto.ToByteArray();
    }

    private static float[] Inputs(int batch)
    {
        var x = new float[batch * 784];
        new Rng(3).FillUniform(x);
        return x;
    }

    private static double CSharpRate(TrainedModel model, int batch)
    {
        var x = new Tensor(Inputs(batch), batch, 784);
        return QuickRunner.Rate(() => model.PredictProbabilities(x)) * batch;
    }

    /// <summary>ONNX Runtime samples/s with all cores (intra-op threads = processor count); also the best of five
    /// session creations in milliseconds.</summary>
    private static double OrtRate(string path, int batch, out double loadMs)
    {
        using var options = new SessionOptions { IntraOpNumThreads = Environment.ProcessorCount, InterOpNumThreads = 1 };
        loadMs = double.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            var clock = Stopwatch.StartNew();
            using var probe = new InferenceSession(path, options);
            loadMs = Math.Min(loadMs, clock.Elapsed.TotalMilliseconds);
        }

        using var session = new InferenceSession(path, options);
        using var input = OrtValue.CreateTensorValueFromMemory(Inputs(batch), [batch, 784]);
        using var run = new RunOptions();
        return QuickRunner.Rate(() =>
        {
            using var outputs = session.Run(run, ["features"], [input], ["probabilities"]);
        }) * batch;
    }

    private static string N(double v) => v.ToString("N0", CultureInfo.InvariantCulture);

    private sealed class TemporaryFolder : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mlnetreg-bench-" + Guid.NewGuid().ToString("N"));

        public TemporaryFolder() => Directory.CreateDirectory(Path);

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
