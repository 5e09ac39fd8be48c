using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
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

    private static void OnPath(string pathName, Action body)
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
}
