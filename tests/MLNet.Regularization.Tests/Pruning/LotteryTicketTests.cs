using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Pruning;

public class LotteryTicketTests
{
    private static readonly Dataset Data = TestData.Blobs(240, 12, 3, 7);
    private static readonly Dataset Test = TestData.Blobs(90, 12, 3, 8);

    private static Network Net() => Network.Sequential(new Dense(32), new BatchNorm(), new ReLU(), new Dense(16), new ReLU(), new Dense(3));

    private static TrainerOptions Training(int epochs = 3) => new()
    {
        Epochs = epochs, BatchSize = 24, Seed = 9, MaxThreads = 2, ValidationFraction = 0.25,
        Optimizer = new Adam { LearningRate = 0.01f },
    };

    private static int[] Bits(Network n) => n.Parameters.SelectMany(p => p.Value.Data).Concat(n.Layers.SelectMany(l => l.State).SelectMany(t => t.Data)).Select(BitConverter.SingleToInt32Bits).ToArray();

    [Fact]
    public void Each_round_resets_the_survivors_to_the_saved_initialization_bit_for_bit()
    {
        var starts = new List<(int Round, TicketRunKind Kind, Network Start)>();
        var lottery = new LotteryTicket(new LotteryTicketOptions { Rounds = 3, PruneRate = 0.3, Training = Training(), Controls = TicketControls.Both })
        {
            RunStarting = (round, kind, start) => starts.Add((round, kind, start.Clone())),
        };
        var progress = new List<LotteryTicketProgress>();
        var result = lottery.Run(Net(), Data, test: Test, progress: new Collect<LotteryTicketProgress>(progress));

        // θ₀ is the network the trainer would have drawn for the seed.
        var expectedInit = Net().Build([12], new Rng(9).Fork());
        Assert.Equal(Bits(expectedInit), Bits(result.Initialization!));
        Assert.Equal(4, result.Rounds.Count);
        foreach (var (round, kind, start) in starts.Where(s => s.Kind == TicketRunKind.Ticket))
        {
            var masks = NetworkSparsity.GetMasks(start);
            Assert.Equal(round == 0, masks.All(m => m is null));
            var reset = result.Initialization!.Clone();
            if (round > 0)
            {
                NetworkSparsity.SetMasks(reset, masks);
            }

            // Every parameter and batch-norm statistic is θ₀ (⊙ M): biases and batch norm reset too.
            Assert.Equal(Bits(reset), Bits(start));
            if (round > 0)
            {
                // The mask was computed from the previous round's trained ticket, not from θ₀.
                Assert.Same(result.Rounds[round].Ticket.Model.Network.Parameters.First().Mask, start.Parameters.First().Mask);
                var previous = NetworkSparsity.PrunableWeights(result.Rounds[round - 1].Ticket.Model.Network);
                var now = NetworkSparsity.PrunableWeights(start);
                Assert.True(LargestPruned(previous[0].Weight, now[0].Weight.Mask!) <= SmallestKept(previous[0].Weight, now[0].Weight.Mask!));
            }
        }

        // About 70% of the previous round's hidden weights survive each round; the output layer loses half as many.
        for (int r = 1; r < result.Rounds.Count; r++)
        {
            var layers = result.Rounds[r].Layers;
            var previous = result.Rounds[r - 1].Layers;
            Assert.InRange(layers[0].Remaining, (long)(0.7 * previous[0].Remaining) - 1, (long)(0.7 * previous[0].Remaining) + 1);
            Assert.InRange(layers[2].Remaining, (long)(0.85 * previous[2].Remaining) - 1, (long)(0.85 * previous[2].Remaining) + 1);
            Assert.True(result.Rounds[r].FractionRemaining < result.Rounds[r - 1].FractionRemaining);
        }

        // Progress: every round starts and finishes, each run reports its epochs and its end.
        Assert.Equal(Enumerable.Range(0, 4), progress.Where(p => p.Kind == LotteryTicketProgressKind.RoundFinished).Select(p => p.Round));
        Assert.Equal(1 + (3 * 3), progress.Count(p => p.Kind == LotteryTicketProgressKind.RunFinished));
        Assert.All(result.Rounds.SelectMany(r => r.Runs), run =>
        {
            Assert.NotNull(run.TestAccuracy);
            Assert.InRange(run.EarlyStopEpoch, 1, 3);
            Assert.Equal(run.EarlyStopEpoch * 8, run.EarlyStopIteration); // 180 training examples in batches of 24
        });
        Assert.Equal(180, result.TrainCount);
        Assert.Equal(60, result.ValidationCount);
    }

