using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Recurrent;

/// <summary>
/// Finite-difference checks of backpropagation through time (T = 5) for the LSTM, the GRU and every recurrent
/// regularizer, with the masks fixed by seeding each evaluation's context identically, on every GEMM kernel path.
/// </summary>
public class RecurrentGradientTests
{
    // 9 units: one vector of 8 (AVX2 and AVX-512 alike) and a scalar tail in the element-wise loops.
    public const int Steps = 5, Features = 3, Units = 9, Batch = 6;

    /// <summary>Name → layer factory: each cell in both output modes, each regularizer, and a combination.</summary>
    public static readonly Dictionary<string, Func<Layer>> Cases = new()
    {
        ["lstm_last"] = () => new LSTM(Units),
        ["lstm_sequences"] = () => new LSTM(Units, returnSequences: true),
        ["gru_last"] = () => new GRU(Units),
        ["gru_sequences"] = () => new GRU(Units, returnSequences: true),
        ["lstm_non_recurrent"] = () => new LSTM(Units, true, new NonRecurrentDropout(0.3f, 0.3f)),
        ["lstm_variational"] = () => new LSTM(Units, true, new VariationalRecurrentDropout(0.3f, 0.3f, 0.3f)),
        ["lstm_rnndrop"] = () => new LSTM(Units, true, new RnnDrop(0.3f)),
        ["lstm_recurrent_dropout_step"] = () => new LSTM(Units, true, new RecurrentDropoutWithoutMemoryLoss(0.3f)),
        ["lstm_recurrent_dropout_sequence"] = () => new LSTM(Units, false, new RecurrentDropoutWithoutMemoryLoss(0.3f, RecurrentMaskSampling.PerSequence)),
        ["lstm_weight_drop"] = () => new LSTM(Units, true, new WeightDrop(0.4f)),
        ["lstm_zoneout"] = () => new LSTM(Units, true, new Zoneout(0.4f, 0.3f)),
        ["lstm_weight_drop_variational_last"] = () => new LSTM(Units, false, new WeightDrop(0.3f), new VariationalRecurrentDropout(0.2f, 0.3f, 0.2f)),
        ["gru_non_recurrent"] = () => new GRU(Units, true, new NonRecurrentDropout(0.3f, 0.3f)),
        ["gru_variational"] = () => new GRU(Units, true, new VariationalRecurrentDropout(0.3f, 0.3f, 0.3f)),
        ["gru_recurrent_dropout"] = () => new GRU(Units, true, new RecurrentDropoutWithoutMemoryLoss(0.3f)),
        ["gru_weight_drop"] = () => new GRU(Units, false, new WeightDrop(0.4f)),
        ["gru_zoneout"] = () => new GRU(Units, true, new Zoneout(0f, 0.4f)),
        ["bidirectional_lstm_sequences"] = () => new Bidirectional(new LSTM(Units, true, new VariationalRecurrentDropout(0.2f, 0.2f))),
        ["bidirectional_gru_last"] = () => new Bidirectional(new GRU(Units, false, new WeightDrop(0.3f))),
    };

    public static TheoryData<string, string> CasesOnPaths()
    {
        var data = new TheoryData<string, string>();
        foreach (string path in new[] { "Vector512", "Vector256", "Vector128", "Scalar" })
        {
            foreach (string name in Cases.Keys)
            {
                data.Add(name, path);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CasesOnPaths))]
    public void Backpropagation_through_time_matches_finite_differences(string name, string path)
    {
        var before = Gemm.ForcedPath;
        Gemm.ForcedPath = Enum.Parse<GemmPath>(path);
        try
        {
            var layer = Cases[name]();
            layer.Build([Steps, Features], new Rng(7));
            var x = GradientCheck.Random(8, 1f, Batch, Steps, Features);
            GradientCheck.Check(layer, x, maxChecks: 40);
        }
        finally
        {
            Gemm.ForcedPath = before;
        }
    }

