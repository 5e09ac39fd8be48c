using System.Diagnostics;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Training;

/// <summary>
/// The training loop: mini-batches → forward (training mode) → loss → backward → L2 → optimizer step →
/// max-norm, epoch after epoch, with validation, early stopping, a learning-rate schedule, progress reports
/// and cancellation. <see cref="Fit"/> never changes the network it is given: it trains a copy and returns it
/// inside an immutable <see cref="TrainedModel"/>.
/// </summary>
public sealed class Trainer
{
    private readonly TrainerOptions _options;

    /// <summary>Creates a trainer; the options are validated here and again at <see cref="Fit"/>.</summary>
    public Trainer(TrainerOptions? options = null)
    {
        _options = options ?? new TrainerOptions();
        _options.Validate();
    }

    /// <summary>The options this trainer uses.</summary>
    public TrainerOptions Options => _options;

    /// <summary>Trains a copy of <paramref name="network"/> on <paramref name="train"/>.</summary>
    /// <param name="network">The architecture. When unbuilt it is built for the data's shape with weights drawn
    /// from the seed; when built, training continues from its current weights (fine-tuning).</param>
    /// <param name="train">Training data.</param>
    /// <param name="validation">Validation data; when null, <see cref="TrainerOptions.ValidationFraction"/> may
    /// hold out part of <paramref name="train"/>.</param>
    /// <param name="progress">Receives each epoch's record as it completes.</param>
    /// <param name="cancellationToken">Stops training after the current batch; the model of the last completed
    /// epoch is returned (<see cref="StopReason.Cancelled"/>).</param>
    public TrainedModel Fit(Network network, Dataset train, Dataset? validation = null, IProgress<EpochRecord>? progress = null, CancellationToken cancellationToken = default) =>
        FitObserved(network, train, validation, progress, cancellationToken, afterStep: null);

    /// <summary><see cref="Fit(Network, Dataset, Dataset?, IProgress{EpochRecord}?, CancellationToken)"/> that also
    /// calls <paramref name="afterStep"/> with the 1-based iteration count and the network being trained after every
    /// optimizer step (lottery-ticket rewinding keeps the weights of iteration k this way).</summary>
    internal TrainedModel FitObserved(Network network, Dataset train, Dataset? validation, IProgress<EpochRecord>? progress, CancellationToken cancellationToken, Action<long, Network>? afterStep)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(train);
        var o = _options;
        o.Validate();
        if (validation is not null && (validation.Task != train.Task || !validation.SampleShape.SequenceEqual(train.SampleShape)))
        {
            throw new ArgumentException($"validation data ({validation.Task}, {Tensor.FormatShape(validation.SampleShape)}) does not match training data ({train.Task}, {Tensor.FormatShape(train.SampleShape)}).", nameof(validation));
        }

        if (o.EarlyStoppingPatience is not null && validation is null && o.ValidationFraction == 0)
        {
            throw new ArgumentException("early stopping needs validation data: pass a validation set or set ValidationFraction.", nameof(validation));
        }

        var root = new Rng(o.Seed);
        var initRng = root.Fork();
        var splitSeed = (int)(root.NextUInt64() & int.MaxValue);
        var shuffleRng = root.Fork();
        var maskRng = root.Fork();

        if (validation is null && o.ValidationFraction > 0)
        {
            (train, validation) = DataSplit.StratifiedSplit(train, o.ValidationFraction, splitSeed);
        }

        Normalizer? normalizer = null;
        if (o.Normalization != NormalizationKind.None)
        {
            normalizer = Normalizer.Fit(o.Normalization, train);
            train = normalizer.Apply(train);
            validation = validation is null ? null : normalizer.Apply(validation);
        }

        var net = network.Clone();
        if (!net.IsBuilt)
        {
            net.Build(train.SampleShape, initRng);
        }
        else if (!net.InputShape.SequenceEqual(train.SampleShape))
        {
            throw new ArgumentException($"the network was built for input {Tensor.FormatShape(net.InputShape)} but the data has examples of shape {Tensor.FormatShape(train.SampleShape)}.", nameof(train));
        }

        CheckOutputFitsTask(net, train);
        var loss = o.Loss ?? Loss.For(train.Task);
        var step = new TrainingStep(net, loss, o, maskRng, train.Task);
        var evaluator = new Evaluator(loss, o.MaxThreads);

