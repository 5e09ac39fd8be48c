using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.Json;
using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;
using Spectre.Console;

namespace MLNet.Regularization.Cli.Commands;

/// <summary><c>mlnet-reg train</c>: one network on one file, exported as ONNX with its history as JSON. Training
/// writes checkpoints (on Ctrl+C always, and every N epochs or minutes when asked); <c>train --resume FILE</c> continues
/// an interrupted run from one, with the same weights, bit for bit, as if it had never stopped.</summary>
internal static class TrainCommand
{
    /// <summary>The checkpoint metadata key under which train keeps its command line (paths made absolute).</summary>
    internal const string ArgumentsKey = "mlnet-reg.train.arguments";

    public static Command Create(CliContext context)
    {
        var command = new Command("train", "Train one network (architecture and regularizers from options or a JSON spec) and export it as ONNX, with its training history as JSON.");
        var dataPath = Arguments.File("data", "Training data: a CSV file with a header row, or an IDX image file (with --labels). Not needed with --resume alone.");
        dataPath.Arity = ArgumentArity.ZeroOrOne;
        var data = new DataOptions();
        var streaming = new StreamingOptions();
        var spec = new SpecOptions(regularizers: true);
        var test = Options.Text("--test", "A labelled test file in the same format, scored after training.", "file");
        var testLabels = Options.Text("--test-labels", "IDX: the label file of --test.", "file");
        var validation = Options.Double("--validation", "Fraction of the training data held out (stratified) for validation and early stopping (default 0.1; 0 trains on everything for the full --epochs).");
        var output = Options.Text("--output", "The ONNX model to write (default model.onnx).", "file");
        output.Aliases.Add("-o");
        var monteCarlo = Options.Text("--mc-output", "Also write the Monte Carlo variant (dropout active at inference), for 'predict --mc-samples'.", "file");
        var history = Options.Text("--history", "The history JSON to write (default: the model path with .history.json).", "file");
        var quiet = Options.Flag("--quiet", "Print only the final results, as plain text.");
        var json = Options.Flag("--json", "Print only one JSON document with the results.");
        var checkpoint = Options.Text("--checkpoint", "Where training writes checkpoints (default: the model path with .checkpoint). Ctrl+C always writes one; it is deleted when training completes.", "file");
        var checkpointEvery = Options.Int("--checkpoint-every", "Also write a checkpoint every N epochs.");
        var checkpointMinutes = Options.Double("--checkpoint-minutes", "Also write a checkpoint every this many minutes (possibly in the middle of an epoch).");
        var resume = Options.Text("--resume", "Continue the run that wrote this checkpoint (after Ctrl+C, a crash or a kill). Alone it repeats that run's command line; with a command line, that must be the same run.", "checkpoint");
        command.Add(dataPath);
        data.AddTo(command);
        streaming.AddTo(command);
        spec.AddTo(command);
        command.Add(test);
        command.Add(testLabels);
        command.Add(validation);
        command.Add(output);
        command.Add(monteCarlo);
        command.Add(history);
        command.Add(quiet);
        command.Add(json);
        command.Add(checkpoint);
        command.Add(checkpointEvery);
        command.Add(checkpointMinutes);
        command.Add(resume);
        Option[] pathOptions = [data.Labels, test, testLabels, output, monteCarlo, history, spec.Spec, checkpoint, streaming.Cache];

        command.SetAction(r => Cli.Guard(context, () =>
        {
            string? resumePath = r.GetValue(resume);
            if (r.GetValue(dataPath) is null)
            {
                return resumePath is null
                    ? throw new UsageException("give the training data file, or --resume CHECKPOINT to continue an interrupted run.")
                    : Cli.Run([.. StoredArguments(resumePath), "--resume", resumePath], context);
            }

            var display = new Display(context, r.GetValue(quiet), r.GetValue(json));
            string modelPath = r.GetValue(output) ?? "model.onnx";
            string checkpointPath = r.GetValue(checkpoint) ?? Path.ChangeExtension(modelPath, null) + ".checkpoint";
            Options.RequireFolder(checkpointPath, "--checkpoint");
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

            if (fraction == 0)
            {
                modelSpec.Training.EarlyStoppingPatience = spec.PatienceGiven(r)
                    ? throw new UsageException("--patience watches the validation loss, but --validation 0 holds no validation data out: give --validation a fraction such as 0.1, or leave --patience out.")
                    : null;
            }

            var warn = TrainingSummary.Warner(context);
            var layout = DataOptions.LayoutFor([modelSpec]);
            using var loaded = streaming.Open(r, data, display, layout, warn, r.GetValue(dataPath)!);
            using var testData = r.GetValue(test) is { } testPath
                ? streaming.Open(r, data, display, layout, warn, testPath, r.GetValue(testLabels), loaded.Source.ClassNames, loaded.Source.ClassCount, test: true)
                : null;

            var (train, held) = fraction > 0 ? DataSplit.StratifiedSplit(loaded.Source, fraction, modelSpec.Training.Seed) : (loaded.Source, (ExampleSource?)null);
            modelSpec.Training.ApplyDataDefaults(train.Count, loaded.Images);
            var options = modelSpec.Training.ToTrainerOptions();
            options.ValidationFraction = 0;
            options.ShuffleBufferSize = streaming.ShuffleBufferSize(r, loaded, display);
            options.CheckpointPath = checkpointPath;
            options.CheckpointEveryEpochs = r.Given(checkpointEvery) is int every ? (every >= 1 ? every : throw new UsageException($"--checkpoint-every must be at least 1, got {every}.")) : null;
            options.CheckpointInterval = r.Given(checkpointMinutes) is double minutes ? (minutes > 0 ? TimeSpan.FromMinutes(minutes) : throw new UsageException($"--checkpoint-minutes must be positive, got {minutes}.")) : null;
            options.CheckpointMetadata = new Dictionary<string, string> { [ArgumentsKey] = JsonSerializer.Serialize(ArgumentsToStore(r, dataPath, pathOptions, resume)) };
            var network = modelSpec.CreateNetwork(train);
            display.Info($"Training on {loaded.Description}{(held is null ? "" : $" ({train.Count} for training, {held.Count} for validation)")}");
            display.Info($"Network: {modelSpec.Describe()}; {options.Describe()}");
            if (resumePath is not null)
            {
                display.Info($"Resuming from {resumePath}");
            }

            var trainer = new Trainer(options);
            var meter = loaded.Streamed ? new ByteMeter(loaded.Source, System.IO.Path.GetFileName(loaded.Path)) : null;
            TrainedModel model;
            try
            {
                model = Fit(display, context, options.Epochs, meter, progress => resumePath is null
                    ? trainer.Fit(network, train, held, progress, context.CancellationToken)
                    : trainer.Resume(resumePath, network, train, held, progress, context.CancellationToken));
            }
            catch (OutOfMemoryException e) when (e is not InsufficientMemoryException && !loaded.Streamed)
            {
                throw StreamingOptions.OutOfMemory(loaded.Path, (long)loaded.Source.Count * loaded.Source.FeatureCount * sizeof(float), e);
            }

            if (model.History.StopReason == StopReason.Cancelled)
            {
                context.Err.WriteLine($"{Cli.Name}: cancelled after {model.History.Epochs.Count} epoch(s); wrote checkpoint {checkpointPath}: continue with '{Cli.Name} train --resume {checkpointPath}'.");
                return Program.Cancelled;
            }

            var scores = new ModelScores(model);
            Scores trainMetrics;
            Scores? heldMetrics, testMetrics;
            using (meter?.Lines(display, "scoring")) // scoring streamed data is one more pass over it
            {
                trainMetrics = scores.On(train);
                heldMetrics = held is null ? null : scores.On(held);
                testMetrics = testData is null ? null : scores.On(testData.Source);
            }

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
                warnings = TrainingSummary.Notes(model, options, "--epochs").Where(n => n.Warning).Select(n => n.Text).ToArray(),
                metrics = new
                {
                    train = trainMetrics.Json,
                    validation = heldMetrics?.Json,
                    test = testMetrics?.Json,
                },
            };
            AtomicFile.WriteAllText(historyPath, JsonOutput.Serialize(document));
            File.Delete(checkpointPath); // the run is complete: nothing left to resume

            TrainingSummary.Show(display, context, model, options, "--epochs");
            display.Result($"train       {trainMetrics.Text}");
            if (heldMetrics is not null)
            {
                display.Result($"validation  {heldMetrics.Text}");
            }

            if (testMetrics is not null)
            {
                display.Result($"test        {testMetrics.Text}");
            }

            display.Result($"wrote {modelPath}{(mcPath is null ? "" : $", {mcPath}")} and {historyPath}");
            display.JsonDocument(document);
            return Program.Success;
        }));
        return command;
    }

    /// <summary>The command line to store in checkpoints: this one without --resume, with every path made absolute so
    /// that '--resume' alone works from any folder.</summary>
    private static string[] ArgumentsToStore(ParseResult r, Argument<string> data, Option[] pathOptions, Option resume)
    {
        var names = pathOptions.SelectMany(o => o.Aliases.Append(o.Name)).ToHashSet(StringComparer.Ordinal);
        var stored = new List<string>();
        string? dataValue = r.GetValue(data);
        bool dataDone = false;
        var tokens = r.Tokens;
        for (int i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            if (token.Type == TokenType.Command)
            {
                stored.Add(token.Value);
                continue;
            }

            if (token.Type == TokenType.Option && (token.Value == resume.Name || resume.Aliases.Contains(token.Value)))
            {
                i++; // and its value
                continue;
            }

            if (token.Type == TokenType.Option && names.Contains(token.Value) && i + 1 < tokens.Count)
            {
                stored.Add(token.Value);
                stored.Add(Path.GetFullPath(tokens[++i].Value));
                continue;
            }

            bool isData = !dataDone && token.Type == TokenType.Argument && token.Value == dataValue;
            dataDone |= isData;
            stored.Add(isData ? Path.GetFullPath(token.Value) : token.Value);
        }

        return stored.ToArray();
    }

    private static string[] StoredArguments(string checkpointPath)
    {
        DataOptions.RequireFile(checkpointPath, "checkpoint");
        string json = Trainer.ReadCheckpointMetadata(checkpointPath).GetValueOrDefault(ArgumentsKey)
            ?? throw new UsageException($"'{checkpointPath}' was not written by '{Cli.Name} train': give the interrupted run's command line together with --resume.");
        try
        {
            return JsonSerializer.Deserialize<string[]>(json) is { Length: > 0 } args && args[0] == "train" && !args.Contains("--resume")
                ? args
                : throw new InvalidDataException($"checkpoint '{checkpointPath}': the stored command line is not a train command.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"checkpoint '{checkpointPath}': the stored command line is malformed: {e.Message}", e);
        }
    }

    /// <summary>Trains with progress: epoch lines (or a bar on a terminal) and, for streamed data, the bytes read from the
    /// file (a line every 10 seconds, or a second bar that fills once per pass).</summary>
    private static TrainedModel Fit(Display display, CliContext context, int epochs, ByteMeter? meter, Func<IProgress<EpochRecord>, TrainedModel> train)
    {
        if (!display.Rich)
        {
            // Epoch lines come from the training thread, byte lines from a timer: one lock keeps them whole.
            var gate = new object();
            using var timer = meter is null || !display.Plain ? null : new Timer(_ =>
            {
                lock (gate)
                {
                    display.Info(meter.Line);
                }
            }, null, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10));
            return train(new SyncProgress<EpochRecord>(e =>
            {
                lock (gate)
                {
                    display.Info(Display.Epoch(e, epochs));
                }

                TestHold.After("epoch", e.Epoch, context.CancellationToken);
            }));
        }

        var fitted = new Progress(display.Console)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(p =>
            {
                var task = p.AddTask("epoch 0", maxValue: epochs);
                var bytes = meter is null ? null : p.AddTask("reading", maxValue: meter.PassBytes);
                using var timer = bytes is null ? null : new Timer(_ =>
                {
                    bytes.Value = meter!.InPass;
                    bytes.Description = Markup.Escape(meter.Line);
                }, null, TimeSpan.Zero, TimeSpan.FromSeconds(1));
                var progress = new SyncProgress<EpochRecord>(e =>
                {
                    task.Description = Markup.Escape(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"epoch {e.Epoch}/{epochs}: loss {e.TrainLoss:F4}{(e.ValidationLoss is double v ? $", validation {v:F4}" : "")}"));
                    task.Value = e.Epoch;
                });
                var model = train(progress);
                task.Value = epochs;
                return model;
            });

        TrainingSummary.EpochLines(display, fitted.History, epochs);
        return fitted;
    }
}

/// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread (<see cref="Progress{T}"/> would post
/// to the thread pool and reorder lines).</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
