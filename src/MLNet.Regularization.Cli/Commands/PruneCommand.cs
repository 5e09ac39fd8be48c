using System.CommandLine;
using System.Globalization;
using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Cli.Commands;

/// <summary><c>mlnet-reg prune</c>: lottery tickets by iterative magnitude pruning (with its controls), or structured
/// pruning to a smaller network, exported as ONNX.</summary>
internal static class PruneCommand
{
    public static Command Create(CliContext context)
    {
        var command = new Command("prune", "Find a sparse subnetwork: iterative magnitude pruning with reset to the initialization or rewinding (lottery tickets), " +
            "optionally with the random re-initialization and random mask controls; or, with --structured, remove whole hidden units and fine-tune a smaller network. " +
            "Exports the sparsest ticket (or the smaller network) as ONNX. Ctrl+C stops after the current batch and keeps the finished rounds.");
        var dataPath = Arguments.File("data", "Training data: a CSV file with a header row, or an IDX image file (with --labels).");
        var data = new DataOptions();
        var spec = new SpecOptions(regularizers: true);
        var rounds = Options.Int("--rounds", "Pruning rounds after the dense round (default 5).");
        var rate = Options.Double("--rate", "Fraction of the surviving weights pruned per round (default 0.2).");
        var outputRate = Options.Double("--output-rate", "Fraction of the output layer's surviving weights pruned per round (default: half of --rate).");
        var scope = Options.Choice("--scope", "Magnitude threshold per layer (default) or over the whole network.", "layer", "global");
        var reset = Options.Choice("--reset", "What the survivors start each round from: their initialization (default), the weights of step --rewind-step of the dense run, or their trained values (prune and fine-tune).", "init", "rewind", "none");
        var rewindStep = Options.Int("--rewind-step", "With --reset rewind: the optimizer step (mini-batch) of the dense run to rewind to (default 0).");
        var controls = Options.Choice("--controls", "Control runs per round: none (default), reinit (the ticket's mask, fresh weights), mask (a random mask of the same per-layer sparsity) or both.", "none", "reinit", "mask", "both");
        var structured = Options.Double("--structured", "Instead of magnitude pruning: remove this fraction of the hidden units of the trained dense network, then fine-tune the smaller network.");
        var score = Options.Choice("--score", "With --structured: rank units by the L1 (default) or L2 norm of their incoming weights, or by their batch-norm scale (needs --batch-norm).", "l1", "l2", "bn-scale");
        var budget = Options.Text("--time-budget", "Wall-clock budget of the whole run: seconds, or 90s, 5m, 1h; the round it interrupts is left out.", "duration");
        var test = Options.Text("--test", "A labelled test file in the same format, scored after every run.", "file");
        var testLabels = Options.Text("--test-labels", "IDX: the label file of --test.", "file");
        var validation = Options.Double("--validation", "Fraction of the training data held out (stratified) for validation and early stopping (default 0.1).");
        var output = Options.Text("--output", "The ONNX model to write: the sparsest ticket, or the smaller network (default pruned.onnx).", "file");
        output.Aliases.Add("-o");
        var sparseWeights = Options.Flag("--sparse-weights", "Store mostly-zero weights sparse (COO) in the ONNX file: smaller files, the same predictions.");
        var report = Options.Text("--report", "Write the HTML report: accuracy against weights remaining for the ticket and the controls, early-stopping epochs, rounds.", "file");
        var quiet = Options.Flag("--quiet", "Print only the final results, as plain text.");
        var json = Options.Flag("--json", "Print only one JSON document with the results.");
        command.Add(dataPath);
        data.AddTo(command);
        spec.AddTo(command);
        foreach (var option in new Option[] { rounds, rate, outputRate, scope, reset, rewindStep, controls, structured, score, budget, test, testLabels, validation, output, sparseWeights, report, quiet, json })
        {
            command.Add(option);
        }

        command.SetAction(r => Cli.Guard(context, () =>
        {
            var commandClock = System.Diagnostics.Stopwatch.StartNew();
            var display = new Display(context, r.GetValue(quiet), r.GetValue(json));
            string modelPath = r.GetValue(output) ?? "pruned.onnx";
            string? reportPath = r.GetValue(report);
            Options.RequireFolder(modelPath, "--output");
            Options.RequireFolder(reportPath, "--report");
            double fraction = r.Given(validation) ?? 0.1;
            if (!(fraction > 0 && fraction < 1))
            {
                throw new UsageException($"--validation must be in (0, 1): pruning picks each run's early-stopping epoch on validation data; got {fraction}.");
            }

            double? structuredFraction = r.Given(structured);
            var lotteryOnly = new (string Name, bool Given)[]
            {
                ("--rounds", r.GetResult(rounds) is not null), ("--rate", r.GetResult(rate) is not null), ("--output-rate", r.GetResult(outputRate) is not null),
                ("--scope", r.GetResult(scope) is not null), ("--reset", r.GetResult(reset) is not null), ("--rewind-step", r.GetResult(rewindStep) is not null),
                ("--controls", r.GetResult(controls) is not null), ("--report", reportPath is not null),
            };
            if (structuredFraction is not null && lotteryOnly.FirstOrDefault(o => o.Given) is { Given: true } conflict)
            {
                throw new UsageException($"{conflict.Name} belongs to magnitude pruning; --structured removes whole units instead. Use one or the other.");
            }

            if (structuredFraction is null && r.GetResult(score) is not null)
            {
                throw new UsageException("--score ranks units for --structured; give --structured too.");
            }

            if (r.GetValue(reset) != "rewind" && r.GetResult(rewindStep) is not null)
            {
                throw new UsageException("--rewind-step needs --reset rewind.");
            }

            Require(r.Given(rounds) is null or >= 0, "--rounds", "must be at least 0");
            Require(r.Given(rate) is null or (> 0 and < 1), "--rate", "must be in (0, 1)");
            Require(r.Given(outputRate) is null or (>= 0 and < 1), "--output-rate", "must be in [0, 1)");
            Require(r.Given(rewindStep) is null or >= 0, "--rewind-step", "must be at least 0");
            Require(structuredFraction is null or (> 0 and < 1), "--structured", "must be in (0, 1)");
            var modelSpec = spec.Build(r);
            var warn = TrainingSummary.Warner(context);
            var loaded = data.Load(r, r.GetValue(dataPath)!, DataOptions.LayoutFor([modelSpec]), warn);
            LoadedData? testData = r.GetValue(test) is { } testPath
                ? data.Load(r, testPath, DataOptions.LayoutFor([modelSpec]), warn, r.GetValue(testLabels), loaded.Data.ClassNames, loaded.Data.ClassCount)
                : null;
            var (train, held) = DataSplit.StratifiedSplit(loaded.Data, fraction, modelSpec.Training.Seed);
            modelSpec.Training.ApplyDataDefaults(train.Count, loaded.Images);
            var training = modelSpec.Training.ToTrainerOptions();
            training.ValidationFraction = 0;
            var network = modelSpec.CreateNetwork(train);
            display.Info($"Pruning on {loaded.Description} ({train.Count} for training, {held.Count} for validation)");
            display.Info($"Network: {modelSpec.Describe()}; {training.Describe()}");
            TimeSpan? timeBudget = r.GetValue(budget) is { } b ? Options.ParseDuration(b, "--time-budget") : null;
            if (timeBudget is { } total)
            {
                timeBudget = total - commandClock.Elapsed > TimeSpan.FromMilliseconds(1) ? total - commandClock.Elapsed : TimeSpan.FromMilliseconds(1);
            }

            return structuredFraction is double f
                ? Structured(display, context, network, training, train, held, testData, f, r.GetValue(score), timeBudget, modelPath, r.GetValue(sparseWeights), loaded)
                : Lottery(display, context, network, train, held, testData, new LotteryTicketOptions
                {
                    Rounds = r.Given(rounds) ?? 5,
                    PruneRate = r.Given(rate) ?? 0.2,
                    OutputLayerPruneRate = r.Given(outputRate),
                    Scope = r.GetValue(scope) == "global" ? PruningScope.Global : PruningScope.LayerWise,
                    Reset = r.GetValue(reset) switch { "rewind" => TicketReset.Rewind, "none" => TicketReset.None, _ => TicketReset.Initialization },
                    RewindIteration = r.Given(rewindStep) ?? 0,
                    Controls = r.GetValue(controls) switch { "reinit" => TicketControls.RandomReinitialization, "mask" => TicketControls.RandomMask, "both" => TicketControls.Both, _ => TicketControls.None },
                    Training = training,
                    TimeBudget = timeBudget,
                }, modelPath, r.GetValue(sparseWeights), reportPath, loaded);
        }));
        return command;
    }

