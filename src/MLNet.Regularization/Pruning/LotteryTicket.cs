using System.Diagnostics;
using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Pruning;

/// <summary>
/// The lottery-ticket experiment (Frankle &amp; Carbin, 2019, "The lottery ticket hypothesis: finding sparse,
/// trainable neural networks") over <see cref="Trainer"/>: iterative magnitude pruning (IMP). Initialize θ₀ and keep
/// it; train (round 0, the dense network); prune <c>p</c>% of the surviving weights with the smallest |w| (the output
/// layer at half the rate); reset the survivors to θ₀ — or rewind them to W_k, their values after k steps of the dense
/// run (Frankle et al., 2020) — and train again; repeat. Pruned weights stay exactly 0 and receive no updates
/// (<see cref="WeightMask"/>); biases are not pruned. Each round can also train the paper's controls: the same mask
/// with a random re-initialization, and a random mask with the same per-layer sparsity.
/// </summary>
/// <example>
/// <code>
/// var lottery = new LotteryTicket(new LotteryTicketOptions
/// {
///     Rounds = 10, PruneRate = 0.2, Controls = TicketControls.Both,
///     Training = new TrainerOptions { Epochs = 30, Optimizer = new Adam { LearningRate = 1.2e-3f }, EarlyStoppingPatience = 5 },
/// });
/// var result = lottery.Run(Network.Sequential(new Dense(300), new ReLU(), new Dense(100), new ReLU(), new Dense(10)), train, validation, test);
/// foreach (var round in result.Rounds)
///     Console.WriteLine($"{round.FractionRemaining:P1}: {round.Ticket.TestAccuracy:P2}, early stop at epoch {round.Ticket.EarlyStopEpoch}");
/// </code>
/// </example>
/// <remarks>Every run of every round trains with the same <see cref="LotteryTicketOptions.Training"/> settings and
/// seed (the same data order and dropout masks), so runs differ only in their masks and starting weights. Rewinding
/// restores the weights (and batch-norm statistics) of step k; the optimizer starts afresh and the run trains the
/// full number of epochs again. Early stopping is evaluated once per epoch (the paper evaluates every 100 steps).</remarks>
public sealed class LotteryTicket
{
    private readonly LotteryTicketOptions _options;

    /// <summary>Creates an experiment; the options are copied and validated.</summary>
    /// <param name="options">Rounds, rates, reset, controls and training; defaults when null.</param>
    public LotteryTicket(LotteryTicketOptions? options = null)
    {
        _options = (options ?? new LotteryTicketOptions()).Clone();
        _options.Validate();
    }

    /// <summary>A copy of the options.</summary>
    public LotteryTicketOptions Options => _options.Clone();

    /// <summary>Test hook: sees the starting network of every run just before it is trained.</summary>
    internal Action<int, TicketRunKind, Network>? RunStarting { get; set; }

