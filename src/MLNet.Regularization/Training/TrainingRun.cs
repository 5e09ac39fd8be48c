using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Training;

/// <summary>
/// Everything a training run carries from one mini-batch to the next: the network, the optimizer's moments, the
/// random streams' counters, the epoch's example order and position, the partial epoch sums, the snapshots of the
/// last finished and the best epoch, early-stopping and divergence bookkeeping, and the history. <see cref="Capture"/>
/// freezes it into a <see cref="TrainingCheckpoint"/> and <see cref="Restore"/> thaws one, so that a resumed run
/// continues with the very same bits as one that was never interrupted.
/// </summary>
internal sealed class TrainingRun
{
    private readonly TrainerOptions _options;
    private readonly Lazy<string> _dataFingerprint;
    private readonly string? _ordering;

    /// <param name="options">The run's settings.</param>
    /// <param name="net">The network being trained.</param>
    /// <param name="step">Its training step.</param>
    /// <param name="shuffle">The shuffling stream.</param>
    /// <param name="examples">The number of training examples.</param>
    /// <param name="dataFingerprint">Computes the data's fingerprint (a pass over streamed data: only when a checkpoint
    /// is first written or read).</param>
    /// <param name="ordering">What besides the options decides the example order (a shuffle buffer's size), or null.</param>
    public TrainingRun(TrainerOptions options, Network net, TrainingStep step, Rng shuffle, int examples, Func<string> dataFingerprint, string? ordering)
    {
        _options = options;
        _dataFingerprint = new Lazy<string>(dataFingerprint);
        _ordering = ordering;
        Net = net;
        Step = step;
        ShuffleRng = shuffle;
        Order = Enumerable.Range(0, examples).ToArray();
        LastComplete = net.Clone();
        Best = options.EarlyStoppingPatience is null ? null : net.Clone();
    }

    public Network Net { get; }

    public TrainingStep Step { get; }

    public Rng ShuffleRng { get; }

    /// <summary>The examples in this epoch's order (shuffled when the epoch starts).</summary>
    public int[] Order { get; }

    /// <summary>The weights of the last finished epoch (what cancellation and divergence give back).</summary>
    public Network LastComplete { get; }

    /// <summary>The weights of the best epoch (early stopping), or null.</summary>
    public Network? Best { get; }

    /// <summary>Zero-based epoch in progress.</summary>
    public int Epoch { get; set; }

    /// <summary>Zero-based batch to run next within the epoch; 0 means the epoch has not started (not shuffled).</summary>
    public int Batch { get; set; }

    /// <summary>Position in <see cref="Order"/> of the next batch's first example.</summary>
    public int Start { get; set; }

    public double LossSum { get; set; }

    public long Correct { get; set; }

    public long Seen { get; set; }

    /// <summary>Seconds of the epoch in progress before this process took it over (records only).</summary>
    public double Seconds { get; set; }

    public int BestEpoch { get; set; }

    public double BestLoss { get; set; } = double.PositiveInfinity;

    public int ModelEpoch { get; set; }

    /// <summary>The first batch's loss, which divergence is measured against (NaN until then).</summary>
    public double ReferenceLoss { get; set; } = double.NaN;

    public float LearningRateScale { get; set; } = 1f;

    public int Backoffs { get; set; }

    public List<EpochRecord> Records { get; } = [];

    public StopReason Stop { get; set; } = StopReason.Completed;