    private static int Lottery(Display display, CliContext context, Layers.Network network, Dataset train, Dataset validation, LoadedData? test, LotteryTicketOptions options, string modelPath, bool sparse, string? reportPath, LoadedData data)
    {
        options.Validate();
        display.Info(F($"Iterative magnitude pruning: {options.Rounds} round(s) at {100 * options.PruneRate:0.#}% (output layer {100 * options.PruningStep.EffectiveOutputLayerRate:0.#}%), {options.Scope}, reset {options.Reset}, controls {options.Controls}"));
        var progress = new SyncProgress<LotteryTicketProgress>(p =>
        {
            if (p.Kind == LotteryTicketProgressKind.RunFinished && p.Run is { } run)
            {
                display.Info(F($"round {p.Round}/{p.Rounds}  {100 * p.FractionRemaining,6:0.00}% of weights  {Name(run.Kind),-16} {Scores(run)}  ({run.Seconds:F1} s)"));
            }
        });
        var result = new LotteryTicket(options).Run(network, train, validation, test?.Data, progress, context.CancellationToken);
        if (result.Sparsest is { } last)
        {
            ModelFiles.Save(last.Ticket.Model, modelPath, sparseWeights: sparse);
        }

        if (reportPath is not null)
        {
            HtmlReport.Write(result, reportPath, new HtmlReportOptions
            {
                Title = $"Lottery tickets: {Path.GetFileName(data.Path)}",
                DataDescription = data.Description + (test is null ? "" : $"; test data {test.Description}"),
            });
        }

        foreach (var round in result.Rounds)
        {
            display.Result(F($"round {round.Round,2}  {100 * round.FractionRemaining,6:0.00}% of weights  ") + string.Join("  ", round.Runs.Select(run => $"{Name(run.Kind)}: {Scores(run)}")));
        }

        var written = new[] { result.Sparsest is null ? null : modelPath, reportPath }.Where(p => p is not null).ToList();
        if (written.Count > 0)
        {
            display.Result($"wrote {string.Join(", ", written)}{(result.Sparsest is { } s ? F($" (model: round {s.Round}, {100 * s.FractionRemaining:0.##}% of weights)") : "")}");
        }

        display.JsonDocument(new
        {
            data = data.Description,
            test = test?.Description,
            rounds = result.Rounds.Select(round => new
            {
                round = round.Round,
                fractionRemaining = round.FractionRemaining,
                layers = round.Layers.Select(l => new { layer = l.LayerIndex, type = l.Layer, shape = l.Shape, weights = l.Weights, remaining = l.Remaining, sparsity = l.Sparsity }).ToArray(),
                runs = round.Runs.Select(RunJson).ToArray(),
            }).ToArray(),
            elapsedSeconds = result.Elapsed.TotalSeconds,
            cancelled = result.Cancelled,
            budgetExhausted = result.BudgetExhausted,
            model = result.Sparsest is null ? null : modelPath,
            report = reportPath,
        });

        if (result.Cancelled)
        {
            context.Err.WriteLine($"{Cli.Name}: cancelled after {result.Rounds.Count} round(s){(written.Count > 0 ? $"; wrote {string.Join(", ", written)}" : "")}.");
            return Program.Cancelled;
        }

        if (result.Rounds.Count == 0)
        {
            context.Err.WriteLine($"{Cli.Name}: error: the time budget ended during the dense round; raise --time-budget or lower --epochs.");
            return Program.DataError;
        }

        return Program.Success;
    }

    private static int Structured(Display display, CliContext context, Layers.Network network, TrainerOptions training, Dataset train, Dataset validation, LoadedData? test, double fraction, string? score, TimeSpan? budget, string modelPath, bool sparse, LoadedData data)
    {
        var options = new StructuredPruningOptions
        {
            Fraction = fraction,
            Score = score switch { "l2" => UnitScore.L2, "bn-scale" => UnitScore.BatchNormScale, _ => UnitScore.L1 },
        };
        options.Validate();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        if (budget is { } b)
        {
            stop.CancelAfter(b);
        }

        var trainer = new Trainer(training);
        display.Info("training the dense network");
        var dense = trainer.Fit(network, train, validation, null, stop.Token);
        if (dense.History.StopReason == StopReason.Cancelled)
        {
            return Interrupted(context, "the dense run");
        }

        var pruned = StructuredPruning.Prune(dense.Network, options);
        display.Info($"removed {pruned.HiddenUnitsBefore - pruned.HiddenUnitsAfter} of {pruned.HiddenUnitsBefore} hidden units; fine-tuning the smaller network");
        var tuned = trainer.Fit(pruned.Network, train, validation, null, stop.Token);
        if (tuned.History.StopReason == StopReason.Cancelled)
        {
            return Interrupted(context, "fine-tuning");
        }

        ModelFiles.Save(tuned, modelPath, sparseWeights: sparse);
        var runs = new[] { ("dense", dense), ("pruned", tuned) }.Select(x => new
        {
            network = x.Item1,
            units = x.Item1 == "dense" ? pruned.Layers.Select(l => l.UnitsBefore).ToArray() : pruned.Layers.Select(l => l.Kept.Length).ToArray(),
            parameters = x.Item2.Network.ParameterCount,
            earlyStopEpoch = x.Item2.History.ModelEpoch,
            validationAccuracy = x.Item2.Evaluate(validation).Accuracy,
            testAccuracy = test is null ? (double?)null : x.Item2.Evaluate(test.Data).Accuracy,
            seconds = x.Item2.History.TotalSeconds,
        }).ToArray();
        foreach (var run in runs)
        {
            display.Result(F($"{run.network,-7} hidden units {string.Join("-", run.units)}, {run.parameters:N0} parameters: validation accuracy {run.validationAccuracy:F4}{(run.testAccuracy is double t ? $", test accuracy {t:F4}" : "")} (epoch {run.earlyStopEpoch})"));
        }

        display.Result($"wrote {modelPath}");
        display.JsonDocument(new { data = data.Description, test = test?.Description, structured = new { fraction, score = options.Score }, runs, model = modelPath });
        return Program.Success;
    }

    private static void Require(bool ok, string option, string rule)
    {
        if (!ok)
        {
            throw new UsageException($"{option} {rule}.");
        }
    }

    private static int Interrupted(CliContext context, string what)
    {
        bool cancelled = context.CancellationToken.IsCancellationRequested;
        context.Err.WriteLine(cancelled ? $"{Cli.Name}: cancelled during {what}; nothing written." : $"{Cli.Name}: error: the time budget ended during {what}; nothing written.");
        return cancelled ? Program.Cancelled : Program.DataError;
    }

    private static object RunJson(TicketRun run) => new
    {
        kind = Name(run.Kind),
        earlyStopEpoch = run.EarlyStopEpoch,
        earlyStopIteration = run.EarlyStopIteration,
        epochs = run.History.Epochs.Count,
        validationLoss = JsonOutput.Number(run.ValidationLoss),
        validationAccuracy = JsonOutput.Number(run.ValidationAccuracy),
        testLoss = run.TestLoss is double l ? JsonOutput.Number(l) : null,
        testAccuracy = run.TestAccuracy,
        seconds = run.Seconds,
    };

    private static string Name(TicketRunKind kind) => kind switch
    {
        TicketRunKind.RandomReinitialization => "reinit",
        TicketRunKind.RandomMask => "random-mask",
        _ => "ticket",
    };

    private static string Scores(TicketRun run) =>
        F($"validation {run.ValidationAccuracy:F4}{(run.TestAccuracy is double t ? $", test {t:F4}" : "")}, epoch {run.EarlyStopEpoch}");

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