    /// <summary>Runs the experiment.</summary>
    /// <param name="network">The architecture. When unbuilt it is built for the data with θ₀ drawn from the training
    /// seed; when built, its current weights are θ₀ (and any masks it carries are the starting masks).</param>
    /// <param name="train">Training data.</param>
    /// <param name="validation">Validation data for early stopping and scoring; when null,
    /// <see cref="TrainerOptions.ValidationFraction"/> of the training settings holds out part of
    /// <paramref name="train"/> (stratified, once, for every round).</param>
    /// <param name="test">Test data scored after each run (optional).</param>
    /// <param name="progress">Receives round, run and epoch reports synchronously.</param>
    /// <param name="cancellationToken">Stops after the current batch; the result holds the rounds completed so far.</param>
    /// <exception cref="ArgumentException">The data do not match each other or the network.</exception>
    /// <exception cref="InvalidOperationException">Training diverged, or the rewind step lies beyond the dense run.</exception>
    public LotteryTicketResult Run(Network network, Dataset train, Dataset? validation = null, Dataset? test = null, IProgress<LotteryTicketProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(train);
        var o = _options.Clone();
        var training = o.Training.Clone();
        if (test is not null && (test.Task != train.Task || !test.SampleShape.SequenceEqual(train.SampleShape)))
        {
            throw new ArgumentException($"test data ({test.Task}, {Tensor.FormatShape(test.SampleShape)}) does not match training data ({train.Task}, {Tensor.FormatShape(train.SampleShape)}).", nameof(test));
        }

        if (validation is null && training.ValidationFraction > 0)
        {
            (train, validation) = DataSplit.StratifiedSplit(train, training.ValidationFraction, training.Seed);
        }

        training.ValidationFraction = 0;
        var init = network.Clone();
        if (!init.IsBuilt)
        {
            // The same initialization stream the trainer would use for this seed.
            init.Build(train.SampleShape, new Rng(training.Seed).Fork());
        }

        var clock = new ComparisonClock(TimeProvider.System);
        using var budget = new CancellationTokenSource();
        using var deadline = o.TimeBudget is { } b ? new DeadlineWatcher(budget, clock, b) : null;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, budget.Token);
        var session = new Session(this, o, training, train, validation, test, progress, clock, linked.Token);
        var rounds = new List<LotteryTicketRound>();
        Network? rewind = o.Reset == TicketReset.Rewind && o.RewindIteration == 0 ? init.Clone() : null;

        // Round 0: the dense network (or the given masks), from θ₀; it also yields W_k for rewinding.
        Action<long, Network>? capture = o.Reset == TicketReset.Rewind && o.RewindIteration > 0
            ? (step, net) =>
            {
                if (step == o.RewindIteration)
                {
                    rewind = net.Clone();
                }
            }
            : null;
        var dense = session.Train(0, TicketRunKind.Ticket, init.Clone(), capture);
        if (dense is not null)
        {
            if (o.Reset == TicketReset.Rewind && rewind is null)
            {
                throw new InvalidOperationException($"cannot rewind to step {o.RewindIteration}: the dense run took only {dense.History.Epochs.Count * session.StepsPerEpoch} steps ({dense.History.Epochs.Count} epochs of {session.StepsPerEpoch}). Lower RewindIteration.");
            }

            rounds.Add(session.Finish(0, init, dense, null, null));
            var previous = dense.Model.Network;
            for (int round = 1; round <= o.Rounds && !linked.IsCancellationRequested; round++)
            {
                var masks = MagnitudePruning.ComputeMasks(previous, o.PruningStep);
                var survivors = o.Reset switch
                {
                    TicketReset.Initialization => init,
                    TicketReset.Rewind => rewind!,
                    _ => previous,
                };
                var start = WithMasks(survivors, masks);
                session.Announce(round, start);
                var ticket = session.Train(round, TicketRunKind.Ticket, start, null);
                TicketRun? reinit = null, randomMask = null;
                if (ticket is not null && o.Controls.HasFlag(TicketControls.RandomReinitialization))
                {
                    var fresh = UnbuiltCopy(init).Build(init.InputShape, new Rng(ControlSeed(training.Seed, round, 1)));
                    reinit = session.Train(round, TicketRunKind.RandomReinitialization, WithMasks(fresh, masks), null);
                    ticket = reinit is null ? null : ticket;
                }

                if (ticket is not null && o.Controls.HasFlag(TicketControls.RandomMask))
                {
                    var random = NetworkSparsity.RandomMasksLike(masks, ControlSeed(training.Seed, round, 2));
                    randomMask = session.Train(round, TicketRunKind.RandomMask, WithMasks(survivors, random), null);
                    ticket = randomMask is null ? null : ticket;
                }

                if (ticket is null)
                {
                    break;
                }

                rounds.Add(session.Finish(round, start, ticket, reinit, randomMask));
                previous = ticket.Model.Network;
            }
        }

