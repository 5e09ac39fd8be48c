using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Tests.Onnx;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Layers;

/// <summary>
/// The gradient checks and seed-reproducibility checks again, with the matrix kernels forced onto each code path
/// (AVX-512, AVX2 + FMA, 128-bit FMA as on ARM64, scalar) for this test thread.
/// </summary>
public class KernelPathTests
{
    public static TheoryData<string> Paths => new() { "Vector512", "Vector256", "Vector128", "Scalar" };

    /// <summary>Runs <paramref name="body"/> with this thread's GEMMs forced onto the named path (restored after).</summary>
    internal static void OnPath(string pathName, Action body)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        var before = Gemm.ForcedPath;
        Gemm.ForcedPath = path;
        try
        {
            Assert.Equal(Gemm.Resolve(path), Gemm.ActivePath);
            body();
        }
        finally
        {
            Gemm.ForcedPath = before;
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Layer_gradients_match_finite_differences_on_every_kernel_path(string path) => OnPath(path, () =>
    {
        var dense = new Dense(20);
        dense.Build([33], new Rng(1));
        GradientCheck.Check(dense, GradientCheck.Random(2, 1f, 9, 33));

        var dropConnect = new DropConnectDense(17, 0.4f);
        dropConnect.Build([21], new Rng(3));
        GradientCheck.Check(dropConnect, GradientCheck.Random(4, 1f, 6, 21));

        var conv = new Conv2D(5, 3, stride: 2, padding: 1);
        conv.Build([2, 9, 9], new Rng(5));
        GradientCheck.Check(conv, GradientCheck.Random(6, 1f, 3, 2, 9, 9));
    });

    [Theory]
    [MemberData(nameof(Paths))]
    public void Training_is_reproducible_by_seed_and_thread_count_on_every_kernel_path(string path) => OnPath(path, () =>
    {
        var data = TestData.Blobs(256, 200, 5, 3);
        float[] Train(int threads, int seed) => new Trainer(new TrainerOptions { Epochs = 2, BatchSize = 64, Seed = seed, MaxThreads = threads })
            .Fit(Network.Sequential(new Dense(160), new BatchNorm(), new ReLU(), new Dropout(0.3f), new DropConnectDense(96, 0.3f), new ReLU(), new Dense(5)), data)
            .Network.Parameters.SelectMany(p => p.Value.Data).ToArray();

        var one = Train(1, 7);
        Assert.Equal(one, Train(2, 7));
        Assert.Equal(one, Train(1, 7));
        Assert.NotEqual(one, Train(1, 8));
    });

    [Theory]
    [MemberData(nameof(Paths))]
    public void Onnx_runtime_agrees_with_predictions_on_every_kernel_path(string path) => OnPath(path, () =>
    {
        // Trained and predicted on the path (one row at a time too: the packed GEMV), exported, run in ONNX Runtime.
        var flat = TestData.Blobs(90, 36, 3, 11);
        var cases = new (MLNet.Regularization.Data.Dataset Data, Network Network)[]
        {
            (flat, Network.Sequential(new Dense(40), new BatchNorm(), new ReLU(), new DropConnectDense(20, 0.3f), new ReLU(), new Dense(3))),
            (flat.Reshape(1, 6, 6), Network.Sequential(new Conv2D(4, 3, padding: "same"), new ReLU(), new MaxPool2D(2), new Flatten(), new Dense(3))),
        };

        using var folder = new TempFolder();
        foreach (var (data, network) in cases)
        {
            var model = new Trainer(new TrainerOptions { Epochs = 2, BatchSize = 30, Seed = 4, MaxThreads = 2 }).Fit(network, data);
            string file = Path.Combine(folder.Path, $"{path}-{data.SampleShape.Length}.onnx");
            OnnxExporter.Export(model, file);
            float[] ours = model.PredictProbabilities(data.Features);
            float[] ort = OnnxTools.Floats(OnnxTools.RunOnnxRuntime(
                [new OrtJob(file, data.Features.Data, [data.Count, .. data.SampleShape], "features", ["probabilities"])], folder.Path)[0]["probabilities"]);
            Assert.Equal(ours.Length, ort.Length);
            for (int i = 0; i < ours.Length; i++)
            {
                Assert.True(Math.Abs(ours[i] - ort[i]) <= 1e-5f, $"{path}, input {Tensor.FormatShape(data.SampleShape)}: probability {i} is {ours[i]} here, {ort[i]} in ONNX Runtime");
            }

            var first = data.Subset([0]).Features;
            float[] one = model.PredictProbabilities(first);
            for (int j = 0; j < one.Length; j++)
            {
                Assert.True(Math.Abs(one[j] - ort[j]) <= 1e-5f, $"{path}: one row alone, probability {j} is {one[j]} here, {ort[j]} in ONNX Runtime");
            }
        }
    });
}
