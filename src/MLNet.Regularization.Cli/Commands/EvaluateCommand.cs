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
        var command = new Command("evaluate", "Score an ONNX model written by this tool on labelled data: accuracy, log-loss, macro-F1, confusion matrix and expected calibration error for a classifier; MSE, RMSE, MAE and R² for a regression model.");
        var modelPath = Arguments.File("model", "The ONNX model (from train or compare).");
        var dataPath = Arguments.File("data", "Labelled data: a CSV file (with --label), an IDX image file (with --labels), or a folder with one sub-folder of images per class.");
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
            bool regression = model.Task == TaskKind.Regression;
            var layout = model.InputShape.Length == 3 ? InputLayout.Images : InputLayout.AsGiven;
            var loaded = regression
                ? data.Load(r, r.GetValue(dataPath)!, layout, TrainingSummary.Warner(context), task: TaskKind.Regression, modelShape: model.InputShape)
                : data.Load(r, r.GetValue(dataPath)!, layout, TrainingSummary.Warner(context), classNames: model.ClassNames, classCount: model.ProbabilityWidth, task: model.Task, modelShape: model.InputShape);
            loaded = CheckFeatures(model, loaded);
            var scores = new ModelScores(model).On(loaded.Data);

            display.Info($"{Path.GetFileName(path)} on {loaded.Description}");
            display.Result(scores.Text);
            if (scores.Classification is { } m && !display.Json)
            {
                var classes = scores.Classes;
                display.Result(string.Create(CultureInfo.InvariantCulture, $"ECE over {m.ReliabilityBins.Count} equal-width confidence bins. Confusion matrix (rows: true class, columns: predicted):"));
                var table = new TextTable(["true \\ predicted", .. classes, "F1"]);
                for (int t = 0; t < m.Classes; t++)
                {
                    double f1 = m.PerClassF1[t];
                    table.Add([classes[t], .. m.ConfusionMatrix[t].Select(v => v.ToString(CultureInfo.InvariantCulture)), double.IsNaN(f1) ? "-" : f1.ToString("F3", CultureInfo.InvariantCulture)]);
                }

                context.Out.Write(table.ToString());
            }

            display.JsonDocument(new { model = path, data = loaded.Description, metrics = scores.Json });
            return Program.Success;
        }));
        return command;
    }

    /// <summary>Names a feature-count mismatch before the model's own shape error would, and gives the data the
    /// model's example shape when only the layout differs (flat rows for a model of images, or the reverse).</summary>
    public static LoadedData CheckFeatures(TrainedModel model, LoadedData loaded)
    {
        int expected = model.InputShape.Aggregate(1, (a, b) => a * b);
        if (loaded.Data.FeatureCount != expected)
        {
            throw new InvalidDataException($"{loaded.Path} has {loaded.Data.FeatureCount} features per example but the model expects {expected} ([{string.Join(", ", model.InputShape)}]); leave out extra columns with --ignore" +
                (model.InputShape.Length == 3 ? ", or give --input-shape to resize images." : "."));
        }

        return loaded.Data.SampleShape.SequenceEqual(model.InputShape) ? loaded : loaded with { Data = loaded.Data.Reshape(model.InputShape) };
    }
}
