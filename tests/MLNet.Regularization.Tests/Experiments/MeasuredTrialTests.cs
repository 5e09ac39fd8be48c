using System.Xml.Linq;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Experiments;

public class MeasuredTrialTests
{
    private static ClassificationMetrics Metrics(float confidence, int[] labels, int[] predicted)
    {
        var probabilities = new float[labels.Length * 3];
        for (int i = 0; i < labels.Length; i++)
        {
            for (int c = 0; c < 3; c++)
            {
                probabilities[(i * 3) + c] = c == predicted[i] ? confidence : (1 - confidence) / 2;
            }
        }

        return MLNet.Regularization.Training.Metrics.Compute(probabilities, labels, 3);
    }

    private static ComparisonResult Result(RankingMetric metric)
    {
        int[] labels = [0, 1, 2, 0, 1, 2];
        var network = new Trainer(new TrainerOptions { Epochs = 3, BatchSize = 16 })
            .Fit(MLNet.Regularization.Layers.Network.Sequential(new MLNet.Regularization.Layers.Dense(3)), TestData.Blobs(48, 4, 3, seed: 1));
        return ComparisonResult.FromMeasurements(
            [
                new MeasuredTrial("trees", Metrics(0.9f, labels, [0, 1, 2, 0, 1, 1]), 1.0, 2.5),
                new MeasuredTrial("network", Metrics(0.4f, labels, [0, 1, 2, 0, 1, 2]), 0.9, 1.5) { History = network.History, Model = network, Description = "one dense layer" },
            ],
            metric, "test", "both trained on the same rows.", trainCount: 48, evaluationCount: 6, TimeSpan.FromSeconds(4), ["a", "b", "c"]);
    }

    [Fact]
    public void Measured_trials_are_ranked_by_the_chosen_metric()
    {
        var byAccuracy = Result(RankingMetric.Accuracy);
        Assert.Equal(["network", "trees"], byAccuracy.Leaderboard.Select(t => t.Name));
        Assert.Equal(1.0, byAccuracy.Best!.Accuracy.Mean);
        Assert.Equal(0.9 - 1.0, byAccuracy.Best.GeneralizationGap.Mean, 10);

        // The confident trees have the lower log-loss despite one error.
        var byLogLoss = Result(RankingMetric.LogLoss);
        Assert.Equal("trees", byLogLoss.Best!.Name);
        Assert.Equal("test", byLogLoss.EvaluationSet);
        Assert.Equal(6, byLogLoss.ValidationCount);
    }

    [Fact]
    public void The_report_says_test_and_draws_curves_only_for_trials_with_epochs()
    {
        var result = Result(RankingMetric.Accuracy);
        string html = HtmlReport.Render(result);
        var doc = XDocument.Parse(html);
        Assert.Contains("Ranked by test accuracy", html);
        Assert.Contains("both trained on the same rows.", html);
        Assert.Contains("Gap: training accuracy minus test accuracy, in percentage points", html);
        Assert.Contains("one dense layer", html);
        Assert.DoesNotContain("seed(s)", html);
        Assert.DoesNotContain("±", html); // one measurement each: no spread to show
        var series = doc.Descendants("g").Where(g => (string?)g.Attribute("class") == "series").ToList();
        Assert.Equal(2, series.Count);
        Assert.Single(series.Single(g => (string)g.Attribute("data-config")! == "network").Elements("polyline"), e => (string?)e.Attribute("class") == "train");
        Assert.Empty(series.Single(g => (string)g.Attribute("data-config")! == "trees").Elements("polyline"));
        // Class names given to the result label the confusion matrix when the best entry has no model of its own.
        Assert.Contains("<th>b</th>", HtmlReport.Render(Result(RankingMetric.LogLoss)));
    }

    [Fact]
    public void Duplicate_names_are_refused()
    {
        var metrics = Metrics(0.9f, [0, 1, 2], [0, 1, 2]);
        var e = Assert.Throws<ArgumentException>(() => ComparisonResult.FromMeasurements(
            [new MeasuredTrial("x", metrics, 1, 1), new MeasuredTrial("x", metrics, 1, 1)], RankingMetric.Accuracy, "test", "p", 3, 3, TimeSpan.Zero));
        Assert.Contains("two measured trials are named 'x'", e.Message);
    }
}
