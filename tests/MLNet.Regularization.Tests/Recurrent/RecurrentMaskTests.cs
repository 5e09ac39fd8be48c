using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using Xunit;

namespace MLNet.Regularization.Tests.Recurrent;

/// <summary>
/// Where each recurrent regularizer's masks go and how often they are drawn, read from what the layer computed
/// (its time-major buffers), not from the regularizer's own description: constant over time where the method says
/// per sequence, fresh per step where it says per step, the rate within 0.5 pp over at least 10⁶ draws, the weight
/// mask shared by a whole mini-batch, zoneout keeping exactly the chosen units; and inference / Monte Carlo behaviour.
/// </summary>
public class RecurrentMaskTests
{
    private static ForwardContext Train(int seed = 3, int threads = 1) => new(ForwardMode.Train, new Rng(seed), threads);

    private static RecurrentPass Pass(ForwardContext ctx, Layer layer) => ctx.Scratch<RecurrentPass>(layer);

    private static Tensor Ones(params int[] shape)
    {
        var t = new Tensor(shape);
        t.Span.Fill(1f);
        return t;
    }

    private static bool[] Zeros(ReadOnlySpan<float> row)
    {
        var z = new bool[row.Length];
        for (int i = 0; i < row.Length; i++)
        {
            z[i] = row[i] == 0f;
        }

        return z;
    }

    [Fact]
    public void Variational_masks_are_constant_over_time_differ_across_sequences_and_drop_at_the_rate()
    {
        const int batch = 1000, steps = 4, inputs = 100, units = 100;
        const float rate = 0.3f;
        var layer = new LSTM(units, returnSequences: true, new VariationalRecurrentDropout(rate, rate, rate));
        layer.Build([steps, inputs], new Rng(1));
        long dropped = 0, total = 0;
        for (int round = 0; round < 4; round++)
        {
            var ctx = Train(round);
            var y = layer.Forward(Ones(batch, steps, inputs), ctx);
            var pass = Pass(ctx, layer);
            for (int b = 0; b < batch; b++)
            {
                // Input: x = 1, so the time-major masked input is the mask itself.
                var inputMask = Zeros(RecurrentPass.Row(pass.Xt, 0, b, batch, inputs));
                var stateMask = Zeros(RecurrentPass.Row(pass.MaskedState!, 1, b, batch, units));
                var outputMask = Zeros(y.Data.AsSpan(b * steps * units, units));
                for (int t = 1; t < steps; t++)
                {
                    Assert.Equal(inputMask, Zeros(RecurrentPass.Row(pass.Xt, t, b, batch, inputs)));
                    Assert.Equal(stateMask, Zeros(RecurrentPass.Row(pass.MaskedState!, t, b, batch, units)));
                    Assert.Equal(outputMask, Zeros(y.Data.AsSpan(((b * steps) + t) * units, units)));
                }

                if (b > 0)
                {
                    Assert.NotEqual(Zeros(RecurrentPass.Row(pass.Xt, 0, b - 1, batch, inputs)), inputMask);
                }

                dropped += inputMask.Count(z => z) + stateMask.Count(z => z) + outputMask.Count(z => z);
                total += inputs + units + units;
            }

            // Kept input units are scaled by 1/(1 − p).
            Assert.All(pass.Xt.Data, v => Assert.True(v == 0f || v == 1f / (1f - rate)));
        }

        Assert.True(total >= 1_000_000);
        Assert.InRange((double)dropped / total, rate - 0.005, rate + 0.005);
    }

