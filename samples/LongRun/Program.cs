// The long-run tables of docs/RESULTS.md: one model family on Fashion-MNIST trained with each regularizer until early
// stopping or the learning-rate schedule ends it, with several seeds. Every run is scored on the test set and written to
// a JSON-lines results file the moment it finishes; running the same command again skips the runs the file already
// holds with the same settings, so an interrupted sweep continues where it stopped. At the end the sample prints a
// markdown table of every run in the file (mean ± sample standard deviation over the seeds) and writes the HTML report
// of this invocation's first seed (learning curves, generalization gaps, reliability diagram of the best).
//
//   dotnet run -c Release --project samples/LongRun -- --family cnn --limit 1000 --epochs 2    # a quick look (committed subset)
//
// docs/RESULTS.md lists the full-data commands; they set every option, so their rows stay reproducible when defaults
// change. Options:
//   --family mlp|cnn          MLP 784-1024-1024-10, or the samples' CNN conv32-pool-conv64-pool-dense128-dense10
//   --data DIR                the four Fashion-MNIST IDX files (default: the committed 5,000/1,000 subset)
//   --limit N                 only the first N training images
//   --only a,b                configurations by key (default: all of the family; keys below)
//   --seeds 1,2,3             training seeds; each seed also draws its own stratified validation split (default 1)
//   --epochs N                at most N epochs (default 50)
//   --patience N              early stopping after N epochs without a lower validation loss, best epoch kept; 0: off (default 10)
//   --schedule cosine|constant  learning-rate schedule over --epochs (default cosine)
//   --lr X, --batch-size N    Adam's learning rate (default 0.001) and the mini-batch (default 128)
//   --normalization none|minmax|standard   fitted on the training part (default none: the reader scales pixels to [0, 1])
//   --validation F            fraction of the training images held out for early stopping (default 0.1)
//   --threads N               kernel threads (default: all cores; the results do not depend on it)
//   --results FILE            JSON lines, one per run (default long-run-results.jsonl)
//   --report FILE             the HTML report (default long-run-report.html)
//   --summarize               only print the table of the results file (no training)
//
// The learning-curve figures beside docs/RESULTS.md come from the results file (Debian python3-matplotlib):
//   /usr/bin/python3 samples/LongRun/plot_curves.py docs/results/mlp.jsonl docs/results/mlp-curves.png
// DropConnect with a mask per example ('dropconnect-example') draws a fresh mask over every weight for every image:
// about 10 images/s on the 2-core machine at load 7–12, some 90 minutes per full-data epoch, so the full-data table leaves it out.
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;

var options = Arguments.Parse(args);
bool images = options.Family == "cnn";
var family = images ? Families.Cnn() : Families.Mlp();
var unknown = options.Only?.Where(k => family.All(c => c.Key != k)).ToList();
if (unknown is { Count: > 0 })
{
    throw new ArgumentException($"--only: no {options.Family} configuration is called {string.Join(", ", unknown)}; the keys are {string.Join(", ", family.Select(c => c.Key))}.");
}

if (options.Summarize)
{
    Console.WriteLine(RunLog.Read(options.Results).MarkdownTable(options.Family, family));
    return;
}

var chosen = family.Where(c => options.Only is null || options.Only.Contains(c.Key)).ToList();
var (train, test) = SampleData.LoadFashionMnist(options.DataDirectory ?? SampleData.FindFashionMnistSmall(), asImages: images, trainLimit: options.Limit);
Console.WriteLine($"Fashion-MNIST: {train.Count:N0} training images ({options.Validation:P0} held out per seed for early stopping) and {test.Count:N0} test images; " +
                  $"{options.Family}, {chosen.Count} configuration(s) x seeds {string.Join(",", options.Seeds)}; {options.Describe()}; " +
                  $"{Environment.ProcessorCount} cores, Vector512 {(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "yes" : "no")}.");
Console.WriteLine();

