using MLNet.Regularization.Training;

namespace MLNet.Regularization.Experiments;

/// <summary>
/// A candidate measured outside <see cref="Comparison"/> — an ML.NET pipeline, a model trained by other code — with
/// what the leaderboard and the HTML report show: its metrics on the evaluation set, its training accuracy, its wall
/// time and, for networks, its training history. <see cref="ComparisonResult.FromMeasurements"/> ranks a list of them.
/// </summary>
/// <param name="Name">The name shown in the leaderboard; unique within a result.</param>
/// <param name="Metrics">Metrics on the evaluation set (for example held-out test data).</param>
/// <param name="TrainAccuracy">Accuracy on the training data, in inference mode (for the generalization gap).</param>
/// <param name="Seconds">Wall-clock seconds of training.</param>
public sealed record MeasuredTrial(string Name, ClassificationMetrics Metrics, double TrainAccuracy, double Seconds)
{
    /// <summary>Every epoch of training (learning curves), or null for a learner without epochs.</summary>
    public TrainingHistory? History { get; init; }

    /// <summary>The engine's model, when the candidate is one of this library's networks.</summary>
    public TrainedModel? Model { get; init; }

    /// <summary>A one-line description shown under the name (optional).</summary>
    public string? Description { get; init; }
}
