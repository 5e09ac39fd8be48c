using System.Diagnostics;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Training;

/// <summary>
/// The training loop: mini-batches → forward (training mode) → loss → backward → L2 → optimizer step →
/// max-norm, epoch after epoch, with validation, early stopping, a learning-rate schedule, progress reports
/// and cancellation. <see cref="Fit(Network, Dataset, Dataset?, IProgress{EpochRecord}?, CancellationToken)"/> never changes the network it is given: it trains a copy and returns it
/// inside an immutable <see cref="TrainedModel"/>.
/// </summary>
public sealed class Trainer
{
    private readonly TrainerOptions _options;

    /// <summary>Creates a trainer; the options are validated here and again at every <c>Fit</c>.</summary>
    public Trainer(TrainerOptions? options = null)
    {
        _options = options ?? new TrainerOptions();
        _options.Validate();
    }

    /// <summary>The options this trainer uses.</summary>
    public TrainerOptions Options => _options;

    /// <summary>Test hook: runs after every mini-batch's update with the zero-based epoch, the number of batches
    /// done in it and the network being trained (tests cancel, crash or corrupt a run at a chosen point here).</summary>
    internal Action<int, int, Network>? AfterBatch { get; set; }

    /// <summary>Test hook: wraps the stream a checkpoint is written to (tests fail a write halfway).</summary>
    internal Func<Stream, Stream>? CheckpointStreamWrapper { get; set; }

    /// <summary>Trains a copy of <paramref name="network"/> on <paramref name="train"/>.</summary>
    /// <param name="network">The architecture. When unbuilt it is built for the data's shape with weights drawn
    /// from the seed; when built, training continues from its current weights (fine-tuning).</param>
    /// <param name="train">Training data.</param>
    /// <param name="validation">Validation data; when null, <see cref="TrainerOptions.ValidationFraction"/> may
    /// hold out part of <paramref name="train"/>.</param>
    /// <param name="progress">Receives each epoch's record as it completes.</param>
    /// <param name="cancellationToken">Stops training after the current batch; the model of the last completed
    /// epoch is returned (<see cref="StopReason.Cancelled"/>), and with <see cref="TrainerOptions.CheckpointPath"/> a
    /// checkpoint of the exact point reached is written first.</param>
    /// <exception cref="TrainingDivergedException">The loss or a weight became non-finite, or the loss exploded; the
    /// exception carries the last finished epoch's model.</exception>
    public TrainedModel Fit(Network network, Dataset train, Dataset? validation = null, IProgress<EpochRecord>? progress = null, CancellationToken cancellationToken = default) =>
        InMemory(train, validation, (t, v) => Train(network, t, v, progress, cancellationToken, null, null, afterStep: null));

    /// <summary>Trains a copy of <paramref name="network"/> on examples streamed from <paramref name="train"/>, one
    /// mini-batch at a time (prepared on a background thread when <see cref="TrainerOptions.Prefetch"/> is on), so the
    /// data never has to fit in memory as floats. Epochs draw a full random permutation from a source with random access
    /// and shuffle a source read in order through a buffer of <see cref="TrainerOptions.ShuffleBufferSize"/> examples.
    /// With the same examples in the same order (shuffling off, or a full permutation) the weights are the same, bit for
    /// bit, as training on the same data in memory.</summary>
    /// <param name="network">As for <see cref="Fit(Network, Dataset, Dataset?, IProgress{EpochRecord}?, CancellationToken)"/>.</param>
    /// <param name="train">The training examples (left open: the caller disposes them).</param>
    /// <param name="validation">Validation examples, scored after every epoch; when null,
    /// <see cref="TrainerOptions.ValidationFraction"/> may hold out a stratified part of <paramref name="train"/>.</param>
    /// <param name="progress">Receives each epoch's record as it completes.</param>
    /// <param name="cancellationToken">As for the in-memory overload.</param>
    /// <exception cref="TrainingDivergedException">The loss or a weight became non-finite, or the loss exploded.</exception>
    /// <exception cref="InvalidDataException">A streamed file turned out malformed, or changed, while it was read.</exception>
    public TrainedModel Fit(Network network, ExampleSource train, ExampleSource? validation = null, IProgress<EpochRecord>? progress = null, CancellationToken cancellationToken = default) =>
        Train(network, train, validation, progress, cancellationToken, null, null, afterStep: null);