var firstSeed = new List<MeasuredTrial>();
var sweep = Stopwatch.StartNew();
int fitCount = 0;
foreach (int seed in options.Seeds)
{
    // The split depends on the seed, so the spread over seeds includes the choice of validation images.
    var (fit, validation) = DataSplit.StratifiedSplit(train, options.Validation, seed);
    fitCount = fit.Count;
    foreach (var configuration in chosen)
    {
        var trainer = options.Trainer(seed, configuration.MaxNorm);
        var network = configuration.Build();
        string settings = $"{network.Describe()}; {options.Describe()}; max-norm={configuration.MaxNorm?.ToString(CultureInfo.InvariantCulture) ?? "off"}; train={fit.Count}, validation={validation.Count}, test={test.Count}";
        if (RunLog.Read(options.Results).Find(options.Family, configuration.Key, seed, settings) is { } done)
        {
            Console.WriteLine($"{configuration.Key} seed {seed}: already in {options.Results} ({done.TestAccuracy:P2}), skipped.");
            continue;
        }

        double loadBefore = RunLog.LoadAverage();
        var clock = Stopwatch.StartNew();
        var model = new Trainer(trainer).Fit(network, fit, validation, new EpochLine($"{options.Family}/{configuration.Key} seed {seed}", options.Epochs));
        double seconds = clock.Elapsed.TotalSeconds;
        var testMetrics = Metrics.Evaluate(model, test);
        var (trainLoss, trainAccuracy) = model.Evaluate(fit);
        var history = model.History;
        var run = new RunRecord(
            options.Family, configuration.Key, configuration.Name, seed, settings,
            testMetrics.Accuracy, testMetrics.LogLoss, testMetrics.ExpectedCalibrationError, testMetrics.MacroF1,
            trainAccuracy, trainLoss, trainAccuracy - testMetrics.Accuracy,
            history.ModelEpoch, history.Epochs.Count, history.StopReason.ToString(),
            seconds, (double)fit.Count * history.Epochs.Count / history.TotalSeconds,
            loadBefore, RunLog.LoadAverage(), DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture), options.Threads,
            history.Epochs.Select(e => e.ValidationLoss ?? double.NaN).ToArray(), history.Epochs.Select(e => e.TrainLoss).ToArray());
        RunLog.Append(options.Results, run);
        Console.WriteLine(run.Line());

        if (seed == options.Seeds[0])
        {
            firstSeed.Add(new MeasuredTrial(configuration.Name, testMetrics, trainAccuracy, seconds) { History = history, Model = model });
            HtmlReport.Write(
                ComparisonResult.FromMeasurements(firstSeed, RankingMetric.Accuracy, "test", $"seed {seed}; {options.Describe()}; the model of the epoch with the lowest validation loss is scored", fit.Count, test.Count, sweep.Elapsed, SampleData.FashionMnistClassNames),
                options.Report,
                new HtmlReportOptions
                {
                    Title = $"Long run: Fashion-MNIST {(images ? "CNN conv32-conv64-dense128" : "MLP 784-1024-1024-10")}, seed {seed}",
                    DataDescription = $"{train.Count:N0} training images ({fit.Count:N0} to train, {validation.Count:N0} to validate), {test.Count:N0} test images",
                });
        }
    }
}

Console.WriteLine();
Console.WriteLine($"Every {options.Family} run in {options.Results} (mean ± sample standard deviation over the seeds; runs with other settings are listed separately):");
Console.WriteLine();
Console.WriteLine(RunLog.Read(options.Results).MarkdownTable(options.Family, family));
Console.WriteLine();
Console.WriteLine($"gap = accuracy on the {fitCount:N0} training images minus test accuracy, both in inference mode; best epoch = the epoch of the lowest validation loss, whose weights are scored; " +
                  $"wall time and samples/s cover training and the validation pass of every epoch. Report of seed {options.Seeds[0]}: {Path.GetFullPath(options.Report)}");

/// <summary>One regularization setting of a family: its key on the command line, its name in the tables, the
/// network, and Srivastava et al.'s max-norm constraint where the setting uses it.</summary>
internal sealed record Configuration(string Key, string Name, Func<Network> Build, float? MaxNorm = null);

/// <summary>The two model families of docs/RESULTS.md.</summary>
internal static class Families
{
    private const int Hidden = 1024;