        // Snapshots: the last completed epoch (for cancellation) and the best one (for early stopping).
        var lastComplete = net.Clone();
        var best = o.EarlyStoppingPatience is null ? null : net.Clone();
        int bestEpoch = 0, modelEpoch = 0;
        double bestLoss = double.PositiveInfinity;
        var records = new List<EpochRecord>();
        var stop = StopReason.Completed;

        int n = train.Count;
        long iteration = 0;
        int[] order = Enumerable.Range(0, n).ToArray();
        var batcher = new Batcher(train);
        for (int epoch = 0; epoch < o.Epochs && stop == StopReason.Completed; epoch++)
        {
            var clock = Stopwatch.StartNew();
            float lr = o.Schedule?.Rate(o.Optimizer.LearningRate, epoch, o.Epochs) ?? o.Optimizer.LearningRate;
            if (o.Shuffle)
            {
                Shuffle(order, shuffleRng);
            }

            double lossSum = 0;
            long correct = 0, seen = 0;

            // ⌈n / BatchSize⌉ batches whose sizes differ by at most one: no tiny last batch whose statistics
            // would disturb batch norm, and every example is used every epoch.
            int batches = (n + o.BatchSize - 1) / o.BatchSize, baseSize = n / batches, larger = n % batches;
            for (int b = 0, start = 0; b < batches; b++)
            {
                int size = baseSize + (b < larger ? 1 : 0);
                var (x, targets, labels) = batcher.Gather(order.AsSpan(start, size));
                float batchLoss = step.Forward(x, targets, labels, out long batchCorrect);
                if (!float.IsFinite(batchLoss))
                {
                    throw new InvalidOperationException($"training diverged in epoch {epoch + 1} at example {start}: the loss is {batchLoss}. Lower the learning rate or normalize the features.");
                }

                lossSum += (double)batchLoss * size;
                seen += size;
                correct += batchCorrect;
                step.Update(lr);
                afterStep?.Invoke(++iteration, net);
                if (cancellationToken.IsCancellationRequested)
                {
                    stop = StopReason.Cancelled;
                    break;
                }

                start += size;
            }

            if (stop == StopReason.Cancelled)
            {
                net.CopyValuesFrom(lastComplete);
                break;
            }

            double? valLoss = null, valAcc = null;
            if (validation is not null)
            {
                var ev = evaluator.Run(net, validation);
                valLoss = ev.Loss;
                valAcc = ev.Accuracy;
            }

            var record = new EpochRecord(epoch + 1, lossSum / seen, train.Task == TaskKind.Regression ? double.NaN : (double)correct / seen, valLoss, valAcc, lr, clock.Elapsed.TotalSeconds);
            records.Add(record);
            modelEpoch = epoch + 1;
            lastComplete.CopyValuesFrom(net);
            progress?.Report(record);

            if (best is not null)
            {
                if (valLoss!.Value < bestLoss - o.EarlyStoppingMinDelta)
                {
                    bestLoss = valLoss.Value;
                    bestEpoch = epoch + 1;
                    best.CopyValuesFrom(net);
                }
                else if (epoch + 1 - bestEpoch >= o.EarlyStoppingPatience!.Value)
                {
                    stop = StopReason.EarlyStopped;
                }
            }

            if (cancellationToken.IsCancellationRequested && stop == StopReason.Completed && epoch + 1 < o.Epochs)
            {
                stop = StopReason.Cancelled;
            }
        }

        if (best is not null && bestEpoch > 0)
        {
            net.CopyValuesFrom(best);
            modelEpoch = bestEpoch;
        }

        var history = new TrainingHistory(records, modelEpoch, stop);
        return new TrainedModel(net, normalizer, history, train.Task, train.ClassCount, train.TargetSize, train.ClassNames, o.Seed, o.Describe());
    }

    internal static void CheckOutputFitsTask(Network net, Dataset data)
    {
        var output = net.OutputShape;
        int expected = data.Task switch
        {
            TaskKind.Multiclass => data.ClassCount,
            TaskKind.Binary => 1,
            _ => data.TargetSize,
        };
        string what = data.Task switch
        {
            TaskKind.Multiclass => $"the data has {data.ClassCount} classes",
            TaskKind.Binary => "binary classification needs one output logit",
            _ => $"the data has {data.TargetSize} regression targets",
        };
        if (output.Length != 1 || output[0] != expected)
        {
            throw new ArgumentException($"the network's output has shape {Tensor.FormatShape(output)} but {what}: end it with Dense({expected}).");
        }
    }

    private static void Shuffle(int[] order, Rng rng)
    {
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
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
