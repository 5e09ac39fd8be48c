using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Training;

/// <summary>Issue 15: runs that blew up finished "Completed" (SGD at lr 1e8 predicting NaN everywhere, Adam at lr 1e6
/// at loss 6e13), and a detected divergence lost the last good weights.</summary>
public sealed class DivergenceTests
{
    private static Network Mlp() => Network.Sequential(new Dense(16), new ReLU(), new Dense(3));

    private static readonly Lazy<MLNet.Regularization.Data.Dataset> Data = new(() => TestData.Blobs(120, 5, 3, 7));

    [Fact]
    public void Sgd_at_learning_rate_1e8_stops_with_a_named_error_and_the_last_good_model()
    {
        var trainer = new Trainer(new TrainerOptions { Epochs = 3, BatchSize = 16, Optimizer = new Sgd { LearningRate = 1e8f } });
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Fit(Mlp(), Data.Value));
        Assert.Contains("Lower the learning rate (it is 1E+08", e.Message);
        Assert.Equal(StopReason.Diverged, e.LastGoodModel.History.StopReason);
        Assert.All(e.LastGoodModel.PredictProbabilities(Data.Value.Features), p => Assert.True(float.IsFinite(p)));
    }

    [Fact]
    public void Adam_at_learning_rate_1e6_does_not_complete_at_an_exploded_loss()
    {
        var trainer = new Trainer(new TrainerOptions { Epochs = 3, BatchSize = 16, Optimizer = new Adam { LearningRate = 1e6f } });
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Fit(Mlp(), Data.Value));
        Assert.True(e.Message.Contains("exploded", StringComparison.Ordinal) || e.Message.Contains("NaN or infinite", StringComparison.Ordinal), e.Message);
        Assert.Equal(1e6f, e.LearningRate);
    }

    [Fact]
    public void The_last_good_model_holds_exactly_the_weights_of_the_last_finished_epoch()
    {
        var options = new TrainerOptions { Epochs = 3, BatchSize = 16 };
        var oneEpoch = new Trainer(new TrainerOptions { Epochs = 1, BatchSize = 16 }).Fit(Mlp(), Data.Value);

        // A weight turns NaN in the third batch of the second epoch.
        var trainer = new Trainer(options)
        {
            AfterBatch = (epoch, batch, net) =>
            {
                if (epoch == 1 && batch == 3)
                {
                    net.Layers[0].Parameters[0].Value.Span[0] = float.NaN;
                }
            },
        };
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Fit(Mlp(), Data.Value));
        Assert.Contains("the loss is not a finite number", e.Message);
        Assert.Equal(1, e.LastGoodModel.History.ModelEpoch);
        Assert.Single(e.LastGoodModel.History.Epochs);
        CheckpointResumeTests.AssertSameWeights(oneEpoch.Network, e.LastGoodModel.Network);
    }

    [Fact]
    public void Learning_rate_back_off_retries_the_epoch_at_a_lower_rate()
    {
        var options = new TrainerOptions { Epochs = 3, BatchSize = 16, Optimizer = new Adam { LearningRate = 1e6f }, LearningRateBackoff = 0.001f, MaxBackoffs = 4 };
        var model = new Trainer(options).Fit(Mlp(), Data.Value);
        Assert.Equal(StopReason.Completed, model.History.StopReason);
        Assert.Equal(3, model.History.Epochs.Count);
        Assert.True(model.History.Epochs[0].LearningRate <= 1e3f, $"first epoch at lr {model.History.Epochs[0].LearningRate}");
        Assert.All(model.PredictProbabilities(Data.Value.Features), p => Assert.True(float.IsFinite(p)));

        var limited = new Trainer(new TrainerOptions { Epochs = 3, BatchSize = 16, Optimizer = new Adam { LearningRate = 1e6f }, LearningRateBackoff = 0.9f, MaxBackoffs = 1 });
        var e = Assert.Throws<TrainingDivergedException>(() => limited.Fit(Mlp(), Data.Value));
        Assert.Contains("already lowered 1 time(s)", e.Message);
    }

    [Fact]
    public void Divergence_options_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(new TrainerOptions { DivergenceThreshold = 0.5f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(new TrainerOptions { LearningRateBackoff = 1f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(new TrainerOptions { MaxBackoffs = 0 }));
    }
}
