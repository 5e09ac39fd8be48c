namespace MLNet.Regularization.Training;

/// <summary>
/// Whether a finished run was still learning when it ran out of epochs, after scikit-learn's ConvergenceWarning: a
/// run that stops at its epoch limit while its loss still falls has not converged, and more epochs would help.
/// </summary>
public static class ConvergenceCheck
{
    /// <summary>Relative decrease of the training loss, over the last <c>window</c> epochs, below which a run without
    /// validation data counts as converged (0.1%).</summary>
    public const double TrainingLossTolerance = 1e-3;

    /// <summary>
    /// True when training used every epoch and its loss was still falling at the end: with validation data, the
    /// validation loss last improved (by more than <paramref name="minDelta"/>) within the last
    /// <paramref name="window"/> epochs (with early stopping, that is exactly why it did not stop); without, the
    /// training loss of the last epoch is more than <see cref="TrainingLossTolerance"/> below the lowest before the
    /// window.
    /// </summary>
    /// <param name="history">The run's history.</param>
    /// <param name="window">The epochs at the end that count as "still" (the early-stopping patience, or 5).</param>
    /// <param name="minDelta">The smallest decrease of the validation loss that counts (early stopping's).</param>
    public static bool EndedWhileImproving(TrainingHistory history, int window = 5, double minDelta = 0)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(window);
        var epochs = history.Epochs;
        if (history.StopReason != StopReason.Completed || epochs.Count < 2)
        {
            return false;
        }

        if (epochs.All(e => e.ValidationLoss is double v && double.IsFinite(v)))
        {
            return LastImprovement(history, minDelta) > epochs.Count - window;
        }

        int before = Math.Max(1, epochs.Count - window);
        double earlier = epochs.Take(before).Min(e => e.TrainLoss);
        return epochs[^1].TrainLoss < earlier * (1 - TrainingLossTolerance);
    }

    /// <summary>The one-based epoch at which the validation loss last fell by more than <paramref name="minDelta"/>
    /// below its best so far (the epoch early stopping keeps), or 0 without validation data.</summary>
    /// <param name="history">The run's history.</param>
    /// <param name="minDelta">The smallest decrease that counts (0: the epoch of the lowest loss, the first on ties).</param>
    public static int LastImprovement(TrainingHistory history, double minDelta = 0)
    {
        ArgumentNullException.ThrowIfNull(history);
        int best = 0;
        double lowest = double.PositiveInfinity;
        foreach (var e in history.Epochs)
        {
            if (e.ValidationLoss is double v && (best == 0 || v < lowest - minDelta))
            {
                lowest = v;
                best = e.Epoch;
            }
        }

        return best;
    }
}
