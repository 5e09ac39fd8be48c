using MLNet.Regularization.Training;

namespace MLNet.Regularization.Pruning;

/// <summary>What the survivors of a pruning round start the next training from.</summary>
public enum TicketReset
{
    /// <summary>Their original initialization θ₀ (Frankle &amp; Carbin, 2019): the lottery ticket.</summary>
    Initialization,

    /// <summary>Their values after <see cref="LotteryTicketOptions.RewindIteration"/> optimizer steps of the dense
    /// run, W_k (Frankle, Dziugaite, Roy &amp; Carbin, 2020, "Linear mode connectivity and the lottery ticket
    /// hypothesis"): needed where tickets reset to θ₀ fail, as in deeper networks.</summary>
    Rewind,

    /// <summary>Their trained values: classic prune-and-fine-tune (Han et al., 2015), not a lottery ticket.</summary>
    None,
}

/// <summary>The control runs of the lottery-ticket experiments, trained next to each pruned ticket.</summary>
[Flags]
public enum TicketControls
{
    /// <summary>No control runs.</summary>
    None = 0,

    /// <summary>The ticket's mask with a fresh random initialization (drawn like the original, from another seed):
    /// tests whether the ticket's initial values matter.</summary>
    RandomReinitialization = 1,

    /// <summary>A random mask with the ticket's per-layer sparsity on the ticket's starting weights (θ₀ or W_k):
    /// tests whether the ticket's structure matters.</summary>
    RandomMask = 2,

    /// <summary>Both controls.</summary>
    Both = RandomReinitialization | RandomMask,
}

/// <summary>
/// Settings of a lottery-ticket experiment (<see cref="LotteryTicket"/>): iterative magnitude pruning (IMP) with
/// reset or rewinding, and its controls. Round 0 trains the dense network; each following round prunes
/// <see cref="PruneRate"/> of the surviving weights by magnitude, resets the survivors and trains again, so after
/// k rounds about (1 − rate)^k of the weights remain. One-shot pruning is one round at the whole rate
/// (<c>Rounds = 1, PruneRate = 0.9</c>).
/// </summary>
public sealed class LotteryTicketOptions
{
    /// <summary>Pruning rounds after the dense round 0 (default 10; at 20% per round about 10.7% of the weights then
    /// remain).</summary>
    public int Rounds { get; set; } = 10;

    /// <summary>The fraction of surviving weights pruned per round (default 0.2, the paper's fully connected rate).</summary>
    public double PruneRate { get; set; } = 0.2;

    /// <summary>The output layer's rate per round; null (default) is half of <see cref="PruneRate"/>, as in the paper.</summary>
    public double? OutputLayerPruneRate { get; set; }

    /// <summary>Layer-wise (default, as for LeNet) or global magnitude thresholds.</summary>
    public PruningScope Scope { get; set; } = PruningScope.LayerWise;

    /// <summary>Reset to θ₀ (default), rewind to W_k, or keep the trained values.</summary>
    public TicketReset Reset { get; set; } = TicketReset.Initialization;

    /// <summary>With <see cref="TicketReset.Rewind"/>: k, the number of optimizer steps (mini-batches) of the dense
    /// run whose weights the survivors are rewound to (default 0, which is θ₀). Must not exceed the dense run's steps.</summary>
    public long RewindIteration { get; set; }

    /// <summary>Which control runs to train in each pruning round (default none; each doubles or triples the time).</summary>
    public TicketControls Controls { get; set; } = TicketControls.None;

    /// <summary>The training of every round (epochs, optimizer, early stopping, seed, ...). Each round is trained with
    /// these same settings and seed, so rounds differ only in the mask and the starting weights. Early stopping here
    /// is the paper's early-stop criterion (the epoch of the lowest validation loss).</summary>
    public TrainerOptions Training { get; set; } = new();

    /// <summary>A wall-clock limit for the whole experiment, or null (default). The round running when it ends is
    /// interrupted and left out of the result.</summary>
    public TimeSpan? TimeBudget { get; set; }

    /// <summary>The magnitude-pruning step of one round.</summary>
    public MagnitudePruningOptions PruningStep => new() { Rate = PruneRate, OutputLayerRate = OutputLayerPruneRate, Scope = Scope };

    /// <summary>A copy whose settings (and training settings) can be changed independently.</summary>
    public LotteryTicketOptions Clone()
    {
        var copy = (LotteryTicketOptions)MemberwiseClone();
        copy.Training = Training.Clone();
        return copy;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (Rounds < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Rounds), Rounds, "LotteryTicketOptions.Rounds must be at least 0.");
        }

        if (!(PruneRate > 0 && PruneRate < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(PruneRate), PruneRate, "LotteryTicketOptions.PruneRate must be in (0, 1).");
        }

        if (OutputLayerPruneRate is double o && !(o >= 0 && o < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(OutputLayerPruneRate), o, "LotteryTicketOptions.OutputLayerPruneRate must be in [0, 1) (or null for half of PruneRate).");
        }

        if (!Enum.IsDefined(Reset))
        {
            throw new ArgumentOutOfRangeException(nameof(Reset), Reset, "unknown reset.");
        }

        if (RewindIteration < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(RewindIteration), RewindIteration, "LotteryTicketOptions.RewindIteration must be at least 0.");
        }

        if (RewindIteration > 0 && Reset != TicketReset.Rewind)
        {
            throw new ArgumentException($"LotteryTicketOptions.RewindIteration is {RewindIteration} but Reset is {Reset}; set Reset = TicketReset.Rewind to rewind.", nameof(RewindIteration));
        }

        if ((Controls & ~TicketControls.Both) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Controls), Controls, "unknown control runs.");
        }

        if (TimeBudget is { } budget && budget <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(TimeBudget), budget, "LotteryTicketOptions.TimeBudget must be positive (or null for none).");
        }

        ArgumentNullException.ThrowIfNull(Training, nameof(Training));
        Training.Validate();
        PruningStep.Validate();
    }
}
