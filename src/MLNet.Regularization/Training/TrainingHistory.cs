namespace MLNet.Regularization.Training;

/// <summary>What happened in one epoch. Training loss and accuracy are averaged over the epoch's batches in
/// training mode (with dropout on), as Keras reports them; validation figures are computed in inference mode.</summary>
/// <param name="Epoch">One-based epoch number.</param>
/// <param name="TrainLoss">Mean training loss over the epoch.</param>
/// <param name="TrainAccuracy">Training accuracy over the epoch (NaN for regression).</param>
/// <param name="ValidationLoss">Validation loss, or null without validation data.</param>
/// <param name="ValidationAccuracy">Validation accuracy, or null.</param>
/// <param name="LearningRate">The learning rate used in this epoch.</param>
/// <param name="Seconds">Wall-clock seconds of the epoch including validation.</param>
public sealed record EpochRecord(int Epoch, double TrainLoss, double TrainAccuracy, double? ValidationLoss, double? ValidationAccuracy, float LearningRate, double Seconds);

/// <summary>Why training ended.</summary>
public enum StopReason
{
    /// <summary>All epochs ran.</summary>
    Completed,

    /// <summary>Validation loss stopped improving; the best epoch's weights were restored.</summary>
    EarlyStopped,

    /// <summary>The cancellation token fired; the model is as of the last completed epoch.</summary>
    Cancelled,

    /// <summary>Training diverged (see <see cref="TrainingDivergedException"/>); the model is as of the last
    /// completed epoch.</summary>
    Diverged,
}

/// <summary>The record of a training run: every completed epoch, the epoch whose weights the model holds, and
/// why training ended.</summary>
public sealed class TrainingHistory
{
    internal TrainingHistory(IReadOnlyList<EpochRecord> epochs, int modelEpoch, StopReason stopReason)
    {
        Epochs = epochs;
        ModelEpoch = modelEpoch;
        StopReason = stopReason;
    }

    /// <summary>The history of a learner that has no epochs.</summary>
    internal static TrainingHistory Empty { get; } = new([], 0, StopReason.Completed);

    /// <summary>Every completed epoch, in order.</summary>
    public IReadOnlyList<EpochRecord> Epochs { get; }

    /// <summary>The one-based epoch whose weights the trained model holds (0: the initial weights, when cancelled
    /// before an epoch completed).</summary>
    public int ModelEpoch { get; }

    /// <summary>Why training ended.</summary>
    public StopReason StopReason { get; }

    /// <summary>Total wall-clock seconds.</summary>
    public double TotalSeconds => Epochs.Sum(e => e.Seconds);
}
