using System.Globalization;
using System.Xml.Linq;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Reporting;

public class LearnedNoiseReportTests
{
    [Fact]
    public void The_comparison_report_shows_the_learned_rates_and_the_sparsity_of_every_layer()
    {
        var trainer = new TrainerOptions { Epochs = 8, BatchSize = 16, Optimizer = new Adam { LearningRate = 0.01f } };
        var result = new Comparison().Run(
        [
            new ComparisonConfiguration("plain dropout", () => Network.Sequential(new Dense(12), new ReLU(), new Dropout(0.3f), new Dense(3)), trainer),
            new ComparisonConfiguration("concrete + sparse VD", () => Network.Sequential(new Dense(12), new ReLU(), new ConcreteDropout(), new SparseVariationalDense(3)), trainer),
            new ComparisonConfiguration("SBP", () => Network.Sequential(new Dense(12), new ReLU(), new StructuredBayesianPruning(), new Dense(3)), trainer),
        ], TestData.Blobs(180, 5, 3, seed: 2, spread: 2f));
        var doc = XDocument.Parse(HtmlReport.Render(result));
        var rows = doc.Descendants("tr").Where(r => (string?)r.Attribute("class") == "learned-layer").ToList();

        // Every layer with weights of every configuration, plus the learned-noise layers without weights.
        Assert.Equal(2 + 3 + 3, rows.Count);
        var sparse = result.Trials.Single(t => t.Name == "concrete + sparse VD").Model!;
        var svd = (SparseVariationalDense)sparse.Network.Layers[3];
        var svdRow = rows.Single(r => (string)r.Attribute("data-config")! == "concrete + sparse VD" && (string)r.Attribute("data-layer")! == "3");
        Assert.Equal(svd.KeepMask().KeptCount / 36.0, double.Parse((string)svdRow.Attribute("data-weights-kept")!, CultureInfo.InvariantCulture), 12);
        var concrete = (ConcreteDropout)sparse.Network.Layers[2];
        var concreteRow = rows.Single(r => (string)r.Attribute("data-config")! == "concrete + sparse VD" && (string)r.Attribute("data-layer")! == "2");
        Assert.Contains($"drop rate {concrete.Rate.ToString("G3", CultureInfo.InvariantCulture)}", concreteRow.Value);
        var sbpRow = rows.Single(r => (string)r.Attribute("data-config")! == "SBP" && (string)r.Attribute("data-layer")! == "2");
        Assert.Contains("signal-to-noise ratio", sbpRow.Value);
        Assert.All(rows.Where(r => (string)r.Attribute("data-config")! == "plain dropout"), r => Assert.Equal("1", (string)r.Attribute("data-weights-kept")!));
    }
}
