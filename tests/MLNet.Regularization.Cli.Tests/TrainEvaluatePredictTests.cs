using System.Globalization;
using System.Text.Json;
using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Cli.Tests;

public sealed class TrainEvaluatePredictTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private (string Model, string McModel, JsonDocument Json) Train(params string[] extra)
    {
        string model = _folder.File("model.onnx"), mc = _folder.File("model.mc.onnx");
        var r = Tool.Run(["train", Tool.TrainCsv, .. Tool.Quick, "--epochs", "12", "--dropout", "0.3", "--batch-norm", "--test", Tool.TestCsv, "--validation", "0.2",
            "--output", model, "--mc-output", mc, "--json", .. extra]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return (model, mc, JsonDocument.Parse(r.Out));
    }

    [Fact]
    public void Train_writes_a_model_that_loads_and_reproduces_its_accuracy_and_a_history()
    {
        var (model, mc, json) = Train();
        using var _ = json;
        var root = json.RootElement;
        string history = _folder.File("model.history.json");
        Assert.True(File.Exists(model) && File.Exists(mc) && File.Exists(history));

        // The history file is the JSON document that was printed: 12 epochs with validation loss.
        using var saved = JsonDocument.Parse(File.ReadAllText(history));
        var epochs = saved.RootElement.GetProperty("epochs");
        Assert.Equal(12, epochs.GetArrayLength());
        Assert.True(epochs[11].GetProperty("validationLoss").GetDouble() > 0);
        Assert.Equal(0.3, root.GetProperty("spec").GetProperty("dropout").GetDouble(), 6);
        Assert.True(saved.RootElement.GetProperty("spec").GetProperty("batchNorm").GetBoolean());

        // The ONNX model loads through the importer and scores the test file exactly as reported.
        double reported = root.GetProperty("metrics").GetProperty("test").GetProperty("accuracy").GetDouble();
        Assert.InRange(reported, 0.5, 1.0);
        var imported = OnnxImporter.Load(model);
        var test = CsvReader.Load(Tool.TestCsv, "label", new CsvOptions { ClassNames = imported.ClassNames });
        Assert.Equal(reported, Metrics.Evaluate(imported, test).Accuracy);
        Assert.Equal(reported, root.GetProperty("metrics").GetProperty("test").GetProperty("accuracy").GetDouble());
        Assert.Equal(10, imported.ClassNames!.Count);
    }

    [Fact]
    public void Train_takes_a_recurrent_spec_that_reads_each_row_of_pixels_as_a_step()
    {
        // 49 features = 7 rows of 7 pixels: the spec reshapes them into a sequence for the LSTM.
        string spec = _folder.Write("lstm.json", """
            { "layers": [ { "type": "reshape", "shape": [7, 7] },
                          { "type": "lstm", "units": 24, "variationalInput": 0.1, "variationalRecurrent": 0.1 } ],
              "training": { "epochs": 8, "batchSize": 32, "learningRate": 0.005, "normalization": "minmax" } }
            """);
        string model = _folder.File("lstm.onnx");
        var r = Tool.Run("train", Tool.TrainCsv, "--label", "label", "--spec", spec, "--test", Tool.TestCsv, "--output", model, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var json = JsonDocument.Parse(r.Out);
        Assert.InRange(json.RootElement.GetProperty("metrics").GetProperty("test").GetProperty("accuracy").GetDouble(), 0.4, 1.0);
        var imported = OnnxImporter.Load(model);
        Assert.Equal([49], imported.InputShape);
        Assert.Equal(["Reshape", "LSTM", "Dense"], imported.Network.Layers.Select(l => l.Name));
    }

    [Fact]
    public void Train_reads_IDX_images_with_their_labels()
    {
        string model = _folder.File("idx.onnx");
        var r = Tool.Run("train", Tool.Idx("t10k-images-idx3-ubyte.gz"), "--labels", Tool.Idx("t10k-labels-idx1-ubyte.gz"),
            "--hidden", "16", "--epochs", "2", "--output", model, "--quiet");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("train       accuracy", r.Out);
        Assert.Equal([784], OnnxImporter.Load(model).InputShape);
    }

    [Fact]
    public void Evaluate_prints_metrics_and_a_confusion_matrix_that_parse()
    {
        var (model, _, json) = Train();
        json.Dispose();
        var text = Tool.Run("evaluate", model, Tool.TestCsv, "--label", "label");
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Matches(@"accuracy 0\.\d{4}  log-loss \d+\.\d{4}  macro-F1 0\.\d{4}  ECE 0\.\d{4}  \(200 rows\)", text.Out);

        var r = Tool.Run("evaluate", model, Tool.TestCsv, "--label", "label", "--json");
        using var doc = JsonDocument.Parse(r.Out);
        var m = doc.RootElement.GetProperty("metrics");
        var confusion = m.GetProperty("confusionMatrix").EnumerateArray().Select(row => row.EnumerateArray().Select(c => c.GetInt32()).ToArray()).ToArray();
        Assert.Equal(10, confusion.Length);
        Assert.Equal(200, confusion.Sum(row => row.Sum()));
        double diagonal = Enumerable.Range(0, 10).Sum(i => confusion[i][i]);
        Assert.Equal(diagonal / 200, m.GetProperty("accuracy").GetDouble(), 12);
        Assert.Equal(15, m.GetProperty("calibrationBins").GetInt32());
        Assert.InRange(m.GetProperty("expectedCalibrationError").GetDouble(), 0, 1);
        Assert.Equal("Ankle boot", m.GetProperty("classes")[0].GetString());
    }

    [Fact]
    public void Predict_writes_probabilities_and_with_mc_samples_the_uncertainty_columns()
    {
        var (model, mc, json) = Train();
        json.Dispose();
        string output = _folder.File("predictions.csv");
        var r = Tool.Run("predict", model, Tool.TestCsv, "--ignore", "label", "--output", output);
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = File.ReadAllLines(output);
        Assert.Equal(201, lines.Length);
        var header = lines[0].Split(',');
        Assert.Equal("predicted", header[0]);
        Assert.Equal(11, header.Length);
        Assert.Equal("p_Ankle boot", header[1]);
        foreach (string line in lines.Skip(1))
        {
            var cells = line.Split(',');
            var p = cells.Skip(1).Select(c => double.Parse(c, CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(1.0, p.Sum(), 4);
            Assert.Equal(header[1 + Array.IndexOf(p, p.Max())], "p_" + cells[0]);
        }

        // Monte Carlo dropout needs the Monte Carlo export; to stdout when --output is left out.
        var plain = Tool.Run("predict", model, Tool.TestCsv, "--ignore", "label", "--mc-samples", "10");
        Assert.Equal(MLNet.Regularization.Cli.Program.UsageError, plain.ExitCode);
        Assert.Contains("--mc-output", plain.Err);

        var sampled = Tool.Run("predict", mc, Tool.TestCsv, "--ignore", "label", "--mc-samples", "20", "--seed", "3");
        Assert.True(sampled.ExitCode == 0, sampled.ToString());
        var mcLines = sampled.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(201, mcLines.Length);
        var mcHeader = mcLines[0].Split(',').ToList();
        Assert.Equal(1 + 10 + 1 + 10 + 10 + 2, mcHeader.Count);
        int entropy = mcHeader.IndexOf("entropy"), mean = mcHeader.IndexOf("mean_Ankle boot"), variance = mcHeader.IndexOf("variance_Ankle boot");
        Assert.True(entropy > 0 && mean > 0 && variance > 0);
        var rows = mcLines.Skip(1).Select(l => l.Split(',')).ToList();
        Assert.All(rows, c => Assert.Equal(1.0, c.Skip(mean).Take(10).Sum(v => double.Parse(v, CultureInfo.InvariantCulture)), 4));
        Assert.All(rows, c => Assert.InRange(double.Parse(c[entropy], CultureInfo.InvariantCulture), 0, Math.Log(10) + 1e-6));
        Assert.Contains(rows, c => c.Skip(variance).Take(10).Any(v => double.Parse(v, CultureInfo.InvariantCulture) > 0));

        // A file with the label still in it does not fit the model.
        var wrong = Tool.Run("predict", model, Tool.TestCsv);
        Assert.Equal(MLNet.Regularization.Cli.Program.DataError, wrong.ExitCode);
        Assert.Contains("has 50 feature columns but the model expects 49", wrong.Err);
    }
}