    [Fact]
    public void RnnDrop_zeroes_the_same_memory_cells_for_a_whole_sequence_at_the_rate()
    {
        const int batch = 2000, steps = 5, units = 100;
        const float rate = 0.25f;
        var layer = new LSTM(units, false, new RnnDrop(rate));
        layer.Build([steps, 2], new Rng(1));
        long dropped = 0, total = 0, keptButZero = 0, notZero = 0;
        for (int round = 0; round < 5; round++)
        {
            var ctx = Train(10 + round);
            layer.Forward(GradientCheck.Random(round, 1f, batch, steps, 2), ctx);
            var pass = Pass(ctx, layer);
            var cellMask = pass.Masks.Cell.Scale!;
            Assert.False(pass.Masks.Cell.PerStep);
            for (int b = 0; b < batch; b++)
            {
                // The cells this sequence drops hold 0 (and output 0) at every step; the kept ones run freely (an
                // exact 0 from rounding is possible but rare).
                var droppedCells = Zeros(cellMask.Data.AsSpan(b * units, units));
                for (int t = 1; t <= steps; t++)
                {
                    var c = RecurrentPass.Row(pass.Cs!, t, b, batch, units);
                    var h = RecurrentPass.Row(pass.Hs, t, b, batch, units);
                    for (int u = 0; u < units; u++)
                    {
                        if (droppedCells[u])
                        {
                            notZero += c[u] == 0f && h[u] == 0f ? 0 : 1;
                        }
                        else
                        {
                            keptButZero += c[u] == 0f ? 1 : 0;
                        }
                    }
                }

                if (b > 0)
                {
                    Assert.NotEqual(Zeros(cellMask.Data.AsSpan((b - 1) * units, units)), droppedCells);
                }

                dropped += droppedCells.Count(z => z);
                total += units;
            }
        }

        Assert.Equal(0, notZero); // a dropped cell (and its output) is 0 at every step of its sequence
        Assert.True(keptButZero < 10, $"{keptButZero} kept cells were exactly 0");
        Assert.True(total >= 1_000_000);
        Assert.InRange((double)dropped / total, rate - 0.005, rate + 0.005);
    }

