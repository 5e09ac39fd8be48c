using System.CommandLine;
using System.Globalization;
using MLNet.Regularization.Data;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Cli.Commands;

/// <summary><c>mlnet-reg evaluate</c>: an ONNX model on a labelled file.</summary>
internal static class EvaluateCommand
{
    public static Command Create(CliContext context)
    {
        var command = new Command("evaluate", "Score an ONNX model written by this tool on a labelled file: accuracy, log-loss, macro-F1, confusion matrix and expected calibration error.");
        var modelPath = Arguments.File("model", "The ONNX model (from train or compare).");
        var dataPath = Arguments.File("data", "Labelled data: a CSV file (with --label) or an IDX image file (with --labels).");
        var data = new DataOptions();
        var quiet = Options.Flag("--quiet", "Print only the metrics, as plain text.");
        var json = Options.Flag("--json", "Print only one JSON document with the metrics.");
        command.Add(modelPath);
        command.Add(dataPath);
        data.AddTo(command);
        command.Add(quiet);
        command.Add(json);

        command.SetAction(r => Cli.Guard(context, () =>
        {
            var display = new Display(context, r.GetValue(quiet), r.GetValue(json));
            string path = r.GetValue(modelPath)!;
            DataOptions.RequireFile(path, "model file");
            var model = ModelFiles.Load(path);
            if (model.Task == TaskKind.Regression)
            {
                throw new UsageException($"'{path}' is a regression model; evaluate scores classifiers.");
            }

            var classes = JsonOutput.ClassNames(model);
            var loaded = data.Load(r, r.GetValue(dataPath)!, classNames: model.ClassNames, classCount: model.ProbabilityWidth);
            CheckFeatures(model, loaded);
            var m = Metrics.Evaluate(model, loaded.Data);

            display.Info($"{Path.GetFileName(path)} on {loaded.Description}");
            display.Result(Display.Metrics(m));
            display.Result(string.Create(CultureInfo.InvariantCulture, $"ECE over {m.ReliabilityBins.Count} equal-width confidence bins. Confusion matrix (rows: true class, columns: predicted):"));
            var table = new TextTable(["true \\ predicted", .. classes, "F1"]);
            for (int t = 0; t < m.Classes; t++)
            {
                double f1 = m.PerClassF1[t];
                table.Add([classes[t], .. m.ConfusionMatrix[t].Select(v => v.ToString(CultureInfo.InvariantCulture)), double.IsNaN(f1) ? "-" : f1.ToString("F3", CultureInfo.InvariantCulture)]);
            }

            if (!display.Json)
            {
                context.Out.Write(table.ToString());
            }

            display.JsonDocument(new { model = path, data = loaded.Description, metrics = JsonOutput.Metrics(m, classes) });
            return Program.Success;
        }));
        return command;
    }

    /// <summary>Names a feature-count mismatch before the model's own shape error would.</summary>
    public static void CheckFeatures(TrainedModel model, LoadedData loaded)
    {
        int expected = model.InputShape.Aggregate(1, (a, b) => a * b);
        if (loaded.Data.FeatureCount != expected)
        {
            throw new InvalidDataException($"{loaded.Path} has {loaded.Data.FeatureCount} feature columns but the model expects {expected}; leave out extra columns with --ignore.");
        }

        if (!loaded.Data.SampleShape.SequenceEqual(model.InputShape) && loaded.Data.SampleShape.Length != model.InputShape.Length)
        {
            throw new InvalidDataException($"{loaded.Path} holds examples of shape [{string.Join(", ", loaded.Data.SampleShape)}] but the model expects [{string.Join(", ", model.InputShape)}].");
        }
    }
}
