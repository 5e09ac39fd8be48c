using System.Xml.Linq;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Tests.Data;
using Xunit;

namespace MLNet.Regularization.Tests.Reporting;

public class HtmlReportTests
{
    private static ComparisonResult SmallResult()
    {
        var baseSpec = new ModelSpec { Hidden = [12], Training = new TrainingSpec { Epochs = 3, BatchSize = 32 } };
        var specs = SearchSpace.RegularizerGrid(baseSpec).Take(3).ToList();
        specs[1].Name = "dropout <0.5> & \"friends\"";
        return new Comparison(new ComparisonOptions { Seeds = 2 }).RunGrid(specs, TestData.Blobs(180, 5, 3, seed: 2, spread: 2f));
    }

    [Fact]
    public void The_report_is_well_formed_self_contained_and_has_one_series_per_configuration()
    {
        var result = SmallResult();
        string html = HtmlReport.Render(result, new HtmlReportOptions { Title = "Test report", DataDescription = "blobs: 180 rows" });

        var doc = XDocument.Parse(html);
        var series = doc.Descendants("g").Where(g => (string?)g.Attribute("class") == "series").ToList();
        Assert.Equal(result.Leaderboard.Count, series.Count);
        Assert.Equal(result.Leaderboard.Select(t => t.Name), series.Select(g => (string)g.Attribute("data-config")!));
        Assert.All(series, g => Assert.Equal(2, g.Elements("polyline").Count()));
        Assert.Equal(3, doc.Descendants("g").Count(g => (string?)g.Attribute("class") == "gap-bar"));
        Assert.Single(doc.Descendants("svg"), s => ((string?)s.Attribute("class"))!.Contains("reliability"));
        Assert.Equal(3, doc.Descendants("table").First().Element("tbody")!.Elements("tr").Count());

        // Nothing is fetched: no script, no link, no external URL.
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
        Assert.Contains("dropout &lt;0.5&gt; &amp; &quot;friends&quot;", html);
    }

    [Fact]
    public void Write_replaces_the_file_atomically()
    {
        using var folder = new TempFolder();
        string path = folder.File("report.html");
        File.WriteAllText(path, "old");
        HtmlReport.Write(SmallResult(), path);
        Assert.StartsWith("<!DOCTYPE html>", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(folder.Path));
        Assert.Throws<DirectoryNotFoundException>(() => HtmlReport.Write(SmallResult(), folder.File("missing/report.html")));
    }

    [Fact]
    public void A_result_without_completed_trials_still_renders()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var result = new Comparison().RunGrid([new ModelSpec()], TestData.Blobs(60, 3, 2, seed: 1), cancellationToken: cts.Token);
        var doc = XDocument.Parse(HtmlReport.Render(result));
        Assert.DoesNotContain(doc.Descendants("g"), g => (string?)g.Attribute("class") == "series");
    }
}