    [Fact]
    public void Embedding_dropout_drops_whole_word_types_per_sequence_at_the_rate()
    {
        const int batch = 1000, vocabulary = 1000;
        const float rate = 0.2f;
        var layer = new Embedding(vocabulary, 1, rate);
        layer.Build([2 * vocabulary], new Rng(1));
        var ids = new Tensor(batch, 2 * vocabulary);
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < 2 * vocabulary; t++)
            {
                ids.Data[(b * 2 * vocabulary) + t] = (t * 7 + b) % vocabulary; // every word twice per sequence
            }
        }

        var y = layer.Forward(ids, Train());
        long dropped = 0, mismatched = 0;
        var patterns = new HashSet<string>();
        for (int b = 0; b < batch; b++)
        {
            var droppedWords = new bool[vocabulary];
            var seen = new bool[vocabulary];
            for (int t = 0; t < 2 * vocabulary; t++)
            {
                int id = (int)ids.Data[(b * 2 * vocabulary) + t];
                bool zero = y.Data[(b * 2 * vocabulary) + t] == 0f;
                if (seen[id] && droppedWords[id] != zero)
                {
                    mismatched++; // both occurrences must share the mask
                }

                seen[id] = true;
                droppedWords[id] = zero;
            }

            dropped += droppedWords.Count(d => d);
            patterns.Add(string.Concat(droppedWords.Select(d => d ? '1' : '0')));
        }

        Assert.Equal(0, mismatched);
        Assert.Equal(batch, patterns.Count); // a different mask for every sequence
        Assert.InRange((double)dropped / (batch * vocabulary), rate - 0.005, rate + 0.005);
    }

    [Fact]
    public void Weight_drop_mask_is_shared_by_the_mini_batch_redrawn_per_batch_and_drops_at_the_rate()
    {
        const float rate = 0.4f;
        var layer = new LSTM(500, false, new WeightDrop(rate));
        layer.Build([3, 2], new Rng(1));
        var ctx = Train();

        // Two identical sequences in one batch meet the same weights, so they give the same output.
        var x = GradientCheck.Random(1, 1f, 1, 3, 2);
        var twice = new Tensor(2, 3, 2);
        x.Span.CopyTo(twice.Span);
        x.Span.CopyTo(twice.Span[6..]);
        var y = layer.Forward(twice, ctx);
        Assert.Equal(y.Data.AsSpan(0, 500).ToArray(), y.Data.AsSpan(500, 500).ToArray());
        var mask = Pass(ctx, layer).Masks.WeightMask!.Data.ToArray();
        Assert.True(mask.Length >= 1_000_000);
        Assert.All(mask, v => Assert.True(v == 0f || v == 1f / (1f - rate)));
        Assert.InRange(mask.Count(v => v == 0f) / (double)mask.Length, rate - 0.005, rate + 0.005);

        layer.Forward(twice, ctx);
        Assert.NotEqual(mask, Pass(ctx, layer).Masks.WeightMask!.Data);
    }

    [Fact]
    public void Zoneout_keeps_exactly_the_chosen_units_and_updates_the_others()
    {
        const int batch = 1000, steps = 10, units = 100;
        const float cellRate = 0.5f, hiddenRate = 0.15f;
        var layer = new LSTM(units, true, new Zoneout(cellRate, hiddenRate));
        layer.Build([steps, 3], new Rng(1));
        var ctx = Train();
        layer.Forward(GradientCheck.Random(2, 1f, batch, steps, 3), ctx);
        var pass = Pass(ctx, layer);
        var masks = pass.Masks;
        long keptCells = 0, keptHidden = 0, wrong = 0;
        for (int t = 0; t < steps; t++)
        {
            for (int b = 0; b < batch; b++)
            {
                var keepC = masks.Cell.KeepRow(t, b, batch, units);
                var keepH = masks.Hidden.KeepRow(t, b, batch, units);
                var cPrevious = RecurrentPass.Row(pass.Cs!, t, b, batch, units);
                var c = RecurrentPass.Row(pass.Cs!, t + 1, b, batch, units);
                var hPrevious = RecurrentPass.Row(pass.Hs, t, b, batch, units);
                var h = RecurrentPass.Row(pass.Hs, t + 1, b, batch, units);
                var gates = RecurrentPass.Row(pass.Gx, t, b, batch, 4 * units);
                var tanhCell = RecurrentPass.Row(pass.TanhCell!, t, b, batch, units);
                for (int u = 0; u < units; u++)
                {
                    float fresh = (gates[(2 * units) + u] * cPrevious[u]) + (gates[u] * gates[(3 * units) + u]);
                    bool keptCell = keepC[u] == 1f, keptState = keepH[u] == 1f;
                    keptCells += keptCell ? 1 : 0;
                    keptHidden += keptState ? 1 : 0;
                    wrong += keptCell ? (c[u] != cPrevious[u] ? 1 : 0) : (keepC[u] != 0f || MathF.Abs(c[u] - fresh) > 1e-5f ? 1 : 0);
                    wrong += keptState ? (h[u] != hPrevious[u] ? 1 : 0) : (MathF.Abs(h[u] - (gates[units + u] * tanhCell[u])) > 1e-6f ? 1 : 0);
                }
            }
        }

        Assert.Equal(0, wrong); // kept units hold exactly their previous value, the others the fresh update
        double n = (double)steps * batch * units;
        Assert.True(n >= 1_000_000);
        Assert.InRange(keptCells / n, cellRate - 0.005, cellRate + 0.005);
        Assert.InRange(keptHidden / n, hiddenRate - 0.005, hiddenRate + 0.005);
    }

    [Theory]
    [InlineData(RecurrentMaskSampling.PerStep)]
    [InlineData(RecurrentMaskSampling.PerSequence)]
    public void Recurrent_dropout_without_memory_loss_masks_the_candidate_per_step_or_per_sequence(RecurrentMaskSampling sampling)
    {
        const int batch = 1000, steps = 10, units = 100;
        const float rate = 0.35f;
        var layer = new LSTM(units, true, new RecurrentDropoutWithoutMemoryLoss(rate, sampling));
        layer.Build([steps, 3], new Rng(1));
        var ctx = Train();
        layer.Forward(GradientCheck.Random(2, 1f, batch, steps, 3), ctx);
        var masks = Pass(ctx, layer).Masks;
        Assert.False(masks.Cell.IsActive);
        Assert.False(masks.RecurrentState.IsActive);
        long dropped = 0;
        int changes = 0;
        for (int b = 0; b < batch; b++)
        {
            var first = Zeros(masks.Candidate.ScaleRow(0, b, batch, units));
            for (int t = 0; t < steps; t++)
            {
                var row = Zeros(masks.Candidate.ScaleRow(t, b, batch, units));
                dropped += row.Count(z => z);
                changes += row.SequenceEqual(first) ? 0 : 1;
            }
        }

        if (sampling == RecurrentMaskSampling.PerSequence)
        {
            Assert.Equal(0, changes);
            dropped *= 1; // each sequence's mask counted T times: the rate is unchanged
        }
        else
        {
            Assert.Equal(batch * (steps - 1), changes);
        }

        Assert.InRange(dropped / ((double)batch * steps * units), rate - 0.005, rate + 0.005);
    }

    [Fact]
    public void Non_recurrent_dropout_draws_a_fresh_input_mask_every_step_and_leaves_the_recurrence_alone()
    {
        const int batch = 200, steps = 6, inputs = 50;
        var layer = new GRU(8, true, new NonRecurrentDropout(0.5f, 0.5f));
        layer.Build([steps, inputs], new Rng(1));
        var ctx = Train();
        layer.Forward(Ones(batch, steps, inputs), ctx);
        var pass = Pass(ctx, layer);
        Assert.Null(pass.MaskedState);
        Assert.Null(pass.Masks.WeightMask);
        for (int b = 0; b < batch; b++)
        {
            Assert.NotEqual(Zeros(RecurrentPass.Row(pass.Xt, 0, b, batch, inputs)), Zeros(RecurrentPass.Row(pass.Xt, 1, b, batch, inputs)));
        }
    }

    public static TheoryData<string> RegularizedCases => new(RecurrentGradientTests.Cases.Keys.Where(k => !k.EndsWith("_last") && !k.EndsWith("_sequences") && !k.StartsWith("bidirectional")));

    [Theory]
    [MemberData(nameof(RegularizedCases))]
    public void Inference_vanishes_or_takes_the_expectation_Monte_Carlo_samples_and_seeds_reproduce(string name)
    {
        var layer = RecurrentGradientTests.Cases[name]();
        layer.Build([5, 3], new Rng(1));
        var plain = ((RecurrentLayer)layer) is LSTM l ? new LSTM(l.Units, l.ReturnSequences) : (Layer)new GRU(((RecurrentLayer)layer).Units, ((RecurrentLayer)layer).ReturnSequences);
        plain.Build([5, 3], new Rng(1));
        for (int i = 0; i < plain.Parameters.Count; i++)
        {
            layer.Parameters[i].Value.Span.CopyTo(plain.Parameters[i].Value.Span);
        }

        var x = GradientCheck.Random(4, 1f, 7, 5, 3);
        var inference = layer.Forward(x, new ForwardContext(ForwardMode.Inference)).Data.ToArray();
        var plainInference = plain.Forward(x, new ForwardContext(ForwardMode.Inference)).Data.ToArray();
        bool zoneout = ((RecurrentLayer)layer).Regularizers.Any(r => r is Zoneout);
        if (zoneout)
        {
            Assert.NotEqual(plainInference, inference); // the expectation blend, not the plain cell
        }
        else
        {
            Assert.Equal(plainInference, inference); // bit for bit: the regularizers vanish
        }

        Assert.True(layer.IsStochastic);
        var mc = new ForwardContext(ForwardMode.MonteCarlo, new Rng(5));
        var first = layer.Forward(x, mc).Data.ToArray();
        Assert.NotEqual(first, layer.Forward(x, mc).Data.ToArray());
        Assert.Equal(first, layer.Forward(x, new ForwardContext(ForwardMode.MonteCarlo, new Rng(5))).Data.ToArray());
        Assert.NotEqual(first, layer.Forward(x, new ForwardContext(ForwardMode.MonteCarlo, new Rng(6))).Data.ToArray());
    }

    [Fact]
    public void Mismatched_regularizers_are_refused_with_a_clear_message()
    {
        var e = Assert.Throws<ArgumentException>(() => new LSTM(4, false, new RnnDrop(0.2f), new Zoneout(0.2f, 0f)));
        Assert.Contains("both mask the Cell site", e.Message);
        var gru = Network.Sequential(new GRU(4, false, new RnnDrop(0.2f)), new Dense(2));
        Assert.Contains("RNNDrop drops the LSTM memory cell; GRU has none", Assert.Throws<ArgumentException>(() => gru.Build([3, 2])).Message);
        var zoneout = Network.Sequential(new GRU(4, false, new Zoneout(0.3f, 0.1f)), new Dense(2));
        Assert.Contains("set cellRate to 0", Assert.Throws<ArgumentException>(() => zoneout.Build([3, 2])).Message);
        Assert.Contains("expects sequences [T, D]", Assert.Throws<ArgumentException>(() => Network.Sequential(new LSTM(3), new Dense(2)).Build([12])).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new VariationalRecurrentDropout(0.2f, 1f));
        var embedding = new Embedding(5, 2);
        embedding.Build([3], new Rng(1));
        var ids = new Tensor(new float[] { 0, 1, 2, 3, 4.5f, 1 }, 2, 3);
        Assert.Contains("token id 4.5 in example 1, step 1 is not a whole number in 0..4", Assert.Throws<ArgumentException>(() => embedding.Forward(ids, Train())).Message);
    }
}