    [Fact]
    public void Controls_keep_the_sparsity_and_change_what_they_claim_to()
    {
        var starts = new List<(int Round, TicketRunKind Kind, Network Start)>();
        var lottery = new LotteryTicket(new LotteryTicketOptions { Rounds = 2, PruneRate = 0.5, Training = Training(2), Controls = TicketControls.Both })
        {
            RunStarting = (round, kind, start) => starts.Add((round, kind, start.Clone())),
        };
        var result = lottery.Run(Net(), Data);
        foreach (int round in new[] { 1, 2 })
        {
            var ticket = starts.Single(s => s.Round == round && s.Kind == TicketRunKind.Ticket).Start;
            var reinit = starts.Single(s => s.Round == round && s.Kind == TicketRunKind.RandomReinitialization).Start;
            var random = starts.Single(s => s.Round == round && s.Kind == TicketRunKind.RandomMask).Start;
            var t = NetworkSparsity.PrunableWeights(ticket);
            var re = NetworkSparsity.PrunableWeights(reinit);
            var rm = NetworkSparsity.PrunableWeights(random);
            for (int i = 0; i < t.Count; i++)
            {
                // Re-initialization: the same mask, other values.
                Assert.Same(t[i].Weight.Mask, re[i].Weight.Mask);
                Assert.NotEqual(t[i].Weight.Value.Data, re[i].Weight.Value.Data);

                // Random mask: as many survivors per layer, others than the ticket's, on θ₀.
                Assert.Equal(t[i].Weight.Mask!.KeptCount, rm[i].Weight.Mask!.KeptCount);
                Assert.NotEqual(t[i].Weight.Mask!.ToFlags(), rm[i].Weight.Mask!.ToFlags());
                var theta0 = NetworkSparsity.PrunableWeights(result.Initialization!)[i].Weight.Value.Data;
                for (int j = 0; j < theta0.Length; j++)
                {
                    Assert.Equal(rm[i].Weight.Mask!.IsKept(j) ? theta0[j] : 0f, rm[i].Weight.Value.Data[j]);
                }
            }

            Assert.NotNull(result.Rounds[round].RandomReinitialization);
            Assert.NotNull(result.Rounds[round].RandomMask);
        }
    }