    [Fact]
    public void Stacked_layers_backpropagate_into_the_lower_layer()
    {
        // The upper layer's input gradient is what trains the lower one: check dL/dx of a GRU over an LSTM's sequence.
        var lower = new LSTM(4, returnSequences: true, new NonRecurrentDropout(0.2f));
        var upper = new GRU(3, false, new VariationalRecurrentDropout(0.2f, 0.2f));
        lower.Build([Steps, Features], new Rng(1));
        upper.Build([Steps, 4], new Rng(2));
        var x = GradientCheck.Random(3, 1f, Batch, Steps, Features);
        var r = GradientCheck.Random(99, 1f, Batch, 3);
        var ctx = GradientCheck.TrainContext();
        Forward(ctx);
        var dx = lower.Backward(upper.Backward(r, ctx), ctx).Clone();

        Tensor Forward(ForwardContext c) => upper.Forward(lower.Forward(x, c), c);
        double Loss()
        {
            var y = Forward(GradientCheck.TrainContext());
            double s = 0;
            for (int i = 0; i < y.Length; i++)
            {
                s += (double)r.Data[i] * y.Data[i];
            }

            return s;
        }

        GradientCheck.Compare("input", x.Data, dx.Data, Loss, 40, 2e-3, 2e-2, "LSTM → GRU");
    }

    [Fact]
    public void Embedding_table_gradient_matches_finite_differences_with_word_dropout()
    {
        var layer = new Embedding(vocabularySize: 7, dimension: 4, dropout: 0.3f);
        layer.Build([Steps], new Rng(1));
        var ids = new Tensor(Batch, Steps);
        var rng = new Rng(5);
        for (int i = 0; i < ids.Length; i++)
        {
            ids.Data[i] = rng.NextInt(7);
        }

        var r = GradientCheck.Random(99, 1f, Batch, Steps, 4);
        var ctx = GradientCheck.TrainContext();
        var y0 = layer.Forward(ids, ctx).Clone();
        layer.Backward(r, ctx);
        var analytic = layer.Table.Gradient.Data.ToArray();
        int zeroRows = Enumerable.Range(0, Batch * Steps).Count(i => y0.Data.AsSpan(i * 4, 4).IndexOfAnyExcept(0f) < 0);
        Assert.InRange(zeroRows, 1, Batch * Steps - 1); // the masks drop some words and keep others

        double Loss()
        {
            var y = layer.Forward(ids, GradientCheck.TrainContext());
            double s = 0;
            for (int i = 0; i < y.Length; i++)
            {
                s += (double)r.Data[i] * y.Data[i];
            }

            return s;
        }

        GradientCheck.Compare("table", layer.Table.Value.Data, analytic, Loss, 28, 2e-3, 2e-2, "Embedding");
    }
}

public class RecurrentReproducibilityTests
{
    [Theory]
    [InlineData("Vector512")]
    [InlineData("Vector256")]
    [InlineData("Vector128")]
    [InlineData("Scalar")]
    public void Recurrent_training_is_bit_identical_with_one_or_two_threads_and_changes_with_the_seed(string path)
    {
        var before = Gemm.ForcedPath;
        Gemm.ForcedPath = Enum.Parse<GemmPath>(path);
        try
        {
            var blobs = TestData.Blobs(192, 48, 3, 1);
            var data = blobs.Reshape(6, 8);
            float[] Train(int threads, int seed) => new Trainer(new TrainerOptions { Epochs = 2, BatchSize = 64, Seed = seed, MaxThreads = threads, GradientClipNorm = 1f })
                .Fit(Network.Sequential(
                    new LSTM(40, true, new NonRecurrentDropout(0.2f), new WeightDrop(0.3f), new RecurrentDropoutWithoutMemoryLoss(0.2f)),
                    new LSTM(24, true, new RnnDrop(0.2f)), new LSTM(20, true, new Zoneout(0.2f, 0.1f)),
                    new GRU(17, false, new VariationalRecurrentDropout(0.2f, 0.2f, 0.2f)), new Dense(3)), data)
                .Network.Parameters.SelectMany(p => p.Value.Data).ToArray();

            var one = Train(1, 7);
            Assert.Equal(one, Train(2, 7));
            Assert.NotEqual(one, Train(1, 8));
        }
        finally
        {
            Gemm.ForcedPath = before;
        }
    }
}
