using System.CommandLine;
using System.Globalization;
using System.Text;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace MLNet.Regularization.Cli.Commands;

/// <summary><c>mlnet-reg compare</c>: a sweep over regularizer configurations with a leaderboard, a report and the
/// best model.</summary>
internal static class CompareCommand
{
    public static Command Create(CliContext context)
    {
        var command = new Command("compare", "Compare regularizers AutoML-style: train each configuration of a grid or a random search on the same split(s), " +
            "rank them on validation data, print a leaderboard, export the best model and optionally an HTML report. Ctrl+C stops early and still writes the leaderboard of the finished trials.\n\n" +
            "Protocol: every configuration trains on the same stratified splits with the same seeds. By default up to 2,000 rows are cross-validated " +
            "5-fold twice over (10 runs each), up to 10,000 rows 5-fold, larger data on a 20% holdout; --folds, --repeats, --holdout and --seeds change that. " +
            "Early stopping holds 10% of each training split out (--patience), so no epoch is chosen on the rows a configuration is ranked on. " +
            "The leaderboard shows the mean ± standard deviation over the runs and marks with ≈ every configuration whose difference from the best is within noise: " +
            "a paired two-sided test at 5% (for k-fold the corrected resampled t-test of Nadeau & Bengio; for a holdout the seeds' spread plus the binomial error of the validation rows).");
        var dataPath = Arguments.File("data", "Labelled data: a CSV file with a header row, an IDX image file (with --labels), or a folder with one sub-folder of images per class.");
        var data = new DataOptions();
        var spec = new SpecOptions(regularizers: false);
        var search = Options.Choice("--search", "grid (default: the standard regularizers, or the --configs list, in order) or random (draws from a search space of regularizers).", "grid", "random");
        var configs = Options.Text("--configs", "JSON file with an array of specs to compare (a grid of your own); each entry is a complete spec.", "file");
        var trials = Options.Int("--trials", "Run at most this many configurations.");
        var budget = Options.Text("--time-budget", "Wall-clock budget of the whole comparison: seconds, or 90s, 5m, 1h.", "duration");
        var folds = Options.Int("--folds", "Stratified k-fold cross-validation with k folds (default for up to 10,000 rows: 5).");
        var repeats = Options.Int("--repeats", "Repeat the k-fold split this many times with fresh folds (default 2 for up to 2,000 rows, else 1).");
        var holdout = Options.Double("--holdout", "Validate on one stratified holdout of this fraction instead (default for more than 10,000 rows: 0.2).");
        var seeds = Options.Int("--seeds", "Train each configuration on every split with this many seeds (default 1).");
        var metric = Options.Choice("--metric", "Ranking metric on the validation data (default accuracy).", "accuracy", "log-loss", "macro-f1");
        var test = Options.Text("--test", "A labelled test file in the same format: the best model is scored on it.", "file");
        var testLabels = Options.Text("--test-labels", "IDX: the label file of --test.", "file");
        var output = Options.Text("--output", "The best model as ONNX (default best.onnx).", "file");
        output.Aliases.Add("-o");
        var monteCarlo = Options.Text("--mc-output", "Also write the best model's Monte Carlo variant (if it has dropout), for 'predict --mc-samples'.", "file");
        var report = Options.Text("--report", "Write a self-contained HTML report (learning curves, generalization gaps, reliability diagram, leaderboard).", "file");
        var leaderboard = Options.Text("--leaderboard", "Write the leaderboard as CSV.", "file");
        var quiet = Options.Flag("--quiet", "Print only the final leaderboard, as plain text.");
        var json = Options.Flag("--json", "Print only one JSON document with the leaderboard and the best model.");
        command.Add(dataPath);
        data.AddTo(command);
        spec.AddTo(command);
        foreach (var option in new Option[] { search, configs, trials, budget, folds, repeats, holdout, seeds, metric, test, testLabels, output, monteCarlo, report, leaderboard, quiet, json })
        {
            command.Add(option);
        }

        command.SetAction(r => Cli.Guard(context, () =>
        {
            long commandStart = context.Time.GetTimestamp();
            var display = new Display(context, r.GetValue(quiet), r.GetValue(json));
            string modelPath = r.GetValue(output) ?? "best.onnx";
            string? mcPath = r.GetValue(monteCarlo), reportPath = r.GetValue(report), leaderboardPath = r.GetValue(leaderboard);
            Options.RequireFolder(modelPath, "--output");
            Options.RequireFolder(mcPath, "--mc-output");
            Options.RequireFolder(reportPath, "--report");
            Options.RequireFolder(leaderboardPath, "--leaderboard");

            var baseSpec = spec.Build(r);
            bool random = r.GetValue(search) == "random";
            string? configsPath = r.GetValue(configs);
            if (configsPath is not null && random)
            {
                throw new UsageException("--configs lists the configurations of a grid; it cannot be combined with --search random.");
            }

            if (r.Given(folds) is not null && r.Given(holdout) is not null)
            {
                throw new UsageException("--folds and --holdout are alternatives: k-fold cross-validation or one holdout split.");
            }

            if (r.Given(repeats) is not null && r.Given(holdout) is not null)
            {
                throw new UsageException("--repeats draws the k-fold split again; a --holdout split is drawn once (use --seeds to repeat training on it).");
            }

            if (data.GetTask(r) == MLNet.Regularization.Data.TaskKind.Regression)
            {
                throw new UsageException("compare ranks classifiers (accuracy, log-loss, macro-F1); for --task regression use 'mlnet-reg train', which reports MSE, MAE and R².");
            }

            var budgetValue = r.GetValue(budget) is { } b ? Options.ParseDuration(b, "--time-budget") : (TimeSpan?)null;
            if (random && r.Given(trials) is null && budgetValue is null)
            {
                throw new UsageException("random search needs an end: give --trials, --time-budget or both.");
            }

            var specs = configsPath is not null ? ModelSpec.LoadList(configsPath) : null;
            var layout = DataOptions.LayoutFor(specs ?? [baseSpec]);
            var warn = TrainingSummary.Warner(context);
            var loaded = data.Load(r, r.GetValue(dataPath)!, layout, warn);
            LoadedData? testData = r.GetValue(test) is { } testPath
                ? data.Load(r, testPath, layout, warn, r.GetValue(testLabels), loaded.Data.ClassNames, loaded.Data.ClassCount)
                : null;

            var protocol = ComparisonOptions.ForData(loaded.Data.Count);
            bool kFold = r.Given(holdout) is null && (r.Given(folds) is not null || r.Given(repeats) is not null || protocol.Validation == ValidationMethod.KFold);
            var options = new ComparisonOptions
            {
                Metric = r.GetValue(metric) switch { "log-loss" => RankingMetric.LogLoss, "macro-f1" => RankingMetric.MacroF1, _ => RankingMetric.Accuracy },
                Validation = kFold ? ValidationMethod.KFold : ValidationMethod.Holdout,
                Folds = r.Given(folds) ?? protocol.Folds,
                Repeats = kFold ? r.Given(repeats) ?? protocol.Repeats : 1,
                HoldoutFraction = r.Given(holdout) ?? 0.2,
                Seeds = r.Given(seeds) ?? 1,
                Seed = baseSpec.Training.Seed,
                MaxTrials = r.Given(trials),
                TimeBudget = budgetValue,
            };
            ValidateProtocol(options);

            // The settings a spec leaves to the data are fitted to one run's training rows.
            int trainRows = (int)(loaded.Data.Count * (kFold ? (options.Folds - 1.0) / options.Folds : 1 - options.HoldoutFraction) * (1 - baseSpec.Training.ValidationFraction));
            baseSpec.Training.ApplyDataDefaults(Math.Max(1, trainRows), loaded.Images);
            foreach (var s in specs ?? [])
            {
                s.Training.ApplyDataDefaults(Math.Max(1, trainRows), loaded.Images);
            }

            IEnumerable<ComparisonConfiguration> configurations = specs is not null
                ? specs.Select(s => ComparisonConfiguration.FromSpec(s)).ToList()
                : random
                    ? new SearchSpace().Sample(baseSpec, options.Seed).Select(s => ComparisonConfiguration.FromSpec(s))
                    : SearchSpace.RegularizerGrid(baseSpec).Select(s => ComparisonConfiguration.FromSpec(s)).ToList();

            display.Info($"Comparing {(random ? "a random search of regularizers" : specs is null ? "the standard regularizers" : $"the {specs.Count} configurations of {Path.GetFileName(configsPath)}")} on {loaded.Description}");
            display.Info($"{options.DescribeValidation()}, {options.Seeds} seed(s) ({options.RunsPerConfiguration} run(s) per configuration), ranked by validation {MetricName(options.Metric)}" +
                $"{(options.MaxTrials is int n ? $", at most {n} trials" : "")}{(options.TimeBudget is { } t ? string.Create(CultureInfo.InvariantCulture, $", time budget {t.TotalSeconds:0.#} s") : "")}");

            // The budget covers the whole command: what loading the data took is deducted.
            var runOptions = options.Clone();
            runOptions.TimeProvider = context.Time;
            if (options.TimeBudget is { } total)
            {
                var left = total - context.Time.GetElapsedTime(commandStart);
                runOptions.TimeBudget = left > TimeSpan.FromMilliseconds(1) ? left : TimeSpan.FromMilliseconds(1);
            }

            var result = Run(display, context, new Comparison(runOptions), configurations, loaded);

            TrainedModel? best = result.BestModel;
            var classes = best is null ? null : JsonOutput.ClassNames(best);
            var testMetrics = best is not null && testData is not null ? Metrics.Evaluate(best, testData.Data) : null;
            if (leaderboardPath is not null)
            {
                AtomicFile.WriteAllText(leaderboardPath, LeaderboardCsv(result));
            }

            if (reportPath is not null)
            {
                HtmlReport.Write(result, reportPath, new HtmlReportOptions
                {
                    Title = $"Regularization comparison: {Path.GetFileName(loaded.Path)}",
                    DataDescription = loaded.Description + (testData is null ? "" : $"; test data {testData.Description}"),
                    TestMetrics = testMetrics,
                    TestDescription = testData?.Description,
                });
            }

            if (best is not null)
            {
                ModelFiles.Save(best, modelPath);
                if (mcPath is not null)
                {
                    if (best.Network.Layers.Any(l => l.IsStochastic))
                    {
                        ModelFiles.Save(best, mcPath, monteCarlo: true);
                    }
                    else
                    {
                        context.Err.WriteLine($"{Cli.Name}: note: the best configuration has no dropout, so no Monte Carlo variant was written to {mcPath}.");
                        mcPath = null;
                    }
                }
            }

            ShowLeaderboard(display, context, result);
            if (result.Best is { } leader)
            {
                int tied = result.Leaderboard.Count(t => t.Rank > 1 && t.TiedWithBest);
                display.Result($"best: {leader.Name}, validation {MetricName(result.Metric)} {leader.Score.Format()}" +
                    (tied > 0 ? $"; {tied} other configuration(s) within noise of it (≈)" : result.Leaderboard.Count > 1 && result.Leaderboard[1].VersusBest is not null ? "; ahead of the others by more than the noise" : ""));
                display.Result($"exported the model of its run with seed {leader.BestRun!.Seed}" +
                    $"{(options.Validation == ValidationMethod.KFold ? $", {(options.Repeats > 1 ? $"repeat {leader.BestRun.Repeat + 1}, " : "")}fold {leader.BestRun.Fold + 1}" : "")} (validation {Display.Metrics(leader.BestRun.Validation)})");
            }

            foreach (string note in MaxNormNotes(result))
            {
                display.Result(note);
            }

            if (testMetrics is not null)
            {
                display.Result($"best model on {testData!.Description}: {Display.Metrics(testMetrics)}");
            }

            var written = new[] { best is null ? null : modelPath, mcPath, leaderboardPath, reportPath }.Where(p => p is not null).ToList();
            if (written.Count > 0)
            {
                display.Result($"wrote {string.Join(", ", written)}");
            }

            display.JsonDocument(new
            {
                data = loaded.Description,
                test = testData?.Description,
                metric = MetricName(result.Metric),
                validation = options.DescribeValidation(),
                seeds = options.Seeds,
                elapsedSeconds = result.Elapsed.TotalSeconds,
                cancelled = result.Cancelled,
                budgetExhausted = result.BudgetExhausted,
                trials = result.Leaderboard.Concat(result.Trials.Where(t => t.Status != TrialStatus.Completed)).Select(TrialJson).ToArray(),
                best = result.Best is { } top ? new
                {
                    name = top.Name,
                    model = modelPath,
                    monteCarloModel = mcPath,
                    seed = top.BestRun!.Seed,
                    fold = top.BestRun.Fold,
                    validation = JsonOutput.Metrics(top.BestRun.Validation, classes!),
                    test = testMetrics is null ? null : JsonOutput.Metrics(testMetrics, classes!),
                } : null,
                report = reportPath,
                leaderboard = leaderboardPath,
            });

            if (result.Cancelled)
            {
                context.Err.WriteLine($"{Cli.Name}: cancelled: {result.Leaderboard.Count} trial(s) finished{(written.Count > 0 ? $"; wrote {string.Join(", ", written)}" : "")}.");
                return Program.Cancelled;
            }

            if (result.Leaderboard.Count == 0)
            {
                var failed = result.Trials.FirstOrDefault(t => t.Status == TrialStatus.Failed);
                context.Err.WriteLine($"{Cli.Name}: error: no configuration completed: " + (failed is not null
                    ? $"'{failed.Name}' failed ({failed.Error})."
                    : "the time budget ended during the first trial; raise --time-budget or lower --epochs."));
                return Program.DataError;
            }

            return Program.Success;
        }));
        return command;
    }

    private static ComparisonResult Run(Display display, CliContext context, Comparison comparison, IEnumerable<ComparisonConfiguration> configurations, LoadedData data)
    {
        var options = comparison.Options;
        var finished = new List<TrialResult>();
        if (!display.Rich)
        {
            var lines = new SyncProgress<ComparisonProgress>(p =>
            {
                context.ComparisonObserver?.Invoke(p);
                if (p.Kind == ComparisonProgressKind.TrialFinished && display.Plain)
                {
                    display.Info(TrialLine(p.Result!, p.MaxTrials, options.Metric));
                    TestHold.After("trial", p.Result!.Index, context.CancellationToken);
                }
            });
            return comparison.Run(configurations, data.Data, lines, context.CancellationToken);
        }

        var gate = new object();
        return new Progress(display.Console)
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .UseRenderHook((renderable, _) =>
            {
                lock (gate)
                {
                    return finished.Count == 0 ? renderable : new Rows(renderable, LeaderboardTable(finished, options.Metric));
                }
            })
            .Start(p =>
            {
                bool byTrials = options.MaxTrials is not null || configurations is IReadOnlyCollection<ComparisonConfiguration>;
                double budgetSeconds = options.TimeBudget?.TotalSeconds ?? 1;
                var overall = p.AddTask("trials", maxValue: byTrials ? (options.MaxTrials ?? int.MaxValue) : budgetSeconds);
                var current = p.AddTask("trial", maxValue: 1);
                var observer = new SyncProgress<ComparisonProgress>(report =>
                {
                    context.ComparisonObserver?.Invoke(report);
                    string limit = report.MaxTrials is int m ? $"/{m}" : "";
                    if (byTrials && report.MaxTrials is int max)
                    {
                        overall.MaxValue = max;
                    }

                    switch (report.Kind)
                    {
                        case ComparisonProgressKind.TrialStarted:
                            current.MaxValue = Math.Max(1, report.Runs * report.Epochs);
                            current.Value = 0;
                            current.Description = Markup.Escape($"trial {report.Trial}{limit}: {report.Configuration}");
                            break;
                        case ComparisonProgressKind.Epoch:
                            current.Value = ((report.Run - 1) * report.Epochs) + report.Epoch!.Epoch;
                            current.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                                $"trial {report.Trial}{limit}: {report.Configuration} (run {report.Run}/{report.Runs}, epoch {report.Epoch.Epoch}/{report.Epochs}, loss {report.Epoch.TrainLoss:F3})"));
                            break;
                        case ComparisonProgressKind.TrialFinished:
                            lock (gate)
                            {
                                finished.Add(report.Result!);
                            }

                            current.Value = current.MaxValue;
                            break;
                    }

                    overall.Description = Markup.Escape(options.TimeBudget is { } t
                        ? string.Create(CultureInfo.InvariantCulture, $"{finished.Count} trial(s) done, {report.Elapsed.TotalSeconds:F0} of {t.TotalSeconds:F0} s")
                        : $"{finished.Count} trial(s) done");
                    overall.Value = byTrials ? finished.Count : Math.Min(budgetSeconds, report.Elapsed.TotalSeconds);
                });
                var result = comparison.Run(configurations, data.Data, observer, context.CancellationToken);
                overall.Value = overall.MaxValue;
                current.Value = current.MaxValue;
                return result;
            });
    }