    /// <summary><see cref="Fit(Network, Dataset, Dataset?, IProgress{EpochRecord}?, CancellationToken)"/> that also
    /// calls <paramref name="afterStep"/> with the 1-based iteration count and the network being trained after every
    /// optimizer step (lottery-ticket rewinding keeps the weights of iteration k this way).</summary>
    internal TrainedModel FitObserved(Network network, Dataset train, Dataset? validation, IProgress<EpochRecord>? progress, CancellationToken cancellationToken, Action<long, Network>? afterStep) =>
        InMemory(train, validation, (t, v) => Train(network, t, v, progress, cancellationToken, null, null, afterStep));

    /// <summary>Continues an interrupted run from the checkpoint it wrote (see <see cref="TrainerOptions.CheckpointPath"/>).
    /// Give the same network, data and options as the interrupted <see cref="Fit(Network, Dataset, Dataset?, IProgress{EpochRecord}?, CancellationToken)"/>
    /// (they are checked against the checkpoint): the result has the same weights, bit for bit, as a run that was never
    /// interrupted.</summary>
    /// <param name="checkpointPath">The checkpoint file.</param>
    /// <param name="network">The architecture, as given to the interrupted <see cref="Fit(Network, Dataset, Dataset?, IProgress{EpochRecord}?, CancellationToken)"/>.</param>
    /// <param name="train">The training data, as given to it.</param>
    /// <param name="validation">The validation data, as given to it.</param>
    /// <param name="progress">Receives the record of each epoch completed from here on.</param>
    /// <param name="cancellationToken">As for <see cref="Fit(Network, Dataset, Dataset?, IProgress{EpochRecord}?, CancellationToken)"/>.</param>
    /// <param name="limits">Caps for reading the checkpoint (<see cref="ReaderLimits.Default"/> when null).</param>
    /// <exception cref="InvalidDataException">The file is not a checkpoint, is corrupt, or exceeds a limit.</exception>
    /// <exception cref="ArgumentException">The checkpoint was written for other options, another network or other data.</exception>
    public TrainedModel Resume(string checkpointPath, Network network, Dataset train, Dataset? validation = null, IProgress<EpochRecord>? progress = null, CancellationToken cancellationToken = default, ReaderLimits? limits = null)
    {
        var checkpoint = TrainingCheckpoint.Read(checkpointPath, limits);
        return InMemory(train, validation, (t, v) => Train(network, t, v, progress, cancellationToken, checkpoint, $"checkpoint '{checkpointPath}'", afterStep: null));
    }

    /// <summary><see cref="Resume(string, Network, Dataset, Dataset?, IProgress{EpochRecord}?, CancellationToken, ReaderLimits?)"/>
    /// for streamed data. A run over a source read in order resumes mid-epoch by reading the epoch again from its start
    /// and passing over the examples it had already used, so the examples must come back in the same order (the same
    /// file, an IDataView whose cursors repeat their rows); the data's fingerprint in the checkpoint checks that they do.</summary>
    /// <param name="checkpointPath">The checkpoint file.</param>
    /// <param name="network">The architecture, as given to the interrupted run.</param>
    /// <param name="train">The training examples, as given to it.</param>
    /// <param name="validation">The validation examples, as given to it.</param>
    /// <param name="progress">Receives the record of each epoch completed from here on.</param>
    /// <param name="cancellationToken">As for <see cref="Fit(Network, ExampleSource, ExampleSource?, IProgress{EpochRecord}?, CancellationToken)"/>.</param>
    /// <param name="limits">Caps for reading the checkpoint (<see cref="ReaderLimits.Default"/> when null).</param>
    /// <exception cref="InvalidDataException">The file is not a checkpoint, is corrupt, or exceeds a limit.</exception>
    /// <exception cref="ArgumentException">The checkpoint was written for other options, another network or other data.</exception>
    public TrainedModel Resume(string checkpointPath, Network network, ExampleSource train, ExampleSource? validation = null, IProgress<EpochRecord>? progress = null, CancellationToken cancellationToken = default, ReaderLimits? limits = null)
    {
        var checkpoint = TrainingCheckpoint.Read(checkpointPath, limits);
        return Train(network, train, validation, progress, cancellationToken, checkpoint, $"checkpoint '{checkpointPath}'", afterStep: null);
    }

