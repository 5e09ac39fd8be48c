using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Pruning;

/// <summary>Which network of a round a run trains.</summary>
public enum TicketRunKind
{
    /// <summary>The pruned network with the reset (or rewound) survivors: the winning-ticket candidate (round 0: the
    /// dense network).</summary>
    Ticket,

    /// <summary>The ticket's mask with a fresh random initialization.</summary>
    RandomReinitialization,

    /// <summary>A random mask with the ticket's per-layer sparsity.</summary>
    RandomMask,
}

/// <summary>One trained network of a round and how it scored.</summary>
/// <param name="Kind">Ticket or control.</param>
/// <param name="Model">The trained model (its network carries the masks; the weights are those of the early-stopping
/// epoch when early stopping is on).</param>
/// <param name="EarlyStopEpoch">The epoch whose weights the model holds: with early stopping, the epoch of the lowest
/// validation loss (the paper's early-stop criterion); otherwise the last epoch.</param>
/// <param name="EarlyStopIteration">The same point in optimizer steps (epochs × mini-batches per epoch).</param>
/// <param name="ValidationLoss">Loss on the validation data at that point, or NaN without validation data.</param>
/// <param name="ValidationAccuracy">Accuracy on the validation data, or NaN without validation data.</param>
/// <param name="TestLoss">Loss on the test data, or null when none was given.</param>
/// <param name="TestAccuracy">Accuracy on the test data, or null when none was given.</param>
/// <param name="Seconds">Wall-clock seconds of the run (training and scoring).</param>
public sealed record TicketRun(
    TicketRunKind Kind,
    TrainedModel Model,
    int EarlyStopEpoch,
    long EarlyStopIteration,
    double ValidationLoss,
    double ValidationAccuracy,
    double? TestLoss,
    double? TestAccuracy,
    double Seconds)
{
    /// <summary>The training history of the run.</summary>
    public TrainingHistory History => Model.History;
}

/// <summary>One round of iterative magnitude pruning.</summary>
/// <param name="Round">0 for the dense network, then 1, 2, ...</param>
/// <param name="FractionRemaining">The fraction of all prunable weights that survive in this round.</param>
/// <param name="Layers">Per prunable layer: weights and survivors.</param>
/// <param name="Ticket">The pruned network with reset (or rewound) survivors, trained.</param>
/// <param name="RandomReinitialization">The control with the ticket's mask and fresh weights, if it was run.</param>
/// <param name="RandomMask">The control with a random mask of the same per-layer sparsity, if it was run.</param>
public sealed record LotteryTicketRound(
    int Round,
    double FractionRemaining,
    IReadOnlyList<LayerSparsity> Layers,
    TicketRun Ticket,
    TicketRun? RandomReinitialization,
    TicketRun? RandomMask)
{
    /// <summary>The runs of the round: the ticket, then the controls that were run.</summary>
    public IEnumerable<TicketRun> Runs => new[] { Ticket, RandomReinitialization, RandomMask }.Where(r => r is not null)!;
}

/// <summary>The outcome of a lottery-ticket experiment: the completed rounds in order (round 0 is the dense network).</summary>
/// <param name="Options">The settings used (a copy).</param>
/// <param name="Rounds">The completed rounds.</param>
/// <param name="Cancelled">True when the caller cancelled; the rounds completed so far are kept.</param>
/// <param name="BudgetExhausted">True when the time budget ended the experiment early.</param>
/// <param name="Elapsed">Wall-clock time of the whole experiment.</param>
/// <param name="TrainCount">Training examples per run.</param>
/// <param name="ValidationCount">Validation examples (0 without validation data).</param>
/// <param name="TestCount">Test examples (0 without test data).</param>
public sealed record LotteryTicketResult(
    LotteryTicketOptions Options,
    IReadOnlyList<LotteryTicketRound> Rounds,
    bool Cancelled,
    bool BudgetExhausted,
    TimeSpan Elapsed,
    int TrainCount,
    int ValidationCount,
    int TestCount)
{
    /// <summary>θ₀: the network every ticket resets to (built, before any training).</summary>
    public Network? Initialization { get; init; }

    /// <summary>W_k: the dense run's network after <see cref="LotteryTicketOptions.RewindIteration"/> steps, when the
    /// experiment rewinds (null otherwise, or when the dense run did not complete).</summary>
    public Network? RewindPoint { get; init; }

    /// <summary>Round 0, the dense network, or null when not even it completed.</summary>
    public LotteryTicketRound? Dense => Rounds.Count > 0 ? Rounds[0] : null;

    /// <summary>The last (sparsest) completed round, or null.</summary>
    public LotteryTicketRound? Sparsest => Rounds.Count > 0 ? Rounds[^1] : null;
}

/// <summary>What a <see cref="LotteryTicketProgress"/> report is about.</summary>
public enum LotteryTicketProgressKind
{
    /// <summary>A round is starting (its masks are set).</summary>
    RoundStarted,

    /// <summary>A run of the current round completed an epoch.</summary>
    Epoch,

    /// <summary>A run of the current round finished; <see cref="LotteryTicketProgress.Run"/> holds it.</summary>
    RunFinished,

    /// <summary>A round finished; <see cref="LotteryTicketProgress.Result"/> holds it.</summary>
    RoundFinished,
}

/// <summary>A progress report of a running lottery-ticket experiment, delivered synchronously on its thread.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Round">The round (0 = dense).</param>
/// <param name="Rounds">The last round planned.</param>
/// <param name="FractionRemaining">The fraction of weights that survive in this round.</param>
/// <param name="RunKind">The run the report is about.</param>
/// <param name="Epochs">Planned epochs per run.</param>
/// <param name="Epoch">The epoch just completed (for <see cref="LotteryTicketProgressKind.Epoch"/>).</param>
/// <param name="Run">The finished run (for <see cref="LotteryTicketProgressKind.RunFinished"/>).</param>
/// <param name="Result">The finished round (for <see cref="LotteryTicketProgressKind.RoundFinished"/>).</param>
/// <param name="Elapsed">Time since the experiment started.</param>
public sealed record LotteryTicketProgress(
    LotteryTicketProgressKind Kind,
    int Round,
    int Rounds,
    double FractionRemaining,
    TicketRunKind RunKind,
    int Epochs,
    EpochRecord? Epoch,
    TicketRun? Run,
    LotteryTicketRound? Result,
    TimeSpan Elapsed);
