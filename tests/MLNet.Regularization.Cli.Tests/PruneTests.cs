using System.Text.Json;
using System.Xml.Linq;
using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Cli.Tests;

public sealed class PruneTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Prune_finds_tickets_with_controls_and_writes_the_model_the_report_and_json()
    {
        string model = _folder.File("ticket.onnx"), report = _folder.File("tickets.html");
        var r = Tool.Run(["prune", Tool.TrainCsv, .. Tool.Quick, "--epochs", "4", "--patience", "2", "--rounds", "3", "--rate", "0.4", "--controls", "both",
            "--test", Tool.TestCsv, "--output", model, "--sparse-weights", "--report", report, "--json"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var json = JsonDocument.Parse(r.Out);
        var rounds = json.RootElement.GetProperty("rounds").EnumerateArray().ToList();
        Assert.Equal(4, rounds.Count);
        for (int i = 0; i < rounds.Count; i++)
        {
            var runs = rounds[i].GetProperty("runs").EnumerateArray().ToList();
            Assert.Equal(i == 0 ? ["ticket"] : ["ticket", "reinit", "random-mask"], runs.Select(x => x.GetProperty("kind").GetString()));
            Assert.All(runs, x => Assert.InRange(x.GetProperty("earlyStopEpoch").GetInt32(), 1, 4));
            Assert.All(runs, x => Assert.InRange(x.GetProperty("testAccuracy").GetDouble(), 0.05, 1));

            // The hidden layer keeps 60% of its survivors each round, the output layer 80%.
            var layers = rounds[i].GetProperty("layers").EnumerateArray().ToList();
            Assert.Equal(Math.Pow(0.6, i), 1 - layers[0].GetProperty("sparsity").GetDouble(), 2);
            Assert.Equal(Math.Pow(0.8, i), 1 - layers[1].GetProperty("sparsity").GetDouble(), 2);
        }

        // The model is the sparsest ticket: its masks and accuracy come back from the ONNX file.
        var imported = OnnxImporter.Load(model);
        var last = rounds[^1];
        Assert.Equal(last.GetProperty("fractionRemaining").GetDouble(), NetworkSparsity.FractionRemaining(imported.Network), 6);
        var test = CsvReader.Load(Tool.TestCsv, "label", new CsvOptions { ClassNames = imported.ClassNames });
        Assert.Equal(last.GetProperty("runs")[0].GetProperty("testAccuracy").GetDouble(), Metrics.Evaluate(imported, test).Accuracy, 10);

        var page = XDocument.Parse(File.ReadAllText(report));
        Assert.Equal(3, page.Descendants("g").Count(g => (string?)g.Attribute("class") == "series" && g.Parent!.Attribute("class")!.Value.Contains("accuracy", StringComparison.Ordinal)));
    }

    [Fact]
    public void Prune_structured_exports_a_smaller_network()
    {
        string model = _folder.File("small.onnx");
        var r = Tool.Run(["prune", Tool.TrainCsv, "--label", "label", "--batch-size", "32", "--hidden", "40,20", "--batch-norm", "--epochs", "3", "--structured", "0.5", "--score", "bn-scale",
            "--output", model, "--json"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var json = JsonDocument.Parse(r.Out);
        var runs = json.RootElement.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal([40, 20], runs[0].GetProperty("units").EnumerateArray().Select(u => u.GetInt32()));
        Assert.Equal(30, runs[1].GetProperty("units").EnumerateArray().Sum(u => u.GetInt32()));
        var imported = OnnxImporter.Load(model);
        Assert.Equal(runs[1].GetProperty("parameters").GetInt64(), imported.Network.ParameterCount + (2 * 30)); // batch norm folded into the Gemms at export
    }

    [Theory]
    [InlineData("--structured 0.5 --rounds 3", "--rounds belongs to magnitude pruning")]
    [InlineData("--score l2", "--score ranks units for --structured")]
    [InlineData("--rewind-step 5", "--rewind-step needs --reset rewind")]
    [InlineData("--validation 0", "--validation must be in (0, 1)")]
    [InlineData("--rate 1", "--rate must be in (0, 1)")]
    [InlineData("--controls some", "Argument 'some' not recognized")]
    public void Bad_options_are_usage_errors(string options, string message)
    {
        var r = Tool.Run(["prune", Tool.TrainCsv, "--label", "label", .. options.Split(' ')]);
        Assert.Equal(Program.UsageError, r.ExitCode);
        Assert.Contains(message, r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void A_time_budget_too_short_for_the_dense_round_writes_nothing()
    {
        string model = _folder.File("none.onnx");
        var r = Tool.Run(["prune", Tool.TrainCsv, .. Tool.Quick, "--epochs", "50", "--time-budget", "0.001s", "--output", model]);
        Assert.Equal(Program.DataError, r.ExitCode);
        Assert.Contains("time budget ended during the dense round", r.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(model));
    }
}