        bool cancelled = cancellationToken.IsCancellationRequested;
        return new LotteryTicketResult(o, rounds, cancelled, !cancelled && budget.IsCancellationRequested, clock.Elapsed, train.Count, validation?.Count ?? 0, test?.Count ?? 0)
        {
            Initialization = init,
            RewindPoint = o.Reset == TicketReset.Rewind ? rewind : null,
        };
    }

    /// <summary>A copy of <paramref name="network"/> with <paramref name="masks"/> set (its pruned weights zeroed).</summary>
    private static Network WithMasks(Network network, IReadOnlyList<WeightMask?> masks)
    {
        var copy = network.Clone();
        NetworkSparsity.SetMasks(copy, masks);
        return copy;
    }

    /// <summary>The same layers, unbuilt (for a random re-initialization).</summary>
    private static Network UnbuiltCopy(Network network) => Network.Sequential(network.Layers.Select(l => l.CreateUnbuiltCopy()).ToArray());

    /// <summary>A seed for a control run, distinct per round and control, derived from the training seed.</summary>
    private static int ControlSeed(int seed, int round, int control) =>
        unchecked((int)(((uint)seed * 2654435761u) ^ ((uint)round * 40503u) ^ ((uint)control * 2246822519u)));

    /// <summary>What the runs of one experiment share.</summary>
    private sealed class Session(
        LotteryTicket owner,
        LotteryTicketOptions options,
        TrainerOptions training,
        Dataset train,
        Dataset? validation,
        Dataset? test,
        IProgress<LotteryTicketProgress>? progress,
        ComparisonClock clock,
        CancellationToken stop)
    {
        private readonly Trainer _trainer = new(training);
        private double _fraction = 1;

        public int StepsPerEpoch { get; } = (train.Count + training.BatchSize - 1) / training.BatchSize;

        public void Announce(int round, Network start)
        {
            _fraction = NetworkSparsity.FractionRemaining(start);
            Report(LotteryTicketProgressKind.RoundStarted, round, TicketRunKind.Ticket, null, null, null);
        }

        /// <summary>Trains one run from <paramref name="start"/>; null when it was interrupted.</summary>
        public TicketRun? Train(int round, TicketRunKind kind, Network start, Action<long, Network>? afterStep)
        {
            if (stop.IsCancellationRequested)
            {
                return null;
            }

            if (round == 0)
            {
                Announce(0, start);
            }

            owner.RunStarting?.Invoke(round, kind, start);
            var runClock = Stopwatch.StartNew();
            var epochs = progress is null ? null : new Forward<EpochRecord>(e => Report(LotteryTicketProgressKind.Epoch, round, kind, e, null, null));
            var model = _trainer.FitObserved(start, train, validation, epochs, stop, afterStep);
            if (model.History.StopReason == StopReason.Cancelled)
            {
                return null;
            }

            var (validationLoss, validationAccuracy) = validation is null ? (double.NaN, double.NaN) : model.Evaluate(validation);
            (double Loss, double Accuracy)? scored = test is null ? null : model.Evaluate(test);
            int epoch = model.History.ModelEpoch;
            var run = new TicketRun(kind, model, epoch, (long)epoch * StepsPerEpoch, validationLoss, validationAccuracy, scored?.Loss, scored?.Accuracy, runClock.Elapsed.TotalSeconds);
            Report(LotteryTicketProgressKind.RunFinished, round, kind, null, run, null);
            return run;
        }

        public LotteryTicketRound Finish(int round, Network start, TicketRun ticket, TicketRun? reinit, TicketRun? randomMask)
        {
            var result = new LotteryTicketRound(round, NetworkSparsity.FractionRemaining(start), NetworkSparsity.PerLayer(start), ticket, reinit, randomMask);
            Report(LotteryTicketProgressKind.RoundFinished, round, TicketRunKind.Ticket, null, null, result);
            return result;
        }

        private void Report(LotteryTicketProgressKind kind, int round, TicketRunKind run, EpochRecord? epoch, TicketRun? finished, LotteryTicketRound? result) =>
            progress?.Report(new LotteryTicketProgress(kind, round, options.Rounds, _fraction, run, training.Epochs, epoch, finished, result, clock.Elapsed));
    }

    /// <summary>Forwards reports synchronously (<see cref="Progress{T}"/> would post them to the thread pool).</summary>
    private sealed class Forward<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