    /// <summary>Freezes the run; <paramref name="forFile"/> false leaves out the data's fingerprint (an in-memory
    /// snapshot for a learning-rate back-off, which never meets other data).</summary>
    public TrainingCheckpoint Capture(IReadOnlyDictionary<string, string>? metadata, bool forFile = true)
    {
        var checkpoint = new TrainingCheckpoint(new CheckpointHeader
        {
            Options = OptionsFingerprint(_options, _ordering),
            Network = NetworkFingerprint(Net),
            Data = forFile ? _dataFingerprint.Value : "",
            Epoch = Epoch,
            Batch = Batch,
            Start = Start,
            Steps = Step.Steps,
            LossSum = LossSum,
            Correct = Correct,
            Seen = Seen,
            Seconds = Seconds,
            ShufflePosition = ShuffleRng.Position,
            MaskPosition = Step.Context.Rng.Position,
            BestEpoch = BestEpoch,
            BestLoss = BestLoss,
            ReferenceLoss = ReferenceLoss,
            LearningRateScale = LearningRateScale,
            Backoffs = Backoffs,
            History = OnnxHistoryJson.Write(new TrainingHistory(Records.ToList(), ModelEpoch, StopReason.Completed)),
            Metadata = metadata?.ToDictionary() ?? [],
        });
        foreach (var (name, tensor) in NetworkTensors(Net, "net").Concat(NetworkTensors(LastComplete, "last")))
        {
            checkpoint.Floats.Add((name, tensor.Span.ToArray()));
        }

        if (Best is not null)
        {
            checkpoint.Floats.AddRange(NetworkTensors(Best, "best").Select(t => (t.Name, t.Tensor.Span.ToArray())));
        }

        checkpoint.Floats.AddRange(Prunable(Net).Where(p => p.Parameter.Mask is not null).Select(p => (p.Name, p.Parameter.Mask!.Keep.ToArray())));
        checkpoint.Floats.AddRange(Step.Optimizer.Moments.Select(m => ("optimizer/" + m.Name, (float[])m.Values.Clone())));
        checkpoint.Ints.Add(("order", (int[])Order.Clone()));
        return checkpoint;
    }

    /// <summary>A restored section must hold numbers: a run whose weights or moments were NaN would have diverged.</summary>
    private static float[] Finite(float[] values, string name, string source)
    {
        int bad = Array.FindIndex(values, v => !float.IsFinite(v));
        return bad < 0 ? values : throw new InvalidDataException($"{source}: section '{name}' holds {values[bad].ToString(CultureInfo.InvariantCulture)} at index {bad}; a checkpoint holds only finite values.");
    }

