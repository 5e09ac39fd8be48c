using System.Runtime.InteropServices;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Tests.Layers;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Tensors;

/// <summary>
/// The few-row inference path (a GEMV over weights packed once) against the GEMM it replaces: bit-identical on every
/// kernel path, with 1 or 2 threads, and wired into Dense so that a model scores one row exactly as it scores that row
/// inside a large batch.
/// </summary>
public class PackedWeightsTests
{
    public static TheoryData<string> Paths => KernelPathTests.Paths;

    private static void OnPath(string pathName, Action body) => KernelPathTests.OnPath(pathName, body);

    private static float[] Random(Random rng, int length) =>
        Enumerable.Range(0, length).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();

    [Theory]
    [MemberData(nameof(Paths))]
    public void Gemv_gives_the_bits_of_the_gemm_on_every_path(string path) => OnPath(path, () =>
    {
        var rng = new Random(41);

        // One output, a classifier head (n < one panel), edge panels, several k blocks, k not a multiple of anything,
        // and a layer large enough to be split over two threads.
        foreach ((int n, int k) in new[] { (1, 1), (10, 784), (70, 300), (130, 600), (1030, 513), (1024, 784) })
        {
            float[] w = Random(rng, n * k);
            var packed = new PackedWeights(w, n, k);
            foreach (int m in new[] { 1, 2, 3, 4 })
            {
                const int Pad = 3;
                int ldx = k + Pad, ldc = n + Pad;
                float[] x = Random(rng, m * ldx);
                float[] bias = Random(rng, n);
                foreach ((bool withBias, GemmActivation activation) in new[] { (false, GemmActivation.None), (true, GemmActivation.ReLU), (true, GemmActivation.None) })
                {
                    var b = withBias ? bias : default(ReadOnlySpan<float>);
                    float[] expected = Enumerable.Repeat(7.5f, m * ldc).ToArray();
                    Gemm.MultiplyAddBias(false, true, m, n, k, x, ldx, w, k, b, activation, expected, ldc, threads: 1);
                    foreach (int threads in new[] { 1, 2 })
                    {
                        float[] got = Enumerable.Repeat(7.5f, m * ldc).ToArray();
                        packed.Multiply(m, x, ldx, b, activation, got, ldc, threads);
                        Assert.True(
                            MemoryMarshal.Cast<float, int>(expected.AsSpan()).SequenceEqual(MemoryMarshal.Cast<float, int>(got.AsSpan())),
                            $"{Gemm.ActivePath} {m}x{n}x{k} bias={withBias} {activation} threads={threads}: GEMV differs from GEMM (padding included)");
                    }
                }
            }
        }
    });

    [Theory]
    [MemberData(nameof(Paths))]
    public void A_model_scores_one_row_as_it_scores_that_row_in_a_batch(string path) => OnPath(path, () =>
    {
        // Dense + folded batch norm + ReLU epilogues + a DropConnect turned Dense: every Dense of the inference network.
        var data = TestData.Blobs(300, 120, 4, 9);
        var model = new Trainer(new TrainerOptions { Epochs = 1, BatchSize = 50, Seed = 3, MaxThreads = 2 })
            .Fit(Network.Sequential(new Dense(300), new BatchNorm(), new ReLU(), new Dropout(0.3f), new DropConnectDense(70, 0.3f), new ReLU(), new Dense(4)), data);

        var batch = data.Subset(Enumerable.Range(0, 40).ToArray()).Features;
        float[] all = model.PredictProbabilities(batch);
        foreach (int row in new[] { 0, 17, 39 })
        {
            var one = new Tensor(batch.Span.Slice(row * 120, 120).ToArray(), 1, 120);
            float[] single = model.PredictProbabilities(one);
            Assert.True(
                MemoryMarshal.Cast<float, int>(all.AsSpan(row * 4, 4)).SequenceEqual(MemoryMarshal.Cast<float, int>(single.AsSpan())),
                $"{Gemm.ActivePath}: row {row} alone [{string.Join(", ", single)}] differs from the batch [{string.Join(", ", all.AsSpan(row * 4, 4).ToArray())}]");
        }

        // Three rows at once take the GEMV too (at most PackedWeights.MaxRows).
        var three = new Tensor(batch.Span.Slice(5 * 120, 3 * 120).ToArray(), 3, 120);
        Assert.Equal(all.AsSpan(5 * 4, 12).ToArray(), model.PredictProbabilities(three));
    });

    [Fact]
    public void Training_a_frozen_dense_drops_its_packed_weights()
    {
        var dense = new Dense(70);
        dense.Build([90], new Rng(1));
        dense.FreezeForInference();
        var x = new Tensor(Random(new Random(5), 90), 1, 90);
        var ctx = new ForwardContext(ForwardMode.Inference);
        _ = dense.Forward(x, ctx); // packs the weights

        // A training step changes the weights (here by hand, as an optimizer would after a training forward pass).
        _ = dense.Forward(new Tensor(Random(new Random(6), 2 * 90), 2, 90), new ForwardContext(ForwardMode.Train, new Rng(2)));
        dense.Weight.Value.Span[0] += 1f;
        float[] got = dense.Forward(x, ctx).Data[..70];

        float[] expected = new float[70];
        Gemm.MultiplyAddBias(false, true, 1, 70, 90, x.Span, 90, dense.Weight.Value.Span, 90, dense.Bias!.Value.Span, GemmActivation.None, expected, 70);
        Assert.Equal(expected, got);
    }

    [Fact]
    public void Packing_rejects_weights_of_the_wrong_size()
    {
        var e = Assert.Throws<ArgumentException>(() => new PackedWeights(new float[10], 3, 4));
        Assert.Contains("10 weights for 3x4", e.Message);
    }
}