    private static void ShowLeaderboard(Display display, CliContext context, ComparisonResult result)
    {
        if (display.Json)
        {
            return;
        }

        if (display.Rich)
        {
            display.Console.Write(LeaderboardTable(result.Trials, result.Metric));
            display.Console.MarkupLine(Markup.Escape(LeaderboardLegend(result.Options)));
            return;
        }

        var table = new TextTable(Headers(result.Metric)) { FirstNumericColumn = 2 };
        foreach (var row in Rows(result.Trials, result.Metric))
        {
            table.Add(row);
        }

        context.Out.WriteLine($"Leaderboard (validation {MetricName(result.Metric)}, {Runs(result.Options)}):");
        context.Out.Write(table.ToString());
        context.Out.WriteLine(LeaderboardLegend(result.Options));
    }

    private static Table LeaderboardTable(IEnumerable<TrialResult> trials, RankingMetric metric)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"leaderboard by validation {MetricName(metric)}"));
        var headers = Headers(metric);
        table.AddColumn(headers[0]);
        table.AddColumn(headers[1]);
        foreach (string name in headers.Skip(2))
        {
            bool key = name.Equals(MetricName(metric), StringComparison.OrdinalIgnoreCase);
            table.AddColumn(new TableColumn(key ? $"[bold]{Markup.Escape(name)}[/]" : Markup.Escape(name)).RightAligned());
        }

        foreach (var row in Rows(trials, metric))
        {
            table.AddRow(row.Select(c => (IRenderable)new Text(c, row[0] != "-" ? Style.Plain : new Style(Color.Grey))).ToArray());
        }

        return table;
    }

    /// <summary>The leaderboard's columns: the ranking metric first (mean ± std), then the other two metrics, the
    /// generalization gap and the seconds; narrow enough for 80 columns (ECE is in the CSV, JSON and report).</summary>
    private static string[] Headers(RankingMetric metric) =>
        ["rank", "configuration", ColumnName(metric), .. new[] { RankingMetric.Accuracy, RankingMetric.LogLoss, RankingMetric.MacroF1 }.Where(m => m != metric).Select(ColumnName), "gap", "s"];

    private static string ColumnName(RankingMetric metric) => metric == RankingMetric.MacroF1 ? "macro-F1" : MetricName(metric);

    /// <summary>Lines under the table that say what its marks and columns mean.</summary>
    private static string LeaderboardLegend(ComparisonOptions options) =>
        $"{ColumnName(options.Metric)}: mean ± std over the runs; other columns: means; s: seconds.\n" +
        $"≈: within noise of the best ({(options.Validation == ValidationMethod.KFold ? "corrected resampled t-test" : "seed spread + binomial error")} at 5%).\n" +
        "gap: train minus validation accuracy, in percentage points.";

    /// <summary>Completed trials ranked by the metric (ties in run order), then the unranked ones in run order.</summary>
    private static IEnumerable<TrialResult> Ordered(IEnumerable<TrialResult> trials, RankingMetric metric)
    {
        var list = trials.ToList();
        bool higher = ComparisonOptions.HigherIsBetter(metric);
        return list.Where(t => t.Status == TrialStatus.Completed)
            .OrderBy(t => higher ? -t.Get(metric).Mean : t.Get(metric).Mean).ThenBy(t => t.Index)
            .Concat(list.Where(t => t.Status != TrialStatus.Completed));
    }

    /// <summary>Table cells of a trial: the ranking metric as mean ± std (the mean alone for one run), the other
    /// figures as means, three decimals; a long name is shortened to keep the table within 80 columns.</summary>
    private static string[] Row(TrialResult t, int rank, RankingMetric metric)
    {
        const int NameWidth = 24;
        string name = t.Name.Length <= NameWidth ? t.Name : t.Name[..(NameWidth - 1)] + "…";
        if (t.Status != TrialStatus.Completed)
        {
            string why = t.Status switch
            {
                TrialStatus.OutOfBudget => "interrupted by the time budget",
                TrialStatus.Cancelled => "cancelled",
                _ => $"failed: {t.Error}",
            };
            return ["-", $"{name} ({why})", "", "", "", "", F($"{t.Seconds:F1}")];
        }

        string marked = t.Rank > 1 && t.TiedWithBest ? $"≈{rank}" : rank.ToString(CultureInfo.InvariantCulture);
        return [marked, name, t.Get(metric).Format("F3"),
            .. new[] { RankingMetric.Accuracy, RankingMetric.LogLoss, RankingMetric.MacroF1 }.Where(m => m != metric).Select(m => F($"{t.Get(m).Mean:F3}")),
            F($"{t.GeneralizationGap.Mean * 100:F1}"), F($"{t.Seconds:F1}")];
    }

    /// <summary>Rows in leaderboard order with their ranks (0 for unranked trials). Trials of a comparison still
    /// running have no rank yet, so the live leaderboard shows no ≈ marks.</summary>
    private static IEnumerable<string[]> Rows(IEnumerable<TrialResult> trials, RankingMetric metric) =>
        Ordered(trials, metric).Select((t, i) => Row(t, i + 1, metric));

    private static string TrialLine(TrialResult t, int? maxTrials, RankingMetric metric) => t.Status == TrialStatus.Completed
        ? F($"trial {t.Index}{(maxTrials is int m ? $"/{m}" : "")}  {t.Name}: validation {MetricName(metric)} {t.Score.Format()}  ({t.Seconds:F1} s)")
        : F($"trial {t.Index}{(maxTrials is int n ? $"/{n}" : "")}  {t.Name}: {(t.Status == TrialStatus.Failed ? $"failed ({t.Error})" : t.Status == TrialStatus.Cancelled ? "cancelled" : "interrupted by the time budget")}  ({t.Seconds:F1} s)");

    /// <summary>For each configuration with max-norm whose model's weights never reach the bound: a note saying so,
    /// and naming the configuration without max-norm it then matches run for run.</summary>
    private static IEnumerable<string> MaxNormNotes(ComparisonResult result)
    {
        foreach (var t in result.Leaderboard)
        {
            if (t.Spec?.Training.MaxNorm is not float c || t.Model is null)
            {
                continue;
            }

            double largest = WeightNorms.LargestIncomingNorm(t.Model.Network);
            if (largest >= c * 0.999)
            {
                continue;
            }

            var twin = result.Leaderboard.FirstOrDefault(o => o != t && o.Spec is { } s && s.Training.MaxNorm is null && SameButMaxNorm(s, t.Spec)
                && o.Runs.Count == t.Runs.Count && o.Runs.Zip(t.Runs).All(p => p.First.Validation.LogLoss == p.Second.Validation.LogLoss));
            yield return F($"note: '{t.Name}': max-norm {c} never bound in its best run (largest incoming-weight norm {largest:F2} < {c})") +
                (twin is null ? "; it acts only when weights grow that large (a higher learning rate or a smaller bound)." : $", so it trained exactly like '{twin.Name}' (identical on every run).");
        }
    }

    private static bool SameButMaxNorm(ModelSpec a, ModelSpec b)
    {
        var x = a.Clone();
        var y = b.Clone();
        x.Name = y.Name = null;
        x.Training.MaxNorm = y.Training.MaxNorm = null;
        return x.ToJson() == y.ToJson();
    }

    private static void ValidateProtocol(ComparisonOptions o)
    {
        if (o.Validation == ValidationMethod.KFold && o.Folds < 2)
        {
            throw new UsageException($"--folds must be at least 2, got {o.Folds}.");
        }

        if (o.Repeats < 1)
        {
            throw new UsageException($"--repeats must be at least 1, got {o.Repeats}.");
        }

        if (o.Validation == ValidationMethod.Holdout && !(o.HoldoutFraction > 0 && o.HoldoutFraction < 1))
        {
            throw new UsageException(F($"--holdout must lie strictly between 0 and 1, got {o.HoldoutFraction}."));
        }

        if (o.Seeds < 1)
        {
            throw new UsageException($"--seeds must be at least 1, got {o.Seeds}.");
        }

        if (o.MaxTrials is < 1)
        {
            throw new UsageException($"--trials must be at least 1, got {o.MaxTrials}.");
        }

        o.Validate();
    }

    private static string LeaderboardCsv(ComparisonResult result)
    {
        var csv = new StringBuilder("rank,configuration,status,accuracy,accuracy_std,log_loss,log_loss_std,macro_f1,macro_f1_std,ece,ece_std,train_accuracy,gap_points,within_noise_of_best,runs,seconds,description\n");
        foreach (var t in Ordered(result.Trials, result.Metric))
        {
            string N(double v) => double.IsFinite(v) ? v.ToString("G6", CultureInfo.InvariantCulture) : "";
            csv.AppendJoin(',',
                t.Rank == 0 ? "" : t.Rank.ToString(CultureInfo.InvariantCulture), Quote(t.Name), JsonNaming(t.Status),
                N(t.Accuracy.Mean), N(t.Accuracy.StdDev), N(t.LogLoss.Mean), N(t.LogLoss.StdDev), N(t.MacroF1.Mean), N(t.MacroF1.StdDev),
                N(t.CalibrationError.Mean), N(t.CalibrationError.StdDev), N(t.TrainAccuracy.Mean), N(t.GeneralizationGap.Mean * 100),
                t.Status == TrialStatus.Completed ? (t.TiedWithBest ? "true" : "false") : "",
                t.Runs.Count.ToString(CultureInfo.InvariantCulture), N(t.Seconds), Quote(t.Spec?.Describe() ?? "")).Append('\n');
        }

        return csv.ToString();
    }

    private static object TrialJson(TrialResult t) => new
    {
        rank = t.Rank == 0 ? (int?)null : t.Rank,
        name = t.Name,
        status = t.Status,
        error = t.Error,
        description = t.Spec?.Describe(),
        accuracy = JsonOutput.Summary(t.Accuracy),
        logLoss = JsonOutput.Summary(t.LogLoss),
        macroF1 = JsonOutput.Summary(t.MacroF1),
        expectedCalibrationError = JsonOutput.Summary(t.CalibrationError),
        trainAccuracy = JsonOutput.Summary(t.TrainAccuracy),
        generalizationGap = JsonOutput.Summary(t.GeneralizationGap),
        withinNoiseOfBest = t.Status == TrialStatus.Completed ? t.TiedWithBest : (bool?)null,
        versusBest = t.VersusBest is { } v ? new { difference = v.Difference, standardError = v.StandardError, criticalValue = v.CriticalValue, method = v.Method } : null,
        runs = t.Runs.Count,
        seconds = t.Seconds,
    };

    private static string JsonNaming(TrialStatus s) => s switch
    {
        TrialStatus.OutOfBudget => "outOfBudget",
        _ => s.ToString().ToLowerInvariant(),
    };

    private static string Runs(ComparisonOptions o) => o.Validation == ValidationMethod.KFold
        ? $"{o.RunsPerConfiguration} runs: {o.Seeds} seed(s) × {o.Folds} folds{(o.Repeats > 1 ? $" × {o.Repeats} repeats" : "")}"
        : $"{o.Seeds} run(s) on a {o.DescribeValidation()}";

    public static string MetricName(RankingMetric metric) => metric switch
    {
        RankingMetric.LogLoss => "log-loss",
        RankingMetric.MacroF1 => "macro-f1",
        _ => "accuracy",
    };

    private static string Quote(string cell) =>
        cell.IndexOfAny([',', '"', '\n', '\r']) < 0 ? cell : $"\"{cell.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