    /// <summary>MLP 784-1024-1024-10 (ReLU) with each fully connected regularizer; rates 0.2 on the input and 0.5 on the
    /// hidden units, Srivastava et al.'s choice for MNIST, and a milder 0.2 on the hidden units alone, which needs
    /// fewer epochs to converge.</summary>
    public static IReadOnlyList<Configuration> Mlp()
    {
        static Network Dropout(Func<float, Layer> drop) => Network.Sequential(
            drop(0.2f), new Dense(Hidden), new ReLU(), drop(0.5f), new Dense(Hidden), new ReLU(), drop(0.5f), new Dense(10));
        static Network DropConnect(DropConnectMaskMode mode) => Network.Sequential(
            new DropConnectDense(Hidden, 0.5f, mode), new ReLU(), new DropConnectDense(Hidden, 0.5f, mode), new ReLU(), new Dense(10));
        static Network BatchNorm(bool dropout) => Network.Sequential(
        [
            new Dense(Hidden), new BatchNorm(), new ReLU(), .. dropout ? new Layer[] { new Dropout(0.5f) } : [],
            new Dense(Hidden), new BatchNorm(), new ReLU(), .. dropout ? new Layer[] { new Dropout(0.5f) } : [],
            new Dense(10),
        ]);
        return
        [
            new("none", "none", () => Network.Sequential(new Dense(Hidden), new ReLU(), new Dense(Hidden), new ReLU(), new Dense(10))),
            new("dropout", "dropout 0.2/0.5", () => Dropout(p => new Dropout(p))),
            new("dropout-0.2", "dropout 0.2 (hidden only)", () => Network.Sequential(
                new Dense(Hidden), new ReLU(), new Dropout(0.2f), new Dense(Hidden), new ReLU(), new Dropout(0.2f), new Dense(10))),
            new("dropout-maxnorm", "dropout 0.2/0.5 + max-norm 3", () => Dropout(p => new Dropout(p)), MaxNorm: 3f),
            new("gaussian", "Gaussian dropout 0.2/0.5", () => Dropout(p => new GaussianDropout(p))),
            new("dropconnect", "DropConnect 0.5, mask per mini-batch", () => DropConnect(DropConnectMaskMode.PerMiniBatch)),
            new("dropconnect-example", "DropConnect 0.5, mask per example", () => DropConnect(DropConnectMaskMode.PerExample)),
            new("batchnorm", "batch norm", () => BatchNorm(dropout: false)),
            new("batchnorm-dropout", "batch norm + dropout 0.5", () => BatchNorm(dropout: true)),
        ];
    }

    /// <summary>The CNN of samples/CnnComparison (conv → [BN] → ReLU → [regularizer] → max-pool, twice, then
    /// dense 128 → ReLU → [dropout 0.5] → dense 10) with each convolutional regularizer.</summary>
    public static IReadOnlyList<Configuration> Cnn()
    {
        static Layer[] Block(int filters, bool batchNorm, Func<Layer>? after, float dropConnect) =>
        [
            dropConnect > 0 ? new DropConnectConv2D(filters, 3, dropConnect, padding: "same") : new Conv2D(filters, 3, padding: "same", useBias: !batchNorm),
            .. batchNorm ? new Layer[] { new BatchNorm() } : [],
            new ReLU(),
            .. after is null ? Array.Empty<Layer>() : [after()],
            new MaxPool2D(2),
        ];
        static Network Cnn(bool batchNorm = false, Func<Layer>? afterConv = null, bool dropout = false, bool cutout = false, float dropConnect = 0) => Network.Sequential(
        [
            .. cutout ? new Layer[] { new Cutout(10) } : [],
            .. Block(32, batchNorm, afterConv, dropConnect),
            .. Block(64, batchNorm, afterConv, dropConnect),
            new Flatten(), new Dense(128), new ReLU(), .. dropout ? new Layer[] { new Dropout(0.5f) } : [], new Dense(10),
        ]);
        return
        [
            new("none", "none", () => Cnn()),
            new("dropout", "dropout 0.5", () => Cnn(dropout: true)),
            new("spatial", "spatial dropout 0.2", () => Cnn(afterConv: () => new SpatialDropout2D(0.2f))),
            new("bn-dropout", "BN + dropout 0.5", () => Cnn(batchNorm: true, dropout: true)),
            new("cutout", "Cutout 10px", () => Cnn(cutout: true)),
            new("dropblock", "DropBlock 0.1, 3x3", () => Cnn(afterConv: () => new DropBlock(0.1f, 3))),
            new("dropconnect", "DropConnectConv2D 0.2", () => Cnn(dropConnect: 0.2f)),
            new("bn-dropout-cutout", "BN + dropout 0.5 + Cutout 10px", () => Cnn(batchNorm: true, dropout: true, cutout: true)),
        ];
    }
}

/// <summary>What one finished run measured: a line of the results file.</summary>
internal sealed record RunRecord(
    string Family, string Key, string Name, int Seed, string Settings,
    double TestAccuracy, double TestLogLoss, double TestEce, double TestMacroF1,
    double TrainAccuracy, double TrainLoss, double Gap,
    int BestEpoch, int EpochsRun, string StopReason,
    double Seconds, double SamplesPerSecond,
    double LoadBefore, double LoadAfter, string Finished, int Threads,
    double[] ValidationLoss, double[] TrainingLoss)
{
    /// <summary>The run as one console line.</summary>
    public string Line() => string.Create(CultureInfo.InvariantCulture,
        $"{Key} seed {Seed}: test {TestAccuracy:P2}, log-loss {TestLogLoss:F4}, ECE {TestEce:F4}, train {TrainAccuracy:P2}, gap {Gap * 100:F2} pt, " +
        $"best epoch {BestEpoch}/{EpochsRun} ({StopReason}), {Seconds / 60:F1} min, {SamplesPerSecond:N0} samples/s, load {LoadBefore:F1} -> {LoadAfter:F1}");
}

