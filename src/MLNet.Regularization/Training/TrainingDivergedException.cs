namespace MLNet.Regularization.Training;

/// <summary>
/// Training diverged: a mini-batch loss or a weight became NaN or infinite, or the loss exploded past
/// <see cref="TrainerOptions.DivergenceThreshold"/> times the first batch's loss (and the learning-rate back-off,
/// when enabled, was used up). The weights of the last finished epoch are not lost: they are in
/// <see cref="LastGoodModel"/>.
/// </summary>
/// <remarks>An <see cref="InvalidOperationException"/>, as the trainer threw for a non-finite loss before this type
/// existed, so existing handlers still catch it.</remarks>
public sealed class TrainingDivergedException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What diverged, where, and what to lower.</param>
    /// <param name="lastGoodModel">The model as of the last finished epoch (the initial weights if none finished).</param>
    /// <param name="epoch">The one-based epoch in which training diverged.</param>
    /// <param name="loss">The offending batch loss (NaN or infinite when a value became non-finite).</param>
    /// <param name="learningRate">The learning rate in use when it diverged.</param>
    public TrainingDivergedException(string message, TrainedModel lastGoodModel, int epoch, double loss, float learningRate)
        : base(message)
    {
        ArgumentNullException.ThrowIfNull(lastGoodModel);
        LastGoodModel = lastGoodModel;
        Epoch = epoch;
        Loss = loss;
        LearningRate = learningRate;
    }

    /// <summary>The model with the weights of the last finished epoch (<see cref="TrainingHistory.ModelEpoch"/> says
    /// which; 0 means the initial weights), and the history up to it.</summary>
    public TrainedModel LastGoodModel { get; }

    /// <summary>The one-based epoch in which training diverged.</summary>
    public int Epoch { get; }

    /// <summary>The offending batch loss.</summary>
    public double Loss { get; }

    /// <summary>The learning rate in use when training diverged.</summary>
    public float LearningRate { get; }
}
