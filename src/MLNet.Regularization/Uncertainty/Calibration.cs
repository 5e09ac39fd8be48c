namespace MLNet.Regularization.Uncertainty;

/// <summary>One bin of a reliability diagram: the examples whose confidence (largest class probability) falls in
/// (<paramref name="Lower"/>, <paramref name="Upper"/>], with their mean confidence and their accuracy.</summary>
/// <param name="Lower">Lower edge of the bin (exclusive, except 0 for the first bin).</param>
/// <param name="Upper">Upper edge of the bin (inclusive).</param>
/// <param name="Count">Examples in the bin.</param>
/// <param name="MeanConfidence">Mean confidence of those examples (0 for an empty bin).</param>
/// <param name="Accuracy">Fraction of those examples whose arg-max class is right (0 for an empty bin).</param>
public sealed record ReliabilityBin(double Lower, double Upper, int Count, double MeanConfidence, double Accuracy);

/// <summary>
/// Calibration of a classifier's probabilities: does a prediction made with confidence 0.8 turn out right 80% of
/// the time? Confidence is the largest class probability and the prediction its arg-max (the first on ties).
/// </summary>
/// <remarks>
/// Expected calibration error (Naeini et al., 2015; Guo et al., 2017, "On calibration of modern neural networks"):
/// the confidences are sorted into <see cref="DefaultBins"/> = 15 equal-width bins (0, 1/15], (1/15, 2/15], …,
/// (14/15, 1] (a confidence of exactly 0, impossible for a probability row, would go to the first), and
/// ECE = Σ_b (n_b / n) · |accuracy_b − mean confidence_b|. Fifteen equal-width bins is Guo et al.'s choice, so
/// the numbers compare with the literature; empty bins contribute nothing.
/// </remarks>
public static class Calibration
{
    /// <summary>The number of equal-width bins used unless told otherwise (15, as in Guo et al., 2017).</summary>
    public const int DefaultBins = 15;

    /// <summary>The reliability-diagram bins of a batch of probability rows.</summary>
    /// <param name="probabilities">N × <paramref name="classes"/> probabilities, row-major.</param>
    /// <param name="labels">N true class indices.</param>
    /// <param name="classes">Width of a probability row (2 for binary models, which give P(0), P(1)).</param>
    /// <param name="bins">Number of equal-width bins over [0, 1].</param>
    /// <exception cref="ArgumentException">The sizes disagree, a label is out of range, or there are no examples.</exception>
    public static IReadOnlyList<ReliabilityBin> ReliabilityBins(ReadOnlySpan<float> probabilities, ReadOnlySpan<int> labels, int classes, int bins = DefaultBins)
    {
        Training.Metrics.CheckInputs(probabilities, labels, classes);
        if (bins < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(bins), bins, "the number of calibration bins must be at least 1.");
        }

        var count = new int[bins];
        var confidenceSum = new double[bins];
        var correct = new int[bins];
        for (int i = 0; i < labels.Length; i++)
        {
            var row = probabilities.Slice(i * classes, classes);
            int predicted = 0;
            for (int k = 1; k < classes; k++)
            {
                if (row[k] > row[predicted])
                {
                    predicted = k;
                }
            }

            double confidence = Math.Clamp((double)row[predicted], 0, 1);
            int b = Math.Clamp((int)Math.Ceiling(confidence * bins) - 1, 0, bins - 1);
            count[b]++;
            confidenceSum[b] += confidence;
            if (predicted == labels[i])
            {
                correct[b]++;
            }
        }

        var result = new ReliabilityBin[bins];
        for (int b = 0; b < bins; b++)
        {
            result[b] = new ReliabilityBin(
                (double)b / bins,
                (double)(b + 1) / bins,
                count[b],
                count[b] == 0 ? 0 : confidenceSum[b] / count[b],
                count[b] == 0 ? 0 : (double)correct[b] / count[b]);
        }

        return result;
    }

    /// <summary>Expected calibration error over <paramref name="bins"/> equal-width confidence bins.</summary>
    /// <param name="probabilities">N × <paramref name="classes"/> probabilities, row-major.</param>
    /// <param name="labels">N true class indices.</param>
    /// <param name="classes">Width of a probability row.</param>
    /// <param name="bins">Number of bins (default 15).</param>
    public static double ExpectedCalibrationError(ReadOnlySpan<float> probabilities, ReadOnlySpan<int> labels, int classes, int bins = DefaultBins) =>
        ExpectedCalibrationError(ReliabilityBins(probabilities, labels, classes, bins));

    /// <summary>Expected calibration error from reliability bins: Σ (n_b / n) · |accuracy_b − confidence_b|.</summary>
    /// <param name="bins">Bins as returned by <see cref="ReliabilityBins"/>.</param>
    public static double ExpectedCalibrationError(IReadOnlyList<ReliabilityBin> bins)
    {
        ArgumentNullException.ThrowIfNull(bins);
        long n = bins.Sum(b => (long)b.Count);
        if (n == 0)
        {
            throw new ArgumentException("the bins hold no examples.", nameof(bins));
        }

        return bins.Sum(b => (double)b.Count / n * Math.Abs(b.Accuracy - b.MeanConfidence));
    }
}