    /// <summary>Thaws a checkpoint into this run, after checking that it was written for the same options, network
    /// and data.</summary>
    /// <exception cref="ArgumentException">The checkpoint belongs to another run.</exception>
    /// <exception cref="InvalidDataException">The checkpoint is inconsistent.</exception>
    public void Restore(TrainingCheckpoint checkpoint, string source, bool fromFile = true)
    {
        var h = checkpoint.Header;
        Require(h.Options, OptionsFingerprint(_options, _ordering), "trainer options", source);
        Require(h.Network, NetworkFingerprint(Net), "network", source);
        Require(h.Data, fromFile ? _dataFingerprint.Value : "", "training and validation data", source);
        // The batch position must be one this run reaches: batch b starts where the b batches before it end.
        int n = Order.Length, batches = (n + _options.BatchSize - 1) / _options.BatchSize;
        bool inRun = h.Epoch >= 0 && h.Epoch <= _options.Epochs && h.Batch >= 0 && h.Batch <= batches; // batches: cancelled right after the last batch
        if (!inRun || h.Start != (h.Batch * (n / batches)) + Math.Min(h.Batch, n % batches) || h.Steps < 0)
        {
            throw new InvalidDataException($"{source}: position epoch {h.Epoch}, batch {h.Batch}, example {h.Start} (step {h.Steps}) is not one this run reaches.");
        }

        if (!(h.LearningRateScale > 0f && h.LearningRateScale <= 1f) || h.Backoffs < 0 || h.Seen < 0 || h.Correct < 0 || h.Correct > h.Seen)
        {
            throw new InvalidDataException($"{source}: the run's bookkeeping is inconsistent (learning-rate scale {h.LearningRateScale}, back-offs {h.Backoffs}, {h.Correct} of {h.Seen} correct).");
        }

        RestoreMasks(checkpoint, source);
        foreach (var (name, tensor) in NetworkTensors(Net, "net").Concat(NetworkTensors(LastComplete, "last")).Concat(Best is null ? [] : NetworkTensors(Best, "best")))
        {
            Finite(checkpoint.Float(name, tensor.Length, source), name, source).CopyTo(tensor.Span);
        }

        foreach (var (name, values) in Step.Optimizer.Moments)
        {
            Finite(checkpoint.Float("optimizer/" + name, values.Length, source), name, source).CopyTo(values, 0);
        }

        int[] order = checkpoint.Int("order", source);
        if (order.Length != Order.Length || !IsPermutation(order))
        {
            throw new InvalidDataException($"{source}: the example order is not a permutation of 0..{Order.Length - 1}.");
        }

        order.CopyTo(Order, 0);
        TrainingHistory history;
        try
        {
            history = OnnxHistoryJson.Read(h.History);
        }
        catch (FormatException e)
        {
            throw new InvalidDataException($"{source}: {e.Message}", e);
        }

        if (history.Epochs.Count != h.Epoch || history.ModelEpoch > h.Epoch || h.BestEpoch > h.Epoch || h.BestEpoch < 0)
        {
            throw new InvalidDataException($"{source}: its history holds {history.Epochs.Count} epochs (model epoch {history.ModelEpoch}, best {h.BestEpoch}) but the run stands in epoch {h.Epoch + 1}.");
        }

        Records.Clear();
        Records.AddRange(history.Epochs);
        ModelEpoch = history.ModelEpoch;
        Epoch = h.Epoch;
        Batch = h.Batch;
        Start = h.Start;
        Step.Steps = h.Steps;
        LossSum = h.LossSum;
        Correct = h.Correct;
        Seen = h.Seen;
        Seconds = h.Seconds;
        ShuffleRng.Seek(h.ShufflePosition);
        Step.Context.Rng.Seek(h.MaskPosition);
        BestEpoch = h.BestEpoch;
        BestLoss = h.BestLoss;
        ReferenceLoss = h.ReferenceLoss;
        LearningRateScale = h.LearningRateScale;
        Backoffs = h.Backoffs;
        Stop = StopReason.Completed;
    }

