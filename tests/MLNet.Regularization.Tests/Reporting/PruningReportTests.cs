using System.Globalization;
using System.Xml.Linq;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Reporting;

public class PruningReportTests
{
    private static LotteryTicketResult Run(TicketControls controls, int rounds = 3, CancellationToken cancel = default) =>
        new LotteryTicket(new LotteryTicketOptions
        {
            Rounds = rounds, PruneRate = 0.5, OutputLayerPruneRate = 0.5, Controls = controls,
            Training = new TrainerOptions { Epochs = 3, BatchSize = 30, ValidationFraction = 0.2, EarlyStoppingPatience = 2, MaxThreads = 1 },
        }).Run(Network.Sequential(new Dense(16), new ReLU(), new Dense(3)), TestData.Blobs(150, 6, 3, 1), test: TestData.Blobs(60, 6, 3, 2), cancellationToken: cancel);

    [Fact]
    public void The_plot_has_a_point_per_round_and_run_on_a_log_axis()
    {
        var result = Run(TicketControls.Both);
        var doc = XDocument.Parse(HtmlReport.Render(result, new HtmlReportOptions { Title = "Tickets <test>", DataDescription = "blobs" }));
        var accuracy = doc.Descendants("svg").Single(s => ((string?)s.Attribute("class"))!.Contains("accuracy", StringComparison.Ordinal));
        var series = accuracy.Elements("g").Where(g => (string?)g.Attribute("class") == "series").ToList();
        Assert.Equal(["ticket", "random-reinitialization", "random-mask"], series.Select(g => (string)g.Attribute("data-run")!));

        var ticket = series[0].Elements("circle").ToList();
        Assert.Equal(result.Rounds.Select(r => r.Round.ToString(CultureInfo.InvariantCulture)), ticket.Select(c => (string)c.Attribute("data-round")!));
        for (int r = 0; r < result.Rounds.Count; r++)
        {
            Assert.Equal(100 * result.Rounds[r].Ticket.TestAccuracy!.Value, double.Parse((string)ticket[r].Attribute("data-value")!, CultureInfo.InvariantCulture), 4);
            Assert.Equal(result.Rounds[r].FractionRemaining, double.Parse((string)ticket[r].Attribute("data-remaining")!, CultureInfo.InvariantCulture), 5);
        }

        // Log scale, 100% on the left: halving the weights moves a point by the same distance each round.
        var x = ticket.Select(c => double.Parse((string)c.Attribute("cx")!, CultureInfo.InvariantCulture)).ToArray();
        var steps = x.Zip(x.Skip(1), (a, b) => b - a).ToArray();
        Assert.All(steps, s => Assert.InRange(s, steps[0] * 0.95, steps[0] * 1.05));
        Assert.True(steps[0] > 0);

        // The controls have a point per pruned round; the early-stopping chart has the same series.
        Assert.Equal(result.Rounds.Count - 1, series[1].Elements("circle").Count());
        var epochs = doc.Descendants("svg").Single(s => ((string?)s.Attribute("class"))!.Contains("early-stop", StringComparison.Ordinal));
        Assert.Equal(result.Rounds.Select(r => r.Ticket.EarlyStopEpoch.ToString(CultureInfo.InvariantCulture)),
            epochs.Elements("g").First().Elements("circle").Select(c => (string)c.Attribute("data-value")!));
        Assert.Equal(result.Rounds.Count, doc.Descendants("table").Single().Element("tbody")!.Elements("tr").Count());

        string html = doc.ToString();
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("http", html, StringComparison.Ordinal);
        Assert.Contains("Tickets &lt;test&gt;", HtmlReport.Render(result, new HtmlReportOptions { Title = "Tickets <test>" }), StringComparison.Ordinal);
    }

    [Fact]
    public void Without_controls_or_rounds_the_page_still_renders()
    {
        var doc = XDocument.Parse(HtmlReport.Render(Run(TicketControls.None, rounds: 1)));
        Assert.All(doc.Descendants("svg"), svg => Assert.Equal(["ticket"], svg.Elements("g").Select(g => (string)g.Attribute("data-run")!)));

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var empty = XDocument.Parse(HtmlReport.Render(Run(TicketControls.Both, cancel: cancelled.Token)));
        Assert.Empty(empty.Descendants("svg"));
        Assert.Contains("No round completed", empty.ToString(), StringComparison.Ordinal);
    }
}