/// <summary>The results file: every finished run, one JSON object per line. Several processes may share it (say, one
/// per family or per seed): each run is added under a lock file by reading the file again and rewriting it whole
/// (temporary file, then rename), so a reader never sees half a line and no process drops another's runs.</summary>
internal sealed class RunLog
{
    private static readonly JsonSerializerOptions Json = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };
    private readonly List<RunRecord> _runs;

    private RunLog(List<RunRecord> runs) => _runs = runs;

    /// <summary>Reads the file, or starts an empty log when it does not exist.</summary>
    public static RunLog Read(string path)
    {
        if (!File.Exists(path))
        {
            return new RunLog([]);
        }

        var runs = new List<RunRecord>();
        int number = 0;
        foreach (string line in File.ReadLines(path))
        {
            number++;
            if (line.Length > 0)
            {
                runs.Add(JsonSerializer.Deserialize<RunRecord>(line, Json) ?? throw new InvalidDataException($"{path} line {number} is not a run."));
            }
        }

        return new RunLog(runs);
    }

    /// <summary>Adds a finished run to the file.</summary>
    public static void Append(string path, RunRecord run)
    {
        using var held = Lock(path + ".lock");
        var log = Read(path);
        log._runs.Add(run);
        AtomicFile.WriteAllText(path, string.Concat(log._runs.Select(r => JsonSerializer.Serialize(r, Json) + "\n")));
    }

    /// <summary>The 1-minute load average (Linux), or NaN where /proc/loadavg does not exist.</summary>
    public static double LoadAverage() => File.Exists("/proc/loadavg")
        && double.TryParse(File.ReadAllText("/proc/loadavg").Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double load) ? load : double.NaN;

    /// <summary>The run of a configuration and seed with exactly these settings, or null.</summary>
    public RunRecord? Find(string family, string key, int seed, string settings) =>
        _runs.LastOrDefault(r => r.Family == family && r.Key == key && r.Seed == seed && r.Settings == settings);

    private static FileStream Lock(string path)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException) when (attempt < 600)
            {
                Thread.Sleep(100);
            }
        }
    }

    /// <summary>One row per configuration and settings, in the family's order: mean ± sample standard deviation over
    /// the seeds (a single seed shows its value alone).</summary>
    public string MarkdownTable(string family, IReadOnlyList<Configuration> order)
    {
        var table = new StringBuilder("| configuration (`--only`) | seeds | test accuracy | test log-loss | ECE | train–test gap | best epoch / run | wall time | samples/s | load |\n")
            .Append("|---|---|---|---|---|---|---|---|---|---|\n");
        var groups = _runs.Where(r => r.Family == family)
            .GroupBy(r => (r.Key, r.Settings))
            .OrderBy(g => order.ToList().FindIndex(c => c.Key == g.Key.Key))
            .ThenBy(g => g.Min(r => r.Finished), StringComparer.Ordinal);
        foreach (var g in groups)
        {
            var rows = g.OrderBy(r => r.Seed).ToList();
            string Cell(Func<RunRecord, double> value, string format, double scale = 1)
            {
                var s = MetricSummary.Of(rows.Select(r => value(r) * scale).ToArray());
                return rows.Count == 1 ? s.Mean.ToString(format, CultureInfo.InvariantCulture) : s.Format(format);
            }

            table.Append(CultureInfo.InvariantCulture, $"| {rows[0].Name} (`{rows[0].Key}`) | {string.Join(",", rows.Select(r => r.Seed))} | {Cell(r => r.TestAccuracy, "F2", 100)} % | {Cell(r => r.TestLogLoss, "F4")} | ")
                .Append(CultureInfo.InvariantCulture, $"{Cell(r => r.TestEce, "F4")} | {Cell(r => r.Gap, "F2", 100)} pt | {string.Join(", ", rows.Select(r => $"{r.BestEpoch}/{r.EpochsRun}"))} | ")
                .Append(CultureInfo.InvariantCulture, $"{Cell(r => r.Seconds, "F1", 1 / 60.0)} min | {Cell(r => r.SamplesPerSecond, "F0")} | {rows.Min(r => Math.Min(r.LoadBefore, r.LoadAfter)):F0}–{rows.Max(r => Math.Max(r.LoadBefore, r.LoadAfter)):F0} |\n");
        }

        return table.ToString().TrimEnd();
    }
}