    /// <summary>A hash of the data exactly as given to the trainer (before any split or normalization): its shape, every
    /// feature as a float, the labels, the targets and the class count. Streamed data hashes the same bytes as the same
    /// data in memory, so a checkpoint of one resumes with the other.</summary>
    public static string DataFingerprint(ExampleSource train, ExampleSource? validation)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var data in validation is null ? [train] : new[] { train, validation })
        {
            hash.AppendData(MemoryMarshal.AsBytes<int>([data.Count, .. data.Shape]));
            data.ForEachRow((_, row) => hash.AppendData(MemoryMarshal.AsBytes(row)));
            hash.AppendData(MemoryMarshal.AsBytes(data.Labels));
            hash.AppendData(MemoryMarshal.AsBytes(data.Targets));
            hash.AppendData(BitConverter.GetBytes(data.ClassCount));
        }

        return Convert.ToHexString(hash.GetHashAndReset());
    }

    /// <summary>Every setting that changes the weights (threads and checkpoint settings do not).</summary>
    private static string OptionsFingerprint(TrainerOptions o, string? ordering) => string.Join("; ", OptionSettings(o).Append(ordering).OfType<string>());

    private static IEnumerable<string> OptionSettings(TrainerOptions o) =>
    [
        Setting("epochs", o.Epochs),
        Setting("batch", o.BatchSize),
        Setting("seed", o.Seed),
        Setting("shuffle", o.Shuffle),
        Setting("validation", o.ValidationFraction),
        Setting("patience", o.EarlyStoppingPatience),
        Setting("min-delta", o.EarlyStoppingMinDelta),
        $"optimizer={o.Optimizer.GetType().Name}{JsonSerializer.Serialize(o.Optimizer, o.Optimizer.GetType())}",
        $"schedule={o.Schedule?.GetType().Name}({o.Schedule?.Describe()})",
        Setting("L2", o.L2),
        Setting("max-norm", o.MaxNorm),
        Setting("normalization", o.Normalization),
        $"loss={o.Loss?.GetType().Name ?? "default"}",
        Setting("divergence", o.DivergenceThreshold),
        Setting("backoff", o.LearningRateBackoff),
        Setting("max-backoffs", o.MaxBackoffs),
    ];

    private static string Setting(string name, object? value) =>
        $"{name}={(value is IFormattable f ? f.ToString(value is float or double ? "R" : null, CultureInfo.InvariantCulture) : value?.ToString() ?? "null")}";

    private static string NetworkFingerprint(Network net) =>
        net.Describe() + " | " + string.Join(", ", NetworkTensors(net, "").Select(t => $"{t.Name}{t.Tensor.ShapeText}"));

    /// <summary>Every tensor of a network that training changes, by a stable name: each layer's parameters, then its
    /// state (batch-norm statistics). A layer that keeps more between batches adds it here.</summary>
    private static IEnumerable<(string Name, Tensor Tensor)> NetworkTensors(Network net, string prefix)
    {
        for (int i = 0; i < net.Layers.Count; i++)
        {
            var layer = net.Layers[i];
            for (int p = 0; p < layer.Parameters.Count; p++)
            {
                yield return ($"{prefix}/{i}/{p}:{layer.Parameters[p].Name}", layer.Parameters[p].Value);
            }

            for (int s = 0; s < layer.State.Count; s++)
            {
                yield return ($"{prefix}/{i}/state{s}", layer.State[s]);
            }
        }
    }

    /// <summary>Each weight parameter of the trained network with the name of its pruning-mask section.</summary>
    private static IEnumerable<(string Name, Parameter Parameter)> Prunable(Network net)
    {
        for (int i = 0; i < net.Layers.Count; i++)
        {
            for (int p = 0; p < net.Layers[i].Parameters.Count; p++)
            {
                var parameter = net.Layers[i].Parameters[p];
                if (parameter.IsPrunable)
                {
                    yield return ($"mask/{i}/{p}:{parameter.Name}", parameter);
                }
            }
        }
    }

    /// <summary>The pruning masks as the checkpoint has them (a weight without a section has none), on the trained
    /// network and its snapshots alike.</summary>
    private void RestoreMasks(TrainingCheckpoint checkpoint, string source)
    {
        var targets = new[] { Net, LastComplete, Best }.OfType<Network>().Select(n => Prunable(n).ToList()).ToList();
        for (int k = 0; k < targets[0].Count; k++)
        {
            var (name, parameter) = targets[0][k];
            WeightMask? mask = null;
            if (checkpoint.OptionalFloat(name) is { } keep)
            {
                if (keep.Length != parameter.Value.Length || keep.Any(v => v is not (0f or 1f)))
                {
                    throw new InvalidDataException($"{source}: pruning mask '{name}' must hold {parameter.Value.Length:N0} values of 0 or 1.");
                }

                mask = WeightMask.FromFlags(keep.Select(v => v != 0f).ToArray());
            }

            foreach (var network in targets)
            {
                network[k].Parameter.SetMask(mask);
            }
        }
    }

    private static void Require(string stored, string actual, string what, string source)
    {
        if (stored != actual)
        {
            // Name the first setting that differs, not two long lines.
            var (a, b) = stored.Split("; ").Zip(actual.Split("; ")).FirstOrDefault(pair => pair.First != pair.Second);
            (stored, actual) = a is null ? (stored, actual) : (a, b);
            throw new ArgumentException(
                $"{source} was written for other {what}: it has '{ReaderLimits.Shorten(stored, 300)}', this run has '{ReaderLimits.Shorten(actual, 300)}'. Resume with exactly the settings and data of the interrupted run.");
        }
    }

    private static bool IsPermutation(int[] order)
    {
        var seen = new bool[order.Length];
        foreach (int i in order)
        {
            if ((uint)i >= (uint)order.Length || seen[i])
            {
                return false;
            }

            seen[i] = true;
        }

        return true;
    }
}