    /// <summary>What <see cref="TrainerOptions.CheckpointMetadata"/> stored in a checkpoint (the CLI keeps its command
    /// line there).</summary>
    /// <exception cref="InvalidDataException">The file is not a checkpoint, is corrupt, or exceeds a limit.</exception>
    public static IReadOnlyDictionary<string, string> ReadCheckpointMetadata(string checkpointPath, ReaderLimits? limits = null) =>
        TrainingCheckpoint.Read(checkpointPath, limits).Header.Metadata;

    /// <summary>Runs <paramref name="train"/> on in-memory datasets seen as sources (nothing is copied).</summary>
    private static TrainedModel InMemory(Dataset train, Dataset? validation, Func<ExampleSource, ExampleSource?, TrainedModel> run)
    {
        ArgumentNullException.ThrowIfNull(train);
        using var trainSource = new DatasetSource(train);
        using var validationSource = validation is null ? null : new DatasetSource(validation);
        return run(trainSource, validationSource);
    }

    private TrainedModel Train(Network network, ExampleSource train, ExampleSource? validation, IProgress<EpochRecord>? progress, CancellationToken cancellationToken, TrainingCheckpoint? resume, string? resumeSource, Action<long, Network>? afterStep)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(train);
        var o = _options;
        o.Validate();
        if (validation is not null && (validation.Task != train.Task || !validation.Shape.SequenceEqual(train.Shape)))
        {
            throw new ArgumentException($"validation data ({validation.Task}, {Tensor.FormatShape(validation.Shape)}) does not match training data ({train.Task}, {Tensor.FormatShape(train.Shape)}).", nameof(validation));
        }

        if (o.EarlyStoppingPatience is not null && validation is null && o.ValidationFraction == 0)
        {
            throw new ArgumentException("early stopping needs validation data: pass a validation set or set ValidationFraction.", nameof(validation));
        }

        var (givenTrain, givenValidation) = (train, validation);
        var root = new Rng(o.Seed);
        var initRng = root.Fork();
        var splitSeed = (int)(root.NextUInt64() & int.MaxValue);
        var shuffleRng = root.Fork();
        var maskRng = root.Fork();

        if (validation is null && o.ValidationFraction > 0)
        {
            (train, validation) = DataSplit.StratifiedSplit(train, o.ValidationFraction, splitSeed);
        }

        var normalizer = o.Normalization == NormalizationKind.None ? null : Normalizer.Fit(o.Normalization, train);
        var net = network.Clone();
        if (!net.IsBuilt)
        {
            net.Build(train.SampleShape, initRng);
        }
        else if (!net.InputShape.SequenceEqual(train.Shape))
        {
            throw new ArgumentException($"the network was built for input {Tensor.FormatShape(net.InputShape)} but the data has examples of shape {Tensor.FormatShape(train.Shape)}.", nameof(train));
        }

        CheckOutputFitsTask(net, train.Task, train.ClassCount, train.TargetSize);
        var loss = o.Loss ?? Loss.For(train.Task);
        var step = new TrainingStep(net, loss, o, maskRng, train.Task, train.Count);
        var evaluator = new Evaluator(loss, o.MaxThreads);
        var ordering = ExampleOrder.For(train, o);
        var run = new TrainingRun(o, net, step, shuffleRng, train.Count, () => TrainingRun.DataFingerprint(givenTrain, givenValidation), ordering.Fingerprint);
        if (resume is not null)
        {
            run.Restore(resume, resumeSource!);
        }

