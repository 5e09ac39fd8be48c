using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Training;

public class TrainerTests
{
    private static Network Mlp(float dropout = 0.3f, bool batchNorm = true) => Network.Sequential(
        new Dense(32), batchNorm ? new BatchNorm() : new ReLU(), new ReLU(), new Dropout(dropout),
        new DropConnectDense(16, 0.3f), new GaussianDropout(0.2f), new Tanh(), new Dense(4));

    private static float[] AllWeights(TrainedModel m) =>
        m.Network.Parameters.SelectMany(p => p.Value.Data).Concat(m.Network.Layers.SelectMany(l => l.State).SelectMany(t => t.Data)).ToArray();

    [Fact]
    public void Same_seed_gives_bit_identical_weights_and_other_seeds_differ()
    {
        var data = TestData.Blobs(300, 10, 4, 1);
        TrainedModel Train(int seed, int threads) =>
            new Trainer(new TrainerOptions { Epochs = 3, BatchSize = 32, Seed = seed, MaxThreads = threads, ValidationFraction = 0.2 }).Fit(Mlp(), data);

        var a = AllWeights(Train(5, 2));
        var b = AllWeights(Train(5, 2));
        var c = AllWeights(Train(6, 2));
        Assert.Equal(a.Select(BitConverter.SingleToInt32Bits), b.Select(BitConverter.SingleToInt32Bits));
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void One_and_two_threads_give_bit_identical_weights()
    {
        // Wide enough layers that the kernels really split work between threads.
        var data = TestData.Blobs(512, 300, 10, 2);
        Network Net() => Network.Sequential(new Dense(256), new BatchNorm(), new ReLU(), new Dropout(0.5f), new DropConnectDense(128, 0.5f), new ReLU(), new Dense(10));
        TrainedModel Train(int threads) => new Trainer(new TrainerOptions { Epochs = 2, BatchSize = 128, Seed = 3, MaxThreads = threads }).Fit(Net(), data);
        var one = AllWeights(Train(1));
        var two = AllWeights(Train(2));
        Assert.Equal(one.Select(BitConverter.SingleToInt32Bits), two.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void Fit_does_not_modify_the_given_network()
    {
        var net = Network.Sequential(new Dense(8), new ReLU(), new Dense(4)).Build([10], 1);
        var before = net.Parameters.SelectMany(p => p.Value.Data).ToArray();
        var model = new Trainer(new TrainerOptions { Epochs = 2 }).Fit(net, TestData.Blobs(100, 10, 4, 3));
        Assert.Equal(before, net.Parameters.SelectMany(p => p.Value.Data).ToArray());
        Assert.NotEqual(before, model.Network.Parameters.SelectMany(p => p.Value.Data).ToArray());
    }

    [Fact]
    public void Training_reduces_the_loss_with_every_optimizer()
    {
        var data = TestData.Blobs(400, 8, 3, 4);
        OptimizerOptions[] optimizers =
        [
            new Sgd { LearningRate = 0.05f }, new Sgd { LearningRate = 0.05f, Momentum = 0.9f },
            new Sgd { LearningRate = 0.05f, Momentum = 0.9f, Nesterov = true }, new Adam(), new AdamW { WeightDecay = 0.05f },
        ];
        foreach (var optimizer in optimizers)
        {
            var model = new Trainer(new TrainerOptions { Epochs = 8, BatchSize = 32, Optimizer = optimizer }).Fit(
                Network.Sequential(new Dense(16), new ReLU(), new Dense(3)), data);
            var h = model.History.Epochs;
            Assert.True(h[^1].TrainLoss < 0.6 * h[0].TrainLoss, $"{optimizer.Describe()}: loss {h[0].TrainLoss:F3} -> {h[^1].TrainLoss:F3}");
            Assert.True(model.Evaluate(data).Accuracy > 0.8, optimizer.Describe());
        }
    }

    [Fact]
    public void History_records_every_epoch_and_progress_is_reported()
    {
        var reports = new List<EpochRecord>();
        var progress = new SynchronousProgress<EpochRecord>(reports.Add);
        var model = new Trainer(new TrainerOptions { Epochs = 4, ValidationFraction = 0.25 }).Fit(
            Network.Sequential(new Dense(8), new ReLU(), new Dense(3)), TestData.Blobs(200, 5, 3, 5), progress: progress);
        Assert.Equal(4, model.History.Epochs.Count);
        Assert.Equal(model.History.Epochs, reports);
        Assert.Equal([1, 2, 3, 4], model.History.Epochs.Select(e => e.Epoch));
        Assert.All(model.History.Epochs, e =>
        {
            Assert.NotNull(e.ValidationLoss);
            Assert.InRange(e.TrainAccuracy, 0, 1);
            Assert.True(e.Seconds > 0);
        });
        Assert.Equal(StopReason.Completed, model.History.StopReason);
        Assert.Equal(4, model.History.ModelEpoch);
    }

    [Fact]
    public void Early_stopping_stops_and_restores_the_best_epoch()
    {
        // Noisy labels and a big network: validation loss rises once it memorizes.
        var data = TestData.Blobs(200, 20, 4, 6, spread: 4f);
        var model = new Trainer(new TrainerOptions { Epochs = 200, BatchSize = 16, EarlyStoppingPatience = 3, ValidationFraction = 0.3, Optimizer = new Adam { LearningRate = 0.01f } })
            .Fit(Network.Sequential(new Dense(256), new ReLU(), new Dense(256), new ReLU(), new Dense(4)), data);
        var h = model.History;
        Assert.Equal(StopReason.EarlyStopped, h.StopReason);
        Assert.True(h.Epochs.Count < 200);
        int best = h.Epochs.MinBy(e => e.ValidationLoss!.Value)!.Epoch;
        Assert.Equal(best, h.ModelEpoch);
        Assert.Equal(h.Epochs.Count, best + 3);
    }

    [Fact]
    public void Early_stopping_restored_weights_reproduce_the_best_validation_loss()
    {
        var data = TestData.Blobs(300, 20, 4, 7, spread: 4f);
        var (train, val) = DataSplit.StratifiedSplit(data, 0.3, 1);
        var model = new Trainer(new TrainerOptions { Epochs = 100, BatchSize = 16, EarlyStoppingPatience = 2, Optimizer = new Adam { LearningRate = 0.01f } })
            .Fit(Network.Sequential(new Dense(128), new ReLU(), new Dense(4)), train, val);
        var bestRecord = model.History.Epochs[model.History.ModelEpoch - 1];
        Assert.Equal(bestRecord.ValidationLoss!.Value, model.Evaluate(val).Loss, 5);
    }

    [Fact]
    public void Cancellation_returns_the_model_of_the_last_completed_epoch()
    {
        var data = TestData.Blobs(2000, 20, 4, 8);
        using var cts = new CancellationTokenSource();
        var seen = new List<EpochRecord>();
        var progress = new SynchronousProgress<EpochRecord>(r =>
        {
            seen.Add(r);
            if (r.Epoch == 2)
            {
                cts.Cancel();
            }
        });
        var model = new Trainer(new TrainerOptions { Epochs = 50, BatchSize = 20 }).Fit(
            Network.Sequential(new Dense(16), new ReLU(), new Dense(4)), data, progress: progress, cancellationToken: cts.Token);
        Assert.Equal(StopReason.Cancelled, model.History.StopReason);
        Assert.Equal(2, model.History.Epochs.Count);
        Assert.Equal(2, model.History.ModelEpoch);

        // Same seed, exactly two epochs: identical weights, so the model really is "as of epoch 2".
        var twoEpochs = new Trainer(new TrainerOptions { Epochs = 2, BatchSize = 20 }).Fit(
            Network.Sequential(new Dense(16), new ReLU(), new Dense(4)), data);
        Assert.Equal(twoEpochs.Network.Parameters.SelectMany(p => p.Value.Data), model.Network.Parameters.SelectMany(p => p.Value.Data));
    }

    [Fact]
    public void Cancellation_in_the_middle_of_an_epoch_rolls_back_to_the_epoch_before()
    {
        var data = TestData.Blobs(1000, 10, 4, 9);
        using var cts = new CancellationTokenSource();
        var reference = new Trainer(new TrainerOptions { Epochs = 1, BatchSize = 10 }).Fit(Network.Sequential(new Dense(8), new Dense(4)), data);
        int epochs = 0;
        var model = new Trainer(new TrainerOptions { Epochs = 5, BatchSize = 10, Loss = new CancellingLoss(cts, after: 130) }).Fit(
            Network.Sequential(new Dense(8), new Dense(4)), data, progress: new SynchronousProgress<EpochRecord>(_ => epochs++), cancellationToken: cts.Token);
        Assert.Equal(1, epochs);
        Assert.Equal(StopReason.Cancelled, model.History.StopReason);
        Assert.Equal(reference.Network.Parameters.SelectMany(p => p.Value.Data), model.Network.Parameters.SelectMany(p => p.Value.Data));
    }

    [Fact]
    public void Max_norm_bounds_every_units_incoming_weights()
    {
        var model = new Trainer(new TrainerOptions { Epochs = 3, MaxNorm = 0.5f, Optimizer = new Adam { LearningRate = 0.05f } })
            .Fit(Network.Sequential(new Dense(20), new ReLU(), new Dense(3)), TestData.Blobs(300, 10, 3, 10));
        foreach (var p in model.Network.Parameters.Where(p => p.Kind == ParameterKind.Weight))
        {
            for (int r = 0; r < p.Value.Length; r += p.FanIn)
            {
                double norm = Math.Sqrt(p.Value.Data.AsSpan(r, p.FanIn).ToArray().Sum(v => (double)v * v));
                Assert.True(norm <= 0.5 + 1e-5, $"row norm {norm}");
            }
        }
    }

    [Fact]
    public void L2_shrinks_the_weights()
    {
        var data = TestData.Blobs(300, 10, 3, 11);
        double Norm(float l2) => new Trainer(new TrainerOptions { Epochs = 5, L2 = l2, Optimizer = new Sgd { LearningRate = 0.1f } }).Fit(Network.Sequential(new Dense(20), new ReLU(), new Dense(3)), data)
            .Network.Parameters.Where(p => p.Kind == ParameterKind.Weight).Sum(p => p.Value.Data.Sum(v => (double)v * v));
        Assert.True(Norm(0.1f) < 0.8 * Norm(0f));
    }

    [Fact]
    public void Learning_rate_schedules_follow_their_formulas()
    {
        Assert.Equal(0.1f, new StepDecay(2, 0.1f).Rate(1f, 2, 10), 6);
        Assert.Equal(1f, new StepDecay(2, 0.1f).Rate(1f, 1, 10), 6);
        Assert.Equal(0.25f, new ExponentialDecay(0.5f).Rate(1f, 2, 10), 6);
        Assert.Equal(1f, new CosineDecay().Rate(1f, 0, 10), 6);
        Assert.Equal(0.5f, new CosineDecay().Rate(1f, 5, 10), 6);
        Assert.Equal(0.1f, new CosineDecay(0.1f).Rate(1f, 10, 10), 6);
        var model = new Trainer(new TrainerOptions { Epochs = 3, Schedule = new StepDecay(1, 0.5f), Optimizer = new Sgd { LearningRate = 0.2f } })
            .Fit(Network.Sequential(new Dense(3)), TestData.Blobs(60, 4, 3, 12));
        Assert.Equal([0.2f, 0.1f, 0.05f], model.History.Epochs.Select(e => e.LearningRate));
    }

    [Fact]
    public void Summary_lists_layers_shapes_and_parameter_counts()
    {
        var net = Network.Sequential(new Dense(256), new BatchNorm(), new ReLU(), new Dropout(0.5f), new Dense(10)).Build([784]);
        string s = net.Summary();
        Assert.Contains("Dense", s);
        Assert.Contains("[256]", s);
        Assert.Contains("200,960", s); // 784·256 + 256
        Assert.Contains("512", s);     // BatchNorm γ and β
        Assert.Contains("2,570", s);   // 256·10 + 10
        Assert.Contains("rate=0.5", s);
        Assert.Equal(784L * 256 + 256 + 512 + 2570, net.ParameterCount);
    }

    [Fact]
    public void An_epoch_is_split_into_batches_of_nearly_equal_size()
    {
        var sizes = new List<int>();
        new Trainer(new TrainerOptions { Epochs = 2, BatchSize = 64, Loss = new RecordingLoss(sizes) })
            .Fit(Network.Sequential(new Dense(3)), TestData.Blobs(261, 4, 3, 13));
        Assert.Equal([53, 52, 52, 52, 52, 53, 52, 52, 52, 52], sizes);
    }

    private sealed class RecordingLoss(List<int> sizes) : Loss
    {
        public override float Compute(Tensor output, ReadOnlySpan<float> targets, Tensor gradient)
        {
            sizes.Add(output.BatchSize);
            return new SoftmaxCrossEntropy().Compute(output, targets, gradient);
        }
    }

    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>Softmax cross-entropy that cancels the token after a given number of batches.</summary>
    private sealed class CancellingLoss(CancellationTokenSource cts, int after) : Loss
    {
        private readonly SoftmaxCrossEntropy _inner = new();
        private int _calls;

        public override float Compute(Tensor output, ReadOnlySpan<float> targets, Tensor gradient)
        {
            if (++_calls == after)
            {
                cts.Cancel();
            }

            return _inner.Compute(output, targets, gradient);
        }
    }
}
