using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Training;

/// <summary>Issue 15: a run interrupted mid-epoch, at an epoch boundary or while writing a checkpoint, and resumed
/// from its checkpoint, ends with the same weights, bit for bit, as a run that was never interrupted.</summary>
public sealed class CheckpointResumeTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static readonly Lazy<Dataset> Data = new(() => TestData.Blobs(150, 6, 3, 11));

    // Dropout (mask stream), batch norm (running statistics), Adam (moments and step count), a schedule, shuffling,
    // a validation split and early stopping (best-epoch snapshot): everything a checkpoint must carry.
    private static Network Net() => Network.Sequential(new Dense(12), new BatchNorm(), new ReLU(), new Dropout(0.3f), new Dense(3));

    private TrainerOptions Options(int? everyEpochs = null, TimeSpan? interval = null) => new()
    {
        Epochs = 4,
        BatchSize = 16,
        Seed = 5,
        ValidationFraction = 0.2,
        EarlyStoppingPatience = 10,
        Schedule = new StepDecay(2, 0.5f),
        Optimizer = new Adam { LearningRate = 0.01f },
        CheckpointPath = _folder.File("run.ckpt"),
        CheckpointEveryEpochs = everyEpochs,
        CheckpointInterval = interval,
    };

    private static readonly Lazy<TrainedModel> Uninterrupted = new(() =>
        new Trainer(new TrainerOptions { Epochs = 4, BatchSize = 16, Seed = 5, ValidationFraction = 0.2, EarlyStoppingPatience = 10, Schedule = new StepDecay(2, 0.5f), Optimizer = new Adam { LearningRate = 0.01f } })
            .Fit(Net(), Data.Value));

    /// <summary>Every parameter and state tensor equal, bit for bit.</summary>
    internal static void AssertSameWeights(Network expected, Network actual)
    {
        Assert.Equal(expected.Layers.Count, actual.Layers.Count);
        for (int i = 0; i < expected.Layers.Count; i++)
        {
            var a = expected.Layers[i].Parameters.Select(p => p.Value).Concat(expected.Layers[i].State).ToList();
            var b = actual.Layers[i].Parameters.Select(p => p.Value).Concat(actual.Layers[i].State).ToList();
            Assert.Equal(a.Count, b.Count);
            for (int t = 0; t < a.Count; t++)
            {
                var x = a[t].Span.ToArray().Select(BitConverter.SingleToInt32Bits);
                var y = b[t].Span.ToArray().Select(BitConverter.SingleToInt32Bits);
                Assert.True(x.SequenceEqual(y), $"layer {i} ({expected.Layers[i].Name}) tensor {t} differs");
            }
        }
    }

    private void AssertResumesToTheUninterruptedRun()
    {
        var resumed = new Trainer(Options()).Resume(_folder.File("run.ckpt"), Net(), Data.Value);
        var reference = Uninterrupted.Value;
        AssertSameWeights(reference.Network, resumed.Network);
        Assert.Equal(reference.History.Epochs.Select(e => e.TrainLoss), resumed.History.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(reference.History.Epochs.Select(e => e.ValidationLoss), resumed.History.Epochs.Select(e => e.ValidationLoss));
        Assert.Equal(reference.History.ModelEpoch, resumed.History.ModelEpoch);
        Assert.Equal(StopReason.Completed, resumed.History.StopReason);
        Assert.Empty(Directory.GetFiles(_folder.Path, "*.tmp"));
    }

    [Fact]
    public void Cancelled_mid_epoch_writes_a_checkpoint_that_resumes_bit_for_bit()
    {
        using var cancel = new CancellationTokenSource();
        var trainer = new Trainer(Options()) { AfterBatch = (epoch, batch, _) => { if (epoch == 1 && batch == 3) cancel.Cancel(); } };
        var cancelled = trainer.Fit(Net(), Data.Value, cancellationToken: cancel.Token);
        Assert.Equal(StopReason.Cancelled, cancelled.History.StopReason);
        Assert.Equal(1, cancelled.History.ModelEpoch);
        AssertResumesToTheUninterruptedRun();
    }

    [Fact]
    public void A_crash_after_an_epoch_boundary_checkpoint_resumes_bit_for_bit()
    {
        var trainer = new Trainer(Options(everyEpochs: 1)) { AfterBatch = (epoch, batch, _) => { if (epoch == 2 && batch == 2) throw new SimulatedCrash(); } };
        Assert.Throws<SimulatedCrash>(() => trainer.Fit(Net(), Data.Value));
        AssertResumesToTheUninterruptedRun();
    }

    [Fact]
    public void A_crash_during_a_checkpoint_write_keeps_the_previous_checkpoint_which_resumes_bit_for_bit()
    {
        int writes = 0;
        var trainer = new Trainer(Options(everyEpochs: 1)) { CheckpointStreamWrapper = stream => ++writes == 3 ? new FailingStream(stream, failAfter: 1000) : stream };
        Assert.Throws<SimulatedCrash>(() => trainer.Fit(Net(), Data.Value));
        Assert.Equal(3, writes);
        Assert.Equal(2, TrainingCheckpoint.Read(_folder.File("run.ckpt")).Header.Epoch); // the epoch-2 checkpoint survived
        AssertResumesToTheUninterruptedRun();
    }

    [Fact]
    public void Time_based_checkpoints_land_mid_epoch_and_resume_bit_for_bit()
    {
        // An interval of one tick: a checkpoint after every batch. Crash in the middle of epoch 3.
        var trainer = new Trainer(Options(interval: TimeSpan.FromTicks(1))) { AfterBatch = (epoch, batch, _) => { if (epoch == 2 && batch == 5) throw new SimulatedCrash(); } };
        Assert.Throws<SimulatedCrash>(() => trainer.Fit(Net(), Data.Value));
        var header = TrainingCheckpoint.Read(_folder.File("run.ckpt")).Header;
        Assert.Equal((2, 4), (header.Epoch, header.Batch));
        AssertResumesToTheUninterruptedRun();
    }

    [Fact]
    public void Pruning_masks_are_saved_and_a_pruned_run_resumes_bit_for_bit()
    {
        Network Pruned()
        {
            var net = Net().Build(Data.Value.SampleShape, 5);
            var weight = net.Layers[0].Parameters[0];
            weight.SetMask(WeightMask.FromFlags(Enumerable.Range(0, weight.Value.Length).Select(i => i % 3 != 0).ToArray()));
            return net;
        }

        var options = Options();
        options.CheckpointPath = null;
        var reference = new Trainer(options).Fit(Pruned(), Data.Value);

        using var cancel = new CancellationTokenSource();
        new Trainer(Options()) { AfterBatch = (epoch, batch, _) => { if (epoch == 1 && batch == 3) cancel.Cancel(); } }.Fit(Pruned(), Data.Value, cancellationToken: cancel.Token);
        var checkpoint = TrainingCheckpoint.Read(_folder.File("run.ckpt"));
        Assert.Contains(checkpoint.Floats, f => f.Name == "mask/0/0:weight");

        var resumed = new Trainer(Options()).Resume(_folder.File("run.ckpt"), Pruned(), Data.Value);
        AssertSameWeights(reference.Network, resumed.Network);
        var mask = resumed.Network.Layers[0].Parameters[0].Mask!;
        Assert.Equal(reference.Network.Layers[0].Parameters[0].Mask!.ToFlags(), mask.ToFlags());
        Assert.All(Enumerable.Range(0, mask.Length).Where(i => !mask.IsKept(i)), i => Assert.Equal(0f, resumed.Network.Layers[0].Parameters[0].Value.Span[i]));
    }

    [Fact]
    public void A_damaged_checkpoint_is_refused_by_its_content_hash()
    {
        using var cancel = new CancellationTokenSource();
        new Trainer(Options()) { AfterBatch = (_, batch, _) => { if (batch == 2) cancel.Cancel(); } }.Fit(Net(), Data.Value, cancellationToken: cancel.Token);
        string path = _folder.File("run.ckpt");
        byte[] bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<InvalidDataException>(() => new Trainer(Options()).Resume(path, Net(), Data.Value));
        Assert.Contains("content hash", error.Message);
    }

    [Fact]
    public void A_checkpoint_of_another_run_is_refused_naming_what_differs()
    {
        using var cancel = new CancellationTokenSource();
        new Trainer(Options()) { AfterBatch = (_, batch, _) => { if (batch == 2) cancel.Cancel(); } }.Fit(Net(), Data.Value, cancellationToken: cancel.Token);
        string path = _folder.File("run.ckpt");

        var seed = Options();
        seed.Seed = 6;
        Assert.Contains("'seed=5'", Assert.Throws<ArgumentException>(() => new Trainer(seed).Resume(path, Net(), Data.Value)).Message);
        var otherNet = Network.Sequential(new Dense(13), new BatchNorm(), new ReLU(), new Dropout(0.3f), new Dense(3));
        Assert.Contains("network", Assert.Throws<ArgumentException>(() => new Trainer(Options()).Resume(path, otherNet, Data.Value)).Message);
        Assert.Contains("data", Assert.Throws<ArgumentException>(() => new Trainer(Options()).Resume(path, Net(), TestData.Blobs(150, 6, 3, 12))).Message);
    }

    [Fact]
    public void A_well_sealed_checkpoint_with_an_inconsistent_position_is_refused()
    {
        // Found by the long fuzz run: a batch position whose first example does not match the batch threw an
        // ArgumentOutOfRangeException from inside the training loop.
        using var cancel = new CancellationTokenSource();
        new Trainer(Options()) { AfterBatch = (_, batch, _) => { if (batch == 2) cancel.Cancel(); } }.Fit(Net(), Data.Value, cancellationToken: cancel.Token);
        string path = _folder.File("run.ckpt");
        var valid = TrainingCheckpoint.Read(path);
        foreach (var header in new[] { valid.Header with { Start = valid.Header.Start + 7 }, valid.Header with { Batch = 99 }, valid.Header with { Epoch = 3 }, valid.Header with { LearningRateScale = float.NaN } })
        {
            var edited = new TrainingCheckpoint(header);
            edited.Floats.AddRange(valid.Floats);
            edited.Ints.AddRange(valid.Ints);
            edited.Write(path);
            var error = Assert.Throws<InvalidDataException>(() => new Trainer(Options()).Resume(path, Net(), Data.Value));
            Assert.Contains("checkpoint", error.Message);
        }
    }

    [Fact]
    public void Checkpoint_reader_limits_are_named()
    {
        using var cancel = new CancellationTokenSource();
        new Trainer(Options()) { AfterBatch = (_, batch, _) => { if (batch == 2) cancel.Cancel(); } }.Fit(Net(), Data.Value, cancellationToken: cancel.Token);
        string path = _folder.File("run.ckpt");
        Assert.Contains("ReaderLimits.MaxFileBytes (100)", Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Read(path, new ReaderLimits { MaxFileBytes = 100 })).Message);
        Assert.Contains("ReaderLimits.MaxNodeCount (3)", Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Read(path, new ReaderLimits { MaxNodeCount = 3 })).Message);
        Assert.Contains("ReaderLimits.MaxTensorElements (10)", Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Read(path, new ReaderLimits { MaxTensorElements = 10 })).Message);
        Assert.Contains("ReaderLimits.MaxStringLength (50)", Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Read(path, new ReaderLimits { MaxStringLength = 50 })).Message);
    }

    private sealed class SimulatedCrash : Exception;

    /// <summary>Passes writes through until <c>failAfter</c> bytes, then fails as a dying process or a full disk would.</summary>
    private sealed class FailingStream(Stream inner, int failAfter) : Stream
    {
        private int _written;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _written;

        public override long Position { get => _written; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count)
        {
            int allowed = Math.Min(count, failAfter - _written);
            inner.Write(buffer, offset, allowed);
            _written += allowed;
            if (allowed < count)
            {
                throw new SimulatedCrash();
            }
        }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