/// <summary>One line on stderr per epoch (a full-data run takes a while).</summary>
internal sealed class EpochLine(string run, int epochs) : IProgress<EpochRecord>
{
    public void Report(EpochRecord e) => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"  {run} epoch {e.Epoch}/{epochs}: train loss {e.TrainLoss:F4}, validation loss {e.ValidationLoss:F4}, validation accuracy {e.ValidationAccuracy:P2}, lr {e.LearningRate:G3}, {e.Seconds:F1} s"));
}

/// <summary>Command-line options of the sample.</summary>
internal sealed record Arguments(
    string Family, string? DataDirectory, int? Limit, string[]? Only, int[] Seeds, int Epochs, int Patience, string Schedule, float LearningRate,
    int BatchSize, NormalizationKind Normalization, double Validation, int Threads, string Results, string Report, bool Summarize)
{
    /// <summary>Everything that decides a run's outcome except the seed and the network, as one line.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"Adam lr {LearningRate}, {Schedule} schedule, batch {BatchSize}, at most {Epochs} epochs, patience {(Patience == 0 ? "off" : Patience)}, normalization {Normalization}, validation {Validation}");

    /// <summary>The trainer settings of one run.</summary>
    public TrainerOptions Trainer(int seed, float? maxNorm) => new()
    {
        Epochs = Epochs,
        BatchSize = BatchSize,
        Seed = seed,
        Optimizer = new Adam { LearningRate = LearningRate },
        Schedule = Schedule == "cosine" ? new CosineDecay() : null,
        EarlyStoppingPatience = Patience == 0 ? null : Patience,
        Normalization = Normalization,
        MaxNorm = maxNorm,
        MaxThreads = Threads,
    };

    public static Arguments Parse(string[] args)
    {
        var result = new Arguments("", null, null, null, [1], 50, 10, "cosine", 1e-3f, 128, NormalizationKind.None, 0.1, Environment.ProcessorCount, "long-run-results.jsonl", "long-run-report.html", false);
        for (int i = 0; i < args.Length; i++)
        {
            string option = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"option {option} needs a value.");
            int Int(int min)
            {
                string text = Value();
                return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min ? v : throw new ArgumentException($"option {option} needs an integer of at least {min}, got '{text}'.");
            }

            double Number(double min, double max)
            {
                string text = Value();
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > min && v < max ? v : throw new ArgumentException($"option {option} needs a number in ({min}, {max}), got '{text}'.");
            }

            string Choice(params string[] choices)
            {
                string text = Value();
                return choices.Contains(text) ? text : throw new ArgumentException($"option {option} is one of {string.Join(", ", choices)}, got '{text}'.");
            }

            result = option switch
            {
                "--family" => result with { Family = Choice("mlp", "cnn") },
                "--data" => result with { DataDirectory = Value() },
                "--limit" => result with { Limit = Int(1) },
                "--only" => result with { Only = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                "--seeds" => result with { Seeds = Value().Split(',', StringSplitOptions.TrimEntries).Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 0 ? v : throw new ArgumentException($"option --seeds takes non-negative integers separated by commas, got '{s}'.")).Distinct().ToArray() },
                "--epochs" => result with { Epochs = Int(1) },
                "--patience" => result with { Patience = Int(0) },
                "--schedule" => result with { Schedule = Choice("cosine", "constant") },
                "--lr" => result with { LearningRate = (float)Number(0, 1) },
                "--batch-size" => result with { BatchSize = Int(1) },
                "--normalization" => result with { Normalization = Choice("none", "minmax", "standard") switch { "minmax" => NormalizationKind.MinMax, "standard" => NormalizationKind.Standard, _ => NormalizationKind.None } },
                "--validation" => result with { Validation = Number(0, 1) },
                "--threads" => result with { Threads = Int(1) },
                "--results" => result with { Results = Value() },
                "--report" => result with { Report = Value() },
                "--summarize" => result with { Summarize = true },
                _ => throw new ArgumentException($"unknown option '{option}'; use --family, --data, --limit, --only, --seeds, --epochs, --patience, --schedule, --lr, --batch-size, --normalization, --validation, --threads, --results, --report, --summarize."),
            };
        }

        return result.Family.Length == 0 ? throw new ArgumentException("--family mlp or --family cnn is required.") : result;
    }
}