        var (task, classCount, targetSize, classNames) = (train.Task, train.ClassCount, train.TargetSize, train.ClassNames);
        TrainedModel Model(Network weights, StopReason reason) =>
            new(weights, normalizer, new TrainingHistory(run.Records.ToList(), run.ModelEpoch, reason), task, classCount, targetSize, classNames, o.Seed, o.Describe());

        var sinceCheckpoint = Stopwatch.StartNew();
        void WriteCheckpoint()
        {
            run.Capture(o.CheckpointMetadata).Write(o.CheckpointPath!, CheckpointStreamWrapper);
            sinceCheckpoint.Restart();
        }

        int n = train.Count;
        var schedule = BatchSchedule.Balanced(n, o.BatchSize);
        int batches = schedule.Count;
        using var feed = new BatchFeed(train, normalizer, o.Prefetch, ordering);
        using var validationFeed = validation is null ? null : new BatchFeed(validation, normalizer, o.Prefetch);
        TrainingCheckpoint? epochStart = null;
        while (run.Epoch < o.Epochs && run.Stop == StopReason.Completed)
        {
            int epoch = run.Epoch;
            if (run.Batch == 0)
            {
                if (o.LearningRateBackoff is not null)
                {
                    epochStart = run.Capture(null, forFile: false); // where a back-off goes back to
                }

                if (o.Shuffle)
                {
                    ordering.Shuffle(run.Order, shuffleRng);
                }

                (run.LossSum, run.Correct, run.Seen, run.Seconds) = (0, 0, 0, 0);
            }

            var clock = Stopwatch.StartNew();
            float lr = run.LearningRateScale * (o.Schedule?.Rate(o.Optimizer.LearningRate, epoch, o.Epochs) ?? o.Optimizer.LearningRate);

            // ⌈n / BatchSize⌉ batches whose sizes differ by at most one: no tiny last batch whose statistics
            // would disturb batch norm, and every example is used every epoch.
            feed.Start(run.Order, schedule, run.Batch);
            bool retry = false;
            while (run.Batch < batches)
            {
                int size = schedule.SizeOf(run.Batch);
                var (x, targets, labels) = feed.Next();
                float batchLoss = step.Forward(x, targets, labels, out long batchCorrect);
                string? divergence = DivergenceCheck.OfLoss(batchLoss, run, o);
                if (divergence is null)
                {
                    step.Update(lr);
                    divergence = DivergenceCheck.OfWeights(net);
                }

                if (divergence is not null)
                {
                    feed.Stop(); // before the order is restored or the run ends
                    if (o.LearningRateBackoff is float factor && run.Backoffs < o.MaxBackoffs && epochStart is not null)
                    {
                        (float scale, int backoffs) = (run.LearningRateScale * factor, run.Backoffs + 1);
                        run.Restore(epochStart, "the epoch's start", fromFile: false);
                        (run.LearningRateScale, run.Backoffs) = (scale, backoffs);
                        retry = true;
                        break;
                    }

                    throw DivergenceCheck.Failure(divergence, run, lr, batches, batchLoss, Model(run.LastComplete.Clone(), StopReason.Diverged));
                }

                afterStep?.Invoke(step.Steps, net);
                run.LossSum += (double)batchLoss * size;
                run.Seen += size;
                run.Correct += batchCorrect;
                run.Batch++;
                run.Start += size;
                AfterBatch?.Invoke(epoch, run.Batch, net);
                if (cancellationToken.IsCancellationRequested)
                {
                    run.Stop = StopReason.Cancelled;
                    break;
                }

                if (o.CheckpointInterval is { } interval && sinceCheckpoint.Elapsed >= interval && run.Batch < batches)
                {
                    run.Seconds += clock.Elapsed.TotalSeconds;
                    clock.Restart();
                    WriteCheckpoint();
                }
            }

            if (retry)
            {
                continue;
            }

            if (run.Stop == StopReason.Cancelled)
            {
                feed.Stop();
                if (o.CheckpointPath is not null)
                {
                    run.Seconds += clock.Elapsed.TotalSeconds;
                    WriteCheckpoint(); // mid-epoch: Resume continues with the next batch
                }

                net.CopyValuesFrom(run.LastComplete);
                break;
            }

            double? valLoss = null, valAcc = null;
            if (validationFeed is not null)
            {
                var ev = evaluator.Run(net, validationFeed);
                valLoss = ev.Loss;
                valAcc = ev.Accuracy;
            }

            double seen = run.Seen;
            var record = new EpochRecord(epoch + 1, run.LossSum / seen, task == TaskKind.Regression ? double.NaN : run.Correct / seen, valLoss, valAcc, lr, run.Seconds + clock.Elapsed.TotalSeconds);
            run.Records.Add(record);
            run.ModelEpoch = epoch + 1;
            run.LastComplete.CopyValuesFrom(net);
            progress?.Report(record);

            if (run.Best is not null)
            {
                if (valLoss!.Value < run.BestLoss - o.EarlyStoppingMinDelta)
                {
                    run.BestLoss = valLoss.Value;
                    run.BestEpoch = epoch + 1;
                    run.Best.CopyValuesFrom(net);
                }
                else if (epoch + 1 - run.BestEpoch >= o.EarlyStoppingPatience!.Value)
                {
                    run.Stop = StopReason.EarlyStopped;
                }
            }

            run.Epoch++;
            (run.Batch, run.Start) = (0, 0);
            bool cancelled = cancellationToken.IsCancellationRequested && run.Stop == StopReason.Completed && run.Epoch < o.Epochs;
            if (cancelled)
            {
                run.Stop = StopReason.Cancelled;
            }

            bool due = (o.CheckpointEveryEpochs is int every && run.Epoch % every == 0) || (o.CheckpointInterval is { } span && sinceCheckpoint.Elapsed >= span);
            if (o.CheckpointPath is not null && run.Epoch < o.Epochs && run.Stop != StopReason.EarlyStopped && (due || cancelled))
            {
                WriteCheckpoint();
            }
        }

