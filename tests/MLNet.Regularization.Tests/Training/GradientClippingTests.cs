using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Training;

public class GradientClippingTests
{
    [Fact]
    public void Gradients_above_the_global_norm_are_scaled_to_it_and_smaller_ones_are_left_alone()
    {
        var a = new Parameter("a", new Tensor(2), ParameterKind.Weight);
        var b = new Parameter("b", new Tensor(1), ParameterKind.Bias);
        a.Gradient.Data[0] = 3f;
        a.Gradient.Data[1] = 0f;
        b.Gradient.Data[0] = 4f; // global norm 5 over both parameters
        double norm = TrainingStep.ClipByGlobalNorm([a, b], 1f);
        Assert.Equal(5.0, norm, 12);
        Assert.Equal([0.6f, 0f], a.Gradient.Data);
        Assert.Equal(0.8f, b.Gradient.Data[0], 6);

        Assert.Equal(1.0, TrainingStep.ClipByGlobalNorm([a, b], 2f), 5);
        Assert.Equal([0.6f, 0f], a.Gradient.Data); // below the bound: unchanged
    }

    [Fact]
    public void Clipping_changes_training_only_when_the_bound_binds_and_bad_values_are_refused()
    {
        var data = TestData.Blobs(128, 24, 3, 1).Reshape(4, 6);
        float[] Train(float? clip) => new Trainer(new TrainerOptions { Epochs = 2, BatchSize = 32, GradientClipNorm = clip, Optimizer = new Sgd { LearningRate = 0.5f } })
            .Fit(Network.Sequential(new GRU(8), new Dense(3)), data).Network.Parameters.SelectMany(p => p.Value.Data).ToArray();

        Assert.Equal(Train(null), Train(1e6f));
        Assert.NotEqual(Train(null), Train(0.01f));
        Assert.Contains("GradientClipNorm must be positive", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(new TrainerOptions { GradientClipNorm = 0f })).Message);
        Assert.Contains("clip-norm=5", new TrainerOptions { GradientClipNorm = 5f }.Describe());
    }
}
