using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Training;

public class ConvergenceCheckTests
{
    private static readonly Dataset Data = TestData.Blobs(120, 4, 3, seed: 2, spread: 2f);

    [Fact]
    public void A_run_cut_off_by_the_epoch_limit_while_still_learning_is_flagged()
    {
        // Three epochs at a small learning rate: the validation loss is still falling when the limit ends the run.
        var options = new TrainerOptions { Epochs = 3, BatchSize = 16, ValidationFraction = 0.2, EarlyStoppingPatience = 5, Optimizer = new Adam { LearningRate = 1e-3f } };
        var model = new Trainer(options).Fit(Network.Sequential(new Dense(8), new ReLU(), new Dense(3)), Data);
        Assert.Equal(StopReason.Completed, model.History.StopReason);
        Assert.True(ConvergenceCheck.EndedWhileImproving(model.History, window: 5));
        Assert.Equal(model.History.ModelEpoch, ConvergenceCheck.LastImprovement(model.History));
    }

    [Fact]
    public void A_run_that_stopped_early_is_not_flagged()
    {
        var options = new TrainerOptions { Epochs = 300, BatchSize = 16, ValidationFraction = 0.2, EarlyStoppingPatience = 3, Optimizer = new Adam { LearningRate = 0.05f } };
        var model = new Trainer(options).Fit(Network.Sequential(new Dense(32), new ReLU(), new Dense(3)), Data);
        Assert.Equal(StopReason.EarlyStopped, model.History.StopReason);
        Assert.False(ConvergenceCheck.EndedWhileImproving(model.History, window: 3));
        Assert.Equal(model.History.ModelEpoch, ConvergenceCheck.LastImprovement(model.History));
    }

    [Fact]
    public void Without_validation_the_training_loss_decides()
    {
        var falling = new TrainerOptions { Epochs = 4, BatchSize = 16, Optimizer = new Adam { LearningRate = 1e-3f } };
        Assert.True(ConvergenceCheck.EndedWhileImproving(new Trainer(falling).Fit(Network.Sequential(new Dense(8), new ReLU(), new Dense(3)), Data).History, window: 2));
        var flat = new TrainerOptions { Epochs = 6, BatchSize = 16, Optimizer = new Sgd { LearningRate = 1e-9f } };
        Assert.False(ConvergenceCheck.EndedWhileImproving(new Trainer(flat).Fit(Network.Sequential(new Dense(8), new ReLU(), new Dense(3)), Data).History, window: 2));
    }
}
