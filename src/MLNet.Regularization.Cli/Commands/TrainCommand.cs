using System.CommandLine;
using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;
using Spectre.Console;

namespace MLNet.Regularization.Cli.Commands;

/// <summary><c>mlnet-reg train</c>: one network on one file, exported as ONNX with its history as JSON.</summary>
internal static class TrainCommand
{
    public static Command Create(CliContext context)
    {
        var command = new Command("train", "Train one network (architecture and regularizers from options or a JSON spec) and export it as ONNX, with its training history as JSON.");
        var dataPath = Arguments.File("data", "Training data: a CSV file with a header row, or an IDX image file (with --labels).");
        var data = new DataOptions();
        var spec = new SpecOptions(regularizers: true);
        var test = Options.Text("--test", "A labelled test file in the same format, scored after training.", "file");
        var testLabels = Options.Text("--test-labels", "IDX: the label file of --test.", "file");
        var validation = Options.Double("--validation", "Fraction of the training data held out (stratified) for validation and early stopping (default 0).");
        var output = Options.Text("--output", "The ONNX model to write (default model.onnx).", "file");
        output.Aliases.Add("-o");
        var monteCarlo = Options.Text("--mc-output", "Also write the Monte Carlo variant (dropout active at inference), for 'predict --mc-samples'.", "file");
        var history = Options.Text("--history", "The history JSON to write (default: the model path with .history.json).", "file");
        var quiet = Options.Flag("--quiet", "Print only the final results, as plain text.");
        var json = Options.Flag("--json", "Print only one JSON document with the results.");
        command.Add(dataPath);
        data.AddTo(command);
        spec.AddTo(command);
        command.Add(test);
        command.Add(testLabels);
        command.Add(validation);
        command.Add(output);
        command.Add(monteCarlo);
        command.Add(history);
        command.Add(quiet);
        command.Add(json);

        command.SetAction(r => Cli.Guard(context, () =>
        {
            var display = new Display(context, r.GetValue(quiet), r.GetValue(json));
            string modelPath = r.GetValue(output) ?? "model.onnx";
            string historyPath = r.GetValue(history) ?? Path.ChangeExtension(modelPath, null) + ".history.json";
            string? mcPath = r.GetValue(monteCarlo);
            Options.RequireFolder(modelPath, "--output");
            Options.RequireFolder(historyPath, "--history");
            Options.RequireFolder(mcPath, "--mc-output");

            var modelSpec = spec.Build(r);
            double fraction = r.Given(validation) ?? modelSpec.Training.ValidationFraction;
            if (!(fraction >= 0 && fraction < 1))
            {
                throw new UsageException($"--validation must be in [0, 1), got {fraction}.");
            }

            var loaded = data.Load(r, r.GetValue(dataPath)!);
            LoadedData? testData = r.GetValue(test) is { } testPath
                ? data.Load(r, testPath, r.GetValue(testLabels), loaded.Data.ClassNames, loaded.Data.ClassCount)
                : null;

            var (train, held) = fraction > 0 ? DataSplit.StratifiedSplit(loaded.Data, fraction, modelSpec.Training.Seed) : (loaded.Data, (Dataset?)null);
            var options = modelSpec.Training.ToTrainerOptions();
            options.ValidationFraction = 0;
            var network = modelSpec.CreateNetwork(train);
            display.Info($"Training on {loaded.Description}{(held is null ? "" : $" ({train.Count} for training, {held.Count} for validation)")}");
            display.Info($"Network: {modelSpec.Describe()}; {options.Describe()}");

            var model = Fit(display, context, new Trainer(options), network, train, held, options.Epochs);
            if (model.History.StopReason == StopReason.Cancelled)
            {
                context.Err.WriteLine($"{Cli.Name}: cancelled after {model.History.Epochs.Count} epoch(s); nothing written.");
                return Program.Cancelled;
            }

            var classes = JsonOutput.ClassNames(model);
            var trainMetrics = Metrics.Evaluate(model, train);
            var heldMetrics = held is null ? null : Metrics.Evaluate(model, held);
            var testMetrics = testData is null ? null : Metrics.Evaluate(model, testData.Data);

            ModelFiles.Save(model, modelPath);
            if (mcPath is not null)
            {
                ModelFiles.Save(model, mcPath, monteCarlo: true);
            }

            var document = new
            {
                model = modelPath,
                monteCarloModel = mcPath,
                history = historyPath,
                data = loaded.Description,
                test = testData?.Description,
                spec = modelSpec,
                network = model.Network.Describe(),
                parameters = model.Network.ParameterCount,
                trainingSettings = model.TrainingSettings,
                stopReason = model.History.StopReason,
                modelEpoch = model.History.ModelEpoch,
                seconds = model.History.TotalSeconds,
                epochs = model.History.Epochs.Select(JsonOutput.Epoch).ToArray(),
                metrics = new
                {
                    train = JsonOutput.Metrics(trainMetrics, classes),
                    validation = heldMetrics is null ? null : JsonOutput.Metrics(heldMetrics, classes),
                    test = testMetrics is null ? null : JsonOutput.Metrics(testMetrics, classes),
                },
            };
            AtomicFile.WriteAllText(historyPath, JsonOutput.Serialize(document));

            display.Result($"train       {Display.Metrics(trainMetrics)}");
            if (heldMetrics is not null)
            {
                display.Result($"validation  {Display.Metrics(heldMetrics)}");
            }

            if (testMetrics is not null)
            {
                display.Result($"test        {Display.Metrics(testMetrics)}");
            }

            display.Result($"wrote {modelPath}{(mcPath is null ? "" : $", {mcPath}")} and {historyPath}");
            display.JsonDocument(document);
            return Program.Success;
        }));
        return command;
    }

    private static TrainedModel Fit(Display display, CliContext context, Trainer trainer, Network network, Dataset train, Dataset? validation, int epochs)
    {
        if (!display.Rich)
        {
            var lines = new SyncProgress<EpochRecord>(e => display.Info(Display.Epoch(e, epochs)));
            return trainer.Fit(network, train, validation, lines, context.CancellationToken);
        }

        return new Progress(display.Console)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(p =>
            {
                var task = p.AddTask("epoch 0", maxValue: epochs);
                var progress = new SyncProgress<EpochRecord>(e =>
                {
                    task.Description = Markup.Escape(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"epoch {e.Epoch}/{epochs}: loss {e.TrainLoss:F4}{(e.ValidationLoss is double v ? $", validation {v:F4}" : "")}"));
                    task.Value = e.Epoch;
                });
                var model = trainer.Fit(network, train, validation, progress, context.CancellationToken);
                task.Value = epochs;
                return model;
            });
    }
}

/// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread (<see cref="Progress{T}"/> would post
/// to the thread pool and reorder lines).</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
