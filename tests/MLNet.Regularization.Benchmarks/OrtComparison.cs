using Microsoft.ML.OnnxRuntime;
using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Benchmarks;

/// <summary>
/// <c>PredictProbabilities</c> against ONNX Runtime (the Microsoft.ML.OnnxRuntime package, in process, as many
/// intra-op threads as we use) on the same exported MLP 784-1024-1024-10, one row at a time and 1,000 rows at once:
/// the question a user scoring rows in C# asks is whether exporting to ONNX would be faster.
/// </summary>
internal static class OrtComparison
{
    public static void Measure(int threads, List<Row> rows)
    {
        var network = Workloads.Mlp("none");
        network.Build([784], new Rng(1));
        var model = new TrainedModel(network, null, new TrainingHistory([], 0, StopReason.Completed), TaskKind.Multiclass, 10, 0, null, 1, "");
        byte[] onnx = OnnxExporter.ExportToBytes(model);
        string peerName = $"ORT {OrtEnv.Instance().GetVersionString()}";
        using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1 };
        using var session = new InferenceSession(onnx, options);
        using var run = new RunOptions();
        foreach (int batch in new[] { 1, 1000 })
        {
            var values = new float[batch * 784];
            new Rng(3).FillUniform(values);
            var x = new Tensor(values, batch, 784);
            double ours = QuickRunner.Rate(() => model.PredictProbabilities(x)) * batch;
            using var input = OrtValue.CreateTensorValueFromMemory(values, [batch, 784]);
            double theirs = QuickRunner.Rate(() =>
            {
                using var outputs = session.Run(run, ["features"], [input], ["probabilities"]);
            }) * batch;
            rows.Add(new("MLP vs ORT", $"PredictProb. batch {batch}", ours, "samples/s", theirs, peerName));
        }
    }
}