        if (run.Best is not null && run.BestEpoch > 0)
        {
            net.CopyValuesFrom(run.Best);
            run.ModelEpoch = run.BestEpoch;
        }

        return Model(net, run.Stop);
    }

    internal static void CheckOutputFitsTask(Network net, TaskKind task, int classCount, int targetSize)
    {
        var output = net.OutputShape;
        int expected = task switch
        {
            TaskKind.Multiclass => classCount,
            TaskKind.Binary => 1,
            _ => targetSize,
        };
        string what = task switch
        {
            TaskKind.Multiclass => $"the data has {classCount} classes",
            TaskKind.Binary => "binary classification needs one output logit",
            _ => $"the data has {targetSize} regression targets",
        };
        if (output.Length != 1 || output[0] != expected)
        {
            throw new ArgumentException($"the network's output has shape {Tensor.FormatShape(output)} but {what}: end it with Dense({expected}).");
        }
    }

    /// <summary>Rescales every unit's incoming weight row to an L2 norm of at most <paramref name="c"/>.</summary>
    internal static void ApplyMaxNorm(IEnumerable<Parameter> parameters, float c)
    {
        foreach (var p in parameters)
        {
            if (p.Kind != ParameterKind.Weight)
            {
                continue;
            }

            var w = p.Value.Span;
            for (int r = 0; r < w.Length; r += p.FanIn)
            {
                var row = w.Slice(r, p.FanIn);
                double sq = 0;
                foreach (float v in row)
                {
                    sq += (double)v * v;
                }

                double norm = Math.Sqrt(sq);
                if (norm > c)
                {
                    float scale = (float)(c / norm);
                    for (int i = 0; i < row.Length; i++)
                    {
                        row[i] *= scale;
                    }
                }
            }
        }
    }
}
