using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Training;

public class MetricsTests
{
    // Six examples of three classes; predictions 0,0,1 | 1,2 | 2.
    private static readonly int[] Labels = [0, 0, 0, 1, 1, 2];
    private static readonly int[] Predicted = [0, 0, 1, 1, 2, 2];

    [Fact]
    public void Macro_F1_is_the_mean_of_per_class_F1_computed_by_hand()
    {
        // Class 0: TP 2, FP 0, FN 1 -> precision 1, recall 2/3, F1 = 2·1·(2/3) / (1 + 2/3) = 0.8.
        // Class 1: TP 1, FP 1 (a 0 predicted as 1), FN 1 (a 1 predicted as 2) -> precision 1/2, recall 1/2, F1 = 1/2.
        // Class 2: TP 1, FP 1 (a 1 predicted as 2), FN 0 -> precision 1/2, recall 1, F1 = 2·(1/2)·1 / (3/2) = 2/3.
        double expected = (0.8 + 0.5 + (2.0 / 3.0)) / 3.0;
        Assert.Equal(expected, Metrics.MacroF1(Labels, Predicted, 3), 12);

        // A fourth class that never occurs and is never predicted does not dilute the average.
        Assert.Equal(expected, Metrics.MacroF1(Labels, Predicted, 4), 12);
        Assert.True(double.IsNaN(Metrics.PerClassF1(Metrics.ConfusionMatrix(Labels, Predicted, 4))[3]));
    }

    [Fact]
    public void A_class_that_is_never_predicted_counts_with_F1_zero()
    {
        int[] labels = [0, 0, 1, 1];
        int[] predicted = [0, 0, 0, 0];

        // Class 0: TP 2, FP 2, FN 0 -> precision 1/2, recall 1, F1 2/3. Class 1: TP 0 -> F1 0.
        Assert.Equal(((2.0 / 3.0) + 0.0) / 2.0, Metrics.MacroF1(labels, predicted, 2), 12);
        Assert.Equal(0.5, Metrics.Accuracy(labels, predicted));
    }

    [Fact]
    public void Confusion_matrix_counts_true_rows_against_predicted_columns()
    {
        var m = Metrics.ConfusionMatrix(Labels, Predicted, 3);
        Assert.Equal([2, 1, 0], m[0]);
        Assert.Equal([0, 1, 1], m[1]);
        Assert.Equal([0, 0, 1], m[2]);
        Assert.Equal(4.0 / 6.0, Metrics.Accuracy(Labels, Predicted), 12);
    }

    [Fact]
    public void Log_loss_is_the_mean_negative_log_probability_of_the_true_class()
    {
        float[] p = [0.9f, 0.1f, 0.8f, 0.2f, 0.3f, 0.7f, 0.45f, 0.55f];
        int[] labels = [0, 1, 1, 0];
        double expected = -(Math.Log(0.9f) + Math.Log(0.2f) + Math.Log(0.7f) + Math.Log(0.45f)) / 4;
        Assert.Equal(expected, Metrics.LogLoss(p, labels, 2), 10);

        // A probability of exactly 0 for the true class is clipped, not infinite.
        Assert.Equal(-Math.Log(1e-15), Metrics.LogLoss([1f, 0f], [1], 2), 6);
    }

    [Fact]
    public void Compute_gathers_every_metric_and_takes_the_first_class_on_ties()
    {
        float[] p = [0.5f, 0.5f, 0.2f, 0.8f];
        var m = Metrics.Compute(p, [0, 1], 2);
        Assert.Equal(1.0, m.Accuracy);
        Assert.Equal(2, m.Count);
        Assert.Equal([1, 0], m.ConfusionMatrix[0]);
        Assert.Equal(15, m.ReliabilityBins.Count);
        Assert.Equal(m.Accuracy, m.Get(RankingMetric.Accuracy));
        Assert.Equal(m.LogLoss, m.Get(RankingMetric.LogLoss));
    }

    [Fact]
    public void Bad_inputs_are_named()
    {
        Assert.Contains("outside 0..1", Assert.Throws<ArgumentException>(() => Metrics.MacroF1([0, 2], [0, 1], 2)).Message);
        Assert.Contains("2 labels but 1 predictions", Assert.Throws<ArgumentException>(() => Metrics.Accuracy([0, 1], [0])).Message);
        Assert.Contains("expected 4", Assert.Throws<ArgumentException>(() => Metrics.LogLoss([0.5f, 0.5f], [0, 1], 2)).Message);
        Assert.Contains("no examples", Assert.Throws<ArgumentException>(() => Metrics.Accuracy([], [])).Message);
    }
}