    [Fact]
    public void Rewinding_restores_the_weights_of_iteration_k()
    {
        // k = 16 steps = 2 epochs of 8 batches: the rewind point must equal a separate two-epoch run, bit for bit.
        var training = Training(4);
        var starts = new List<(int Round, TicketRunKind Kind, Network Start)>();
        var lottery = new LotteryTicket(new LotteryTicketOptions { Rounds = 1, PruneRate = 0.4, Reset = TicketReset.Rewind, RewindIteration = 16, Training = training })
        {
            RunStarting = (round, kind, start) => starts.Add((round, kind, start.Clone())),
        };
        var result = lottery.Run(Net(), Data);

        var (train, _) = DataSplit.StratifiedSplit(Data, 0.25, 9);
        var twoEpochs = training.Clone();
        twoEpochs.Epochs = 2;
        twoEpochs.ValidationFraction = 0;
        var reference = new Trainer(twoEpochs).Fit(result.Initialization!, train).Network;
        Assert.Equal(Bits(reference), Bits(result.RewindPoint!));
        Assert.NotEqual(Bits(result.Initialization!), Bits(result.RewindPoint!));

        var ticket = starts.Single(s => s.Round == 1).Start;
        var rewound = result.RewindPoint!.Clone();
        NetworkSparsity.SetMasks(rewound, NetworkSparsity.GetMasks(ticket));
        Assert.Equal(Bits(rewound), Bits(ticket));

        var tooFar = new LotteryTicket(new LotteryTicketOptions { Rounds = 1, Reset = TicketReset.Rewind, RewindIteration = 1000, Training = Training(1) });
        var error = Assert.Throws<InvalidOperationException>(() => tooFar.Run(Net(), Data));
        Assert.Contains("cannot rewind to step 1000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void No_reset_prunes_and_fine_tunes_the_trained_weights()
    {
        var starts = new List<(int Round, TicketRunKind Kind, Network Start)>();
        var lottery = new LotteryTicket(new LotteryTicketOptions { Rounds = 1, PruneRate = 0.6, Reset = TicketReset.None, Training = Training(2) })
        {
            RunStarting = (round, kind, start) => starts.Add((round, kind, start.Clone())),
        };
        var result = lottery.Run(Net(), Data);
        var trained = result.Rounds[0].Ticket.Model.Network.Clone();
        var start = starts.Single(s => s.Round == 1).Start;
        NetworkSparsity.SetMasks(trained, NetworkSparsity.GetMasks(start));
        Assert.Equal(Bits(trained), Bits(start));
    }

    [Fact]
    public void Cancellation_and_the_time_budget_keep_the_completed_rounds()
    {
        using var cancel = new CancellationTokenSource();
        var lottery = new LotteryTicket(new LotteryTicketOptions { Rounds = 5, Training = Training(2) });
        var progress = new Collect<LotteryTicketProgress>(p =>
        {
            if (p.Kind == LotteryTicketProgressKind.RoundFinished && p.Round == 1)
            {
                cancel.Cancel();
            }
        });
        var result = lottery.Run(Net(), Data, progress: progress, cancellationToken: cancel.Token);
        Assert.True(result.Cancelled);
        Assert.False(result.BudgetExhausted);
        Assert.Equal(2, result.Rounds.Count);

        var budgeted = new LotteryTicket(new LotteryTicketOptions { Rounds = 50, Training = Training(3), TimeBudget = TimeSpan.FromMilliseconds(1) }).Run(Net(), Data);
        Assert.True(budgeted.BudgetExhausted);
        Assert.True(budgeted.Rounds.Count < 51);
    }

    [Fact]
    public void Bad_settings_are_refused_with_their_names()
    {
        Assert.Contains("PruneRate", Assert.Throws<ArgumentOutOfRangeException>(() => new LotteryTicket(new LotteryTicketOptions { PruneRate = 1 })).Message, StringComparison.Ordinal);
        Assert.Contains("Reset = TicketReset.Rewind", Assert.Throws<ArgumentException>(() => new LotteryTicket(new LotteryTicketOptions { RewindIteration = 5 })).Message, StringComparison.Ordinal);
        Assert.Contains("Rounds", Assert.Throws<ArgumentOutOfRangeException>(() => new LotteryTicket(new LotteryTicketOptions { Rounds = -1 })).Message, StringComparison.Ordinal);
        var mismatch = Assert.Throws<ArgumentException>(() => new LotteryTicket(new LotteryTicketOptions { Training = Training(1) }).Run(Net(), Data, test: TestData.Blobs(10, 5, 3, 1)));
        Assert.Contains("test data", mismatch.Message, StringComparison.Ordinal);
    }

    private static float LargestPruned(Parameter trained, WeightMask mask) =>
        trained.Value.Data.Where((_, j) => !mask.IsKept(j) && (trained.Mask?.IsKept(j) ?? true)).Select(Math.Abs).DefaultIfEmpty(0f).Max();

    private static float SmallestKept(Parameter trained, WeightMask mask) =>
        trained.Value.Data.Where((_, j) => mask.IsKept(j)).Select(Math.Abs).Min();

    private sealed class Collect<T>(Action<T> onReport) : IProgress<T>
    {
        public Collect(List<T> into)
            : this(into.Add)
        {
        }

        public void Report(T value) => onReport(value);
    }
}
