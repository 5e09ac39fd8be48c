using MLNet.Regularization.Uncertainty;
using Xunit;

namespace MLNet.Regularization.Tests.Uncertainty;

public class CalibrationTests
{
    // Five two-class predictions: (confidence, right?) = (0.9, yes), (0.92, no), (0.8, no), (0.7, yes), (0.55, no).
    private static readonly float[] P = [0.9f, 0.1f, 0.08f, 0.92f, 0.8f, 0.2f, 0.3f, 0.7f, 0.45f, 0.55f];
    private static readonly int[] Y = [0, 0, 1, 1, 0];

    [Fact]
    public void ECE_over_15_bins_matches_a_hand_computation()
    {
        // With bins of width 1/15: 0.9 and 0.92 share (13/15, 14/15] = (0.867, 0.933]; 0.8 lies in (0.733, 0.8],
        // 0.7 in (0.667, 0.733], 0.55 in (0.533, 0.6]. Shared bin: accuracy 1/2, confidence 0.91, weight 2/5.
        double shared = Math.Abs(0.5 - ((0.9 + 0.92) / 2));
        double expected = ((2 * shared) + Math.Abs(0 - 0.8) + Math.Abs(1 - 0.7) + Math.Abs(0 - 0.55)) / 5;
        Assert.Equal(expected, Calibration.ExpectedCalibrationError(P, Y, 2), 6);

        var bins = Calibration.ReliabilityBins(P, Y, 2);
        Assert.Equal(15, bins.Count);
        Assert.Equal(2, bins[13].Count);
        Assert.Equal(0.5, bins[13].Accuracy);
        Assert.Equal(0.91, bins[13].MeanConfidence, 6);
        Assert.Equal(5, bins.Sum(b => b.Count));
        Assert.Equal(13.0 / 15, bins[13].Lower, 12);
        Assert.Equal(14.0 / 15, bins[13].Upper, 12);
        Assert.Equal(0, bins[0].Count);
    }

    [Fact]
    public void With_one_bin_ECE_is_the_gap_between_accuracy_and_mean_confidence()
    {
        double meanConfidence = (0.9 + 0.92 + 0.8 + 0.7 + 0.55) / 5;
        double accuracy = 2.0 / 5;
        Assert.Equal(Math.Abs(accuracy - meanConfidence), Calibration.ExpectedCalibrationError(P, Y, 2, bins: 1), 6);
    }

    [Fact]
    public void Perfectly_confident_and_right_is_perfectly_calibrated()
    {
        Assert.Equal(0, Calibration.ExpectedCalibrationError([1f, 0f, 0f, 1f], [0, 1], 2));
        Assert.Equal(14, Calibration.ReliabilityBins([1f, 0f], [0], 2).Select((b, i) => (b, i)).Single(x => x.b.Count == 1).i);
    }
}
