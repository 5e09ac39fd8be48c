using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Layers;

public class InferenceFoldingTests
{
    private static int[] Bits(float[] v) => v.Select(BitConverter.SingleToInt32Bits).ToArray();

    private static TrainedModel Train(Network net) =>
        new Trainer(new TrainerOptions { Epochs = 2, BatchSize = 32, Seed = 4 }).Fit(net, TestData.Blobs(240, 6, 3, 7));

    private static float[] Forward(Network net, Tensor x, ForwardMode mode = ForwardMode.Inference) =>
        net.Forward(x, new ForwardContext(mode, new Rng(1))).Clone().Data;

    [Fact]
    public void Batch_norm_after_dense_is_folded_and_computes_the_same_function()
    {
        var model = Train(Network.Sequential(
            new Dense(16), new BatchNorm(), new ReLU(), new Dense(8, useBias: false), new BatchNorm(), new Tanh(),
            new BatchNorm(), new Dense(3)));
        var folded = InferenceFolding.ForInference(model.Network);

        // Dense+BN pairs become one Dense each; the batch norm after Tanh follows no Dense and stays.
        Assert.Equal(["Dense", "ReLU", "Dense", "Tanh", "BatchNorm", "Dense"], folded.Layers.Select(l => l.Name));
        Assert.True(((Dense)folded.Layers[2]).UseBias);

        var x = TestData.Blobs(50, 6, 3, 8).Features;
        var expected = Forward(model.Network, x);
        var actual = Forward(folded, x);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], actual[i], 1e-4f * Math.Max(1f, Math.Abs(expected[i])));
        }

        // The model predicts with exactly this network.
        Assert.Equal(Bits(actual), Bits(model.PredictRaw(x).Data));
        Assert.Equal(Bits(actual), Bits(Forward(model.InferenceNetwork, x)));
    }

    [Fact]
    public void DropConnect_becomes_a_dense_with_expected_weights_bit_for_bit()
    {
        var model = Train(Network.Sequential(new DropConnectDense(12, 0.4f), new ReLU(), new DropConnectDense(3, 0.3f, DropConnectMaskMode.PerExample)));
        var folded = InferenceFolding.ForInference(model.Network);
        Assert.All(folded.Layers.Where(l => l is not ReLU), l => Assert.IsType<Dense>(l));
        var dc = (DropConnectDense)model.Network.Layers[0];
        Assert.Equal(Bits(dc.ExpectedWeights().Data), Bits(((Dense)folded.Layers[0]).Weight.Value.Data));

        // DropConnectDense's own inference forward computes the same arithmetic as the folded Dense.
        var x = TestData.Blobs(40, 6, 3, 9).Features;
        Assert.Equal(Bits(Forward(model.Network, x)), Bits(Forward(folded, x)));
    }

    [Fact]
    public void Folding_in_two_steps_gives_the_same_network_as_in_one()
    {
        // Exporting without folding batch norm and folding after import must reproduce the model bit for bit.
        var model = Train(Network.Sequential(new DropConnectDense(16, 0.5f), new BatchNorm(), new ReLU(), new Dense(16, useBias: false), new BatchNorm(), new GELU(), new Dense(3)));
        var once = InferenceFolding.ForInference(model.Network);
        var unfolded = InferenceFolding.ForInference(model.Network, foldBatchNorm: false);
        Assert.Contains(unfolded.Layers, l => l is BatchNorm);
        var twice = InferenceFolding.ForInference(unfolded);
        var viaMonteCarlo = InferenceFolding.ForInference(InferenceFolding.ForMonteCarlo(model.Network));
        float[] Values(Network n) => n.Parameters.SelectMany(p => p.Value.Data).ToArray();
        Assert.Equal(Bits(Values(once)), Bits(Values(twice)));
        Assert.Equal(Bits(Values(once)), Bits(Values(viaMonteCarlo)));
    }

    [Fact]
    public void Monte_Carlo_network_keeps_every_stochastic_layer()
    {
        var model = Train(Network.Sequential(new Dense(16), new BatchNorm(), new ReLU(), new Dropout(0.3f), new DropConnectDense(8, 0.3f), new GaussianDropout(0.2f), new Dense(3)));
        var mc = InferenceFolding.ForMonteCarlo(model.Network);
        Assert.Equal(["Dense", "ReLU", "Dropout", "DropConnectDense", "GaussianDropout", "Dense"], mc.Layers.Select(l => l.Name));
        var inference = InferenceFolding.ForInference(model.Network);
        Assert.Equal(["Dense", "ReLU", "Dropout", "Dense", "GaussianDropout", "Dense"], inference.Layers.Select(l => l.Name));

        // The folded copy is independent of the original.
        ((Dense)mc.Layers[0]).Weight.Value.Span.Clear();
        Assert.NotEqual(0f, ((Dense)model.Network.Layers[0]).Weight.Value.Data.Select(Math.Abs).Max());
    }
}
