using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Benchmarks;

/// <summary>The configurations measured here and by the PyTorch peer (peer/torch_peer.py) — keep them in step.</summary>
internal static class Workloads
{
    public const int BatchSize = 128;
    public const int Hidden = 1024;

    /// <summary>GEMM shapes: the MLP 784-1024-1024-10's forward (X·Wᵀ), backward dW (dYᵀ·X) and dX (dY·W), and 1024³.</summary>
    public static readonly (string Name, bool TransA, bool TransB, int M, int N, int K)[] GemmShapes =
    [
        ("1024x1024x1024 NN", false, false, 1024, 1024, 1024),
        ("128x1024x784 NT (fwd)", false, true, 128, 1024, 784),
        ("128x1024x1024 NT (fwd)", false, true, 128, 1024, 1024),
        ("1024x784x128 TN (dW)", true, false, 1024, 784, 128),
        ("128x784x1024 NN (dX)", false, false, 128, 784, 1024),
    ];

    /// <summary>MLP 784-1024-1024-10 variants.</summary>
    public static readonly string[] MlpConfigurations = ["none", "dropout", "dropconnect", "batchnorm", "batchnorm+dropout"];

    public static Network Mlp(string configuration) => configuration switch
    {
        "none" => Network.Sequential(new Dense(Hidden), new ReLU(), new Dense(Hidden), new ReLU(), new Dense(10)),
        "dropout" => Network.Sequential(new Dropout(0.2f), new Dense(Hidden), new ReLU(), new Dropout(0.5f), new Dense(Hidden), new ReLU(), new Dropout(0.5f), new Dense(10)),
        "dropconnect" => Network.Sequential(new DropConnectDense(Hidden, 0.5f), new ReLU(), new DropConnectDense(Hidden, 0.5f), new ReLU(), new Dense(10)),
        "batchnorm" => Network.Sequential(new Dense(Hidden), new BatchNorm(), new ReLU(), new Dense(Hidden), new BatchNorm(), new ReLU(), new Dense(10)),
        "batchnorm+dropout" => Network.Sequential(new Dense(Hidden), new BatchNorm(), new ReLU(), new Dropout(0.5f), new Dense(Hidden), new BatchNorm(), new ReLU(), new Dropout(0.5f), new Dense(10)),
        _ => throw new ArgumentException($"unknown configuration '{configuration}'."),
    };

    /// <summary>The CNN of the issues: conv32-pool-conv64-pool-dense128-dropout-dense10 (3×3 "same" convolutions),
    /// plain and with batch norm after each convolution.</summary>
    public static readonly string[] CnnConfigurations = ["cnn", "cnn batchnorm"];

    public static Network Cnn(string configuration) => configuration switch
    {
        "cnn" => Network.Sequential(
            new Conv2D(32, 3, padding: "same"), new ReLU(), new MaxPool2D(2), new Conv2D(64, 3, padding: "same"), new ReLU(), new MaxPool2D(2),
            new Flatten(), new Dense(128), new ReLU(), new Dropout(0.5f), new Dense(10)),
        "cnn batchnorm" => Network.Sequential(
            new Conv2D(32, 3, padding: "same"), new BatchNorm(), new ReLU(), new MaxPool2D(2), new Conv2D(64, 3, padding: "same"), new BatchNorm(), new ReLU(), new MaxPool2D(2),
            new Flatten(), new Dense(128), new ReLU(), new Dropout(0.5f), new Dense(10)),
        _ => throw new ArgumentException($"unknown configuration '{configuration}'."),
    };

    /// <summary>LSTM(28 → 128) on the row sequences (28 steps of 28 pixels), then Dense(10): plain and with variational
    /// dropout on the inputs and the recurrent state (Gal &amp; Ghahramani; per-sequence masks).</summary>
    public static readonly string[] LstmConfigurations = ["lstm", "lstm variational"];

    public static Network Lstm(string configuration) => configuration switch
    {
        "lstm" => Network.Sequential(new LSTM(128), new Dense(10)),
        "lstm variational" => Network.Sequential(new LSTM(128, false, new VariationalRecurrentDropout(0.25f, 0.25f)), new Dense(10)),
        _ => throw new ArgumentException($"unknown configuration '{configuration}'."),
    };

    /// <summary>The committed subset as row sequences [5,000, 28, 28].</summary>
    public static Dataset Rows => _rows ??= Train.Reshape(28, 28);

    private static Dataset? _rows;
    private static Dataset? _train;
    private static Dataset? _images;

    /// <summary>The committed subset as images [5,000, 1, 28, 28].</summary>
    public static Dataset Images => _images ??= Train.Reshape(1, 28, 28);

    /// <summary>The committed Fashion-MNIST subset (5,000 × 784).</summary>
    public static Dataset Train => _train ??= SampleData.LoadFashionMnistSmall().Train;

    /// <summary>A ready training step for a network on <see cref="Train"/>, plus batches cut from it.</summary>
    public static (TrainingStep Step, (Tensor X, float[] Targets, int[] Labels)[] Batches) TrainingSetup(Network network, int threads, Dataset? dataset = null)
    {
        var data = dataset ?? Train;
        network.Build(data.SampleShape, new Rng(1));
        var options = new TrainerOptions { BatchSize = BatchSize, MaxThreads = threads, Optimizer = new Adam() };
        var step = new TrainingStep(network, new SoftmaxCrossEntropy(), options, new Rng(2), data.Task, data.Count);
        int count = data.Count / BatchSize;
        var batches = new (Tensor, float[], int[])[count];
        for (int b = 0; b < count; b++)
        {
            var subset = data.Subset(Enumerable.Range(b * BatchSize, BatchSize).ToArray());
            batches[b] = (subset.Features, subset.Labels!.Select(l => (float)l).ToArray(), subset.Labels!);
        }

        return (step, batches);
    }
}
