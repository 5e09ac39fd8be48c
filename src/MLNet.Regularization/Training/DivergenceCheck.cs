using System.Globalization;
using System.Numerics.Tensors;
using MLNet.Regularization.Layers;

namespace MLNet.Regularization.Training;

/// <summary>
/// When a run counts as diverged: a non-finite mini-batch loss, a loss above <see cref="TrainerOptions.DivergenceThreshold"/>
/// times the run's first batch loss, or a weight that became NaN or infinite (an update can overflow the weights while
/// the loss of the batch before it was still finite; the next predictions would all be NaN).
/// </summary>
internal static class DivergenceCheck
{
    /// <summary>Below this the first loss is taken as this (a near-perfect start must not make every later loss "explode").</summary>
    private const double SmallestReference = 1e-3;

    /// <summary>Why the batch loss means divergence, or null. Records the first batch's loss as the reference.</summary>
    public static string? OfLoss(float loss, TrainingRun run, TrainerOptions options)
    {
        if (!float.IsFinite(loss))
        {
            return "the loss is not a finite number";
        }

        if (double.IsNaN(run.ReferenceLoss))
        {
            run.ReferenceLoss = loss;
            return null;
        }

        if (options.DivergenceThreshold is float factor && loss > factor * Math.Max(run.ReferenceLoss, SmallestReference))
        {
            return string.Create(CultureInfo.InvariantCulture, $"the loss exploded: more than {factor:G} times the first batch's {run.ReferenceLoss:G4} (TrainerOptions.DivergenceThreshold)");
        }

        return null;
    }

    /// <summary>Why the weights mean divergence (a NaN or infinite value), or null. One vectorized pass per parameter.</summary>
    public static string? OfWeights(Network net)
    {
        // Indexed loops: this runs after every batch, and enumerating the interfaces would allocate.
        var layers = net.Layers;
        for (int i = 0; i < layers.Count; i++)
        {
            var parameters = layers[i].Parameters;
            for (int j = 0; j < parameters.Count; j++)
            {
                if (!float.IsFinite(TensorPrimitives.MaxMagnitude<float>(parameters[j].Value.Span)))
                {
                    return $"the update made {layers[i].Name} {i}'s {parameters[j].Name} NaN or infinite";
                }
            }
        }

        return null;
    }

    /// <summary>The exception for a diverged run, saying where, why and what to lower.</summary>
    public static TrainingDivergedException Failure(string why, TrainingRun run, float learningRate, int batches, float loss, TrainedModel lastGood)
    {
        string message = FormattableString.Invariant($"training diverged in epoch {run.Epoch + 1}, batch {run.Batch + 1} of {batches}: {why} (batch loss {loss:G4}). ")
            + FormattableString.Invariant($"The model of the last finished epoch ({run.ModelEpoch}) is in TrainingDivergedException.LastGoodModel. ")
            + FormattableString.Invariant($"Lower the learning rate (it is {learningRate:G4}; try {learningRate / 10:G4}), normalize the features, or set TrainerOptions.LearningRateBackoff to retry the epoch at a lower rate automatically")
            + (run.Backoffs > 0 ? $" (the rate was already lowered {run.Backoffs} time(s); raise TrainerOptions.MaxBackoffs to allow more)." : ".");
        return new TrainingDivergedException(message, lastGood, run.Epoch + 1, loss, learningRate);
    }
}
