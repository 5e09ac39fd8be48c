// Learned and Bayesian dropout on Fashion-MNIST: LeNet-300-100 (784-300-100-10, ReLU) trained with each method next to
// plain dropout — fast dropout, variational dropout, sparse variational dropout, concrete dropout, Standout, structured
// Bayesian pruning and DropConnect (scored with its mean rule and with Gaussian moment matching) — through the
// comparison API (10% of the training images held out for validation). Prints, per method, the test accuracy and
// log-loss of deterministic inference, of Monte Carlo prediction (accuracy, log-loss and expected calibration error),
// what the method learned and the fraction of weights its inference network keeps; then what structured Bayesian pruning
// removes and how fast the smaller network infers. Writes the HTML report (leaderboard, learning curves, and the learned
// rates and sparsity per layer).
//
//   dotnet run -c Release --project samples/BayesianDropout                                   # committed 5,000/1,000 subset, 20 epochs
//   dotnet run -c Release --project samples/BayesianDropout -- --data /work/shared/data/fashion-mnist --epochs 30 --only dropout,sparse,concrete
//
// Options: --data DIR (the four Fashion-MNIST IDX files), --epochs N (default 20), --batch N, --only m1,m2 (none, dropout, fast, variational,
// sparse, concrete, standout, sbp, dropconnect), --mc-samples T, --warmup N (KL warm-up epochs), --sbp-log-sigma S
// (structured Bayesian pruning's starting log σ), --seed N, --threads N, --report FILE, --export DIR (ONNX models).
using System.Diagnostics;
using System.Globalization;
using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;
using MLNet.Regularization.Uncertainty;

Arguments o;
try
{
    o = Arguments.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"BayesianDropout: {e.Message}");
    return 2;
}

var (train, test) = o.DataDirectory is null ? SampleData.LoadFashionMnistSmall() : SampleData.LoadFashionMnist(o.DataDirectory);
var trainer = new TrainerOptions { Epochs = o.Epochs, BatchSize = o.Batch, MaxThreads = o.Threads, Optimizer = new Adam { LearningRate = 1e-3f } };
Console.WriteLine($"Fashion-MNIST: {train.Count:N0} training images (10% held out for validation), {test.Count:N0} test images; LeNet-300-100, Adam 1e-3, " +
                  $"batch {o.Batch}, {o.Epochs} epochs, KL warm-up {o.Warmup} epochs, seed {o.Seed}, {o.Threads} threads, GEMM path {GemmInfo.Path}; Monte Carlo with {o.McSamples} samples.");
Console.WriteLine();

var methods = new (string Key, string Name, Func<Network> Network)[]
{
    ("none", "no regularization", () => Network.Sequential(new Dense(300), new ReLU(), new Dense(100), new ReLU(), new Dense(10))),
    ("dropout", "dropout 0.2/0.5", () => Network.Sequential(new Dropout(0.2f), new Dense(300), new ReLU(), new Dropout(0.5f), new Dense(100), new ReLU(), new Dropout(0.5f), new Dense(10))),
    ("fast", "fast dropout 0.2/0.5", () => Network.Sequential(new FastDropoutDense(300, 0.2f), new FastDropoutDense(100, 0.5f), new FastDropoutDense(10, 0.5f, FastDropoutActivation.Linear))),
    ("variational", "variational dropout", () => Network.Sequential(
        new VariationalDense(300, klWarmupEpochs: o.Warmup), new ReLU(), new VariationalDense(100, klWarmupEpochs: o.Warmup), new ReLU(), new VariationalDense(10, klWarmupEpochs: o.Warmup))),
    ("sparse", "sparse variational dropout", () => Network.Sequential(
        new SparseVariationalDense(300, klWarmupEpochs: o.Warmup), new ReLU(), new SparseVariationalDense(100, klWarmupEpochs: o.Warmup), new ReLU(), new SparseVariationalDense(10, klWarmupEpochs: o.Warmup))),
    ("concrete", "concrete dropout", () => Network.Sequential(
        new ConcreteDropout(), new Dense(300), new ReLU(), new ConcreteDropout(), new Dense(100), new ReLU(), new ConcreteDropout(), new Dense(10))),
    ("standout", "Standout", () => Network.Sequential(new StandoutDense(300), new StandoutDense(100), new Dense(10))),
    ("sbp", "structured Bayesian pruning", () => Network.Sequential(
        new StructuredBayesianPruning(klWarmupEpochs: o.Warmup, initialLogSigma: o.SbpLogSigma), new Dense(300), new ReLU(),
        new StructuredBayesianPruning(klWarmupEpochs: o.Warmup, initialLogSigma: o.SbpLogSigma), new Dense(100), new ReLU(),
        new StructuredBayesianPruning(klWarmupEpochs: o.Warmup, initialLogSigma: o.SbpLogSigma), new Dense(10))),
    ("dropconnect", "DropConnect 0.5", () => DropConnectNetwork(DropConnectInference.ExpectedWeights)),
}.Where(m => o.Only is null || o.Only.Contains(m.Key)).ToList();

var comparison = new Comparison(new ComparisonOptions { Validation = ValidationMethod.Holdout, HoldoutFraction = 0.1, Seed = o.Seed });
var result = comparison.Run(methods.Select(m => new ComparisonConfiguration(m.Name, m.Network, trainer)), train, new ConsoleProgress(methods.Count));

const string Row = "{0,-32} {1,8} {2,9} {3,8} {4,9} {5,7} {6,7} {7,9} {8,7}  {9}";
Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, "method", "test acc", "log-loss", "MC acc", "MC loss", "MC ECE", "ECE", "weights", "seconds", "learned"));
Console.WriteLine(new string('-', 140));
var models = new Dictionary<string, TrainedModel>();
foreach (var trial in result.Trials)
{
    if (trial.Model is not { } model)
    {
        Console.WriteLine($"{trial.Name,-32} {trial.Status}: {trial.Error}");
        continue;
    }

    models[trial.Name] = model;
    PrintRow(trial.Name, model, trial.Seconds);
    if (trial.Name.StartsWith("DropConnect", StringComparison.Ordinal))
    {
        // The same trained weights scored with Wan et al.'s own inference rule.
        var gaussian = WithGaussianInference(model);
        models[trial.Name + ", Gaussian inference"] = gaussian;
        PrintRow("  same weights, Gaussian inference", gaussian, 0);
    }
}

HtmlReport.Write(result, o.Report, new HtmlReportOptions
{
    Title = "Learned and Bayesian dropout: LeNet-300-100 on Fashion-MNIST",
    DataDescription = $"{train.Count:N0} training images ({result.TrainCount:N0} to train, {result.ValidationCount:N0} to validate), {test.Count:N0} test images, 784 features, 10 classes",
});
Console.WriteLine();
Console.WriteLine("test acc / log-loss: deterministic inference; MC: mean of the Monte Carlo passes (dropout, masks and noise on; for fast dropout");
Console.WriteLine("the Gaussian sampled); ECE: expected calibration error over 15 bins; weights: share of the weights the inference network keeps.");
Console.WriteLine("MC loss clips each probability at 1e-7, the deterministic log-loss is the trainer's exact one: compare MC losses with each other.");

if (models.TryGetValue("structured Bayesian pruning", out var full))
{
    var shrunk = BayesianPruning.Shrink(full.Network);
    var small = new TrainedModel(shrunk.Network, full.Normalizer, full.History, full.Task, full.ClassCount, full.TargetSize, full.ClassNames, full.Seed, full.TrainingSettings);
    var input = full.Network.Layers.OfType<StructuredBayesianPruning>().First();
    Console.WriteLine();
    Console.WriteLine($"structured Bayesian pruning: input features {input.Kept().Count(k => k)}/{input.Units} kept (masked), hidden units " +
                      $"{string.Join("-", shrunk.Layers.Select(l => l.UnitsBefore))} -> {string.Join("-", shrunk.Layers.Select(l => l.Kept.Length))}, " +
                      $"weights {NetworkSparsity.PerLayer(full.InferenceNetwork).Sum(l => l.Weights):N0} -> {NetworkSparsity.PerLayer(small.InferenceNetwork).Sum(l => l.Remaining):N0} non-zero");
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  test accuracy: full {100 * full.Evaluate(test).Accuracy:F2}%, smaller network {100 * small.Evaluate(test).Accuracy:F2}%"));
    foreach (int batch in new[] { 1, Math.Min(1024, test.Count) })
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  C# inference, batch {batch}: full {SamplesPerSecond(full, test, batch):N0} samples/s, smaller {SamplesPerSecond(small, test, batch):N0} samples/s"));
    }

    if (o.Export is { } folder)
    {
        Directory.CreateDirectory(folder);
        OnnxExporter.Export(full, Path.Combine(folder, "sbp-full.onnx"));
        OnnxExporter.Export(small, Path.Combine(folder, "sbp-shrunk.onnx"));
    }
}

if (o.Export is { } exportFolder && models.TryGetValue("sparse variational dropout", out var sparse))
{
    Directory.CreateDirectory(exportFolder);
    OnnxExporter.Export(sparse, Path.Combine(exportFolder, "sparse-vd.onnx"), new OnnxExportOptions { SparseWeights = true });
    if (models.TryGetValue("dropout 0.2/0.5", out var plain))
    {
        OnnxExporter.Export(plain, Path.Combine(exportFolder, "dropout.onnx"));
    }

    Console.WriteLine($"ONNX models written to {Path.GetFullPath(exportFolder)}");
}

Console.WriteLine($"Report: {Path.GetFullPath(o.Report)}");
return 0;

void PrintRow(string name, TrainedModel model, double seconds)
{
    var (loss, accuracy) = model.Evaluate(test);
    var labels = test.Labels!;
    var deterministic = model.PredictProbabilities(test.Features);
    var mc = model.PredictWithUncertainty(test.Features, o.McSamples, o.Seed);
    var mcLabels = mc.PredictedLabels();
    double mcAccuracy = mcLabels.Zip(labels, (a, b) => a == b ? 1.0 : 0.0).Average();
    double mcLoss = -Enumerable.Range(0, labels.Length).Average(i => Math.Log(Math.Max(mc.MeanProbabilities[i * 10 + labels[i]], 1e-7)));
    double mcEce = Calibration.ExpectedCalibrationError(mc.MeanProbabilities, labels, 10);
    double ece = Calibration.ExpectedCalibrationError(deterministic, labels, 10);
    double kept = NetworkSparsity.FractionRemaining(model.InferenceNetwork);
    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, name, $"{100 * accuracy:F2}%", $"{loss:F4}", $"{100 * mcAccuracy:F2}%", $"{mcLoss:F4}",
        $"{mcEce:F4}", $"{ece:F4}", $"{100 * kept:0.##}%", seconds > 0 ? $"{seconds:F1}" : "", LearnedText(model.Network)));
}

static string LearnedText(Network network)
{
    var parts = LearnedNoise.Of(network).Select(l => l.Summary).Select(s => s.Method switch
    {
        "concrete dropout" => F($"p={s.Mean:0.###}"),
        "variational dropout" => F($"rate {s.Mean:0.###}"),
        "sparse variational dropout" => F($"{100 * s.FractionOfWeightsKept:0.##}% kept"),
        "structured Bayesian pruning" => F($"{s.UnitsKept}/{s.Units} units"),
        "Standout" => s.Details.Split(';')[0] is var beta ? F($"α={s.Mean:0.##}, {beta}") : "",
        _ => s.Describe(),
    }).ToList();
    return parts.Count == 0 ? "–" : string.Join(" | ", parts);
}

static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

static Network DropConnectNetwork(DropConnectInference inference) => Network.Sequential(
    new DropConnectDense(300, 0.5f, inference: inference), new ReLU(), new DropConnectDense(100, 0.5f, inference: inference), new ReLU(), new Dense(10));

static TrainedModel WithGaussianInference(TrainedModel model)
{
    var network = DropConnectNetwork(DropConnectInference.GaussianMomentMatching).Build(model.InputShape, 0);
    network.CopyValuesFrom(model.Network);
    return new TrainedModel(network, model.Normalizer, model.History, model.Task, model.ClassCount, model.TargetSize, model.ClassNames, model.Seed, model.TrainingSettings);
}

static double SamplesPerSecond(TrainedModel model, Dataset data, int batch)
{
    var x = new Tensor(data.Features.Span[..(batch * 784)].ToArray(), batch, 784);
    model.PredictProbabilities(x); // warm-up
    double best = 0;
    for (int round = 0; round < 3; round++)
    {
        int calls = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < 0.3)
        {
            model.PredictProbabilities(x);
            calls++;
        }

        best = Math.Max(best, calls * batch / clock.Elapsed.TotalSeconds);
    }

    return best;
}

/// <summary>One line on stderr per finished configuration (the comparison reports synchronously).</summary>
internal sealed class ConsoleProgress(int configurations) : IProgress<ComparisonProgress>
{
    public void Report(ComparisonProgress value)
    {
        if (value.Kind == ComparisonProgressKind.Epoch && value.Epoch is { } epoch && (epoch.Epoch % 5 == 0 || epoch.Epoch == value.Epochs))
        {
            Console.Error.WriteLine($"  [{value.Trial}/{configurations}] {value.Configuration}: epoch {epoch.Epoch}/{value.Epochs}, validation accuracy {epoch.ValidationAccuracy:P2}, {value.Elapsed.TotalSeconds:F0} s");
        }

        if (value.Kind == ComparisonProgressKind.TrialFinished && value.Result is { } trial)
        {
            Console.Error.WriteLine($"  [{value.Trial}/{configurations}] {trial.Name}: validation accuracy {trial.Accuracy.Mean:P2} ({trial.Seconds:F1} s)");
        }
    }
}

/// <summary>The GEMM kernel family in use, for the header line.</summary>
internal static class GemmInfo
{
    public static string Path => System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "AVX-512" : System.Runtime.Intrinsics.X86.Fma.IsSupported ? "AVX2+FMA" : "scalar";
}

/// <summary>Command-line options of the sample.</summary>
internal sealed record Arguments(string? DataDirectory, int Epochs, int Batch, HashSet<string>? Only, int McSamples, int Warmup, float SbpLogSigma, int Seed, int Threads, string Report, string? Export)
{
    private static readonly string[] Methods = ["none", "dropout", "fast", "variational", "sparse", "concrete", "standout", "sbp", "dropconnect"];

    public static Arguments Parse(string[] args)
    {
        var result = new Arguments(null, 20, 100, null, 30, 5, -3f, 1, Environment.ProcessorCount, "bayesian-dropout-report.html", null);
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"option {args[i]} needs a value.");
            int Int() => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 0 ? v : throw new ArgumentException($"option {args[i - 1]} needs a non-negative integer, got '{args[i]}'.");
            result = args[i] switch
            {
                "--data" => result with { DataDirectory = Value() },
                "--epochs" => result with { Epochs = Int() },
                "--batch" => result with { Batch = Int() },
                "--only" => result with { Only = Value().Split(',').Select(m => Methods.Contains(m) ? m : throw new ArgumentException($"--only takes {string.Join(", ", Methods)}, got '{m}'.")).ToHashSet() },
                "--mc-samples" => result with { McSamples = Int() },
                "--warmup" => result with { Warmup = Int() },
                "--sbp-log-sigma" => result with { SbpLogSigma = float.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out float s) ? s : throw new ArgumentException($"--sbp-log-sigma needs a number, got '{args[i]}'.") },
                "--seed" => result with { Seed = Int() },
                "--threads" => result with { Threads = Int() },
                "--report" => result with { Report = Value() },
                "--export" => result with { Export = Value() },
                _ => throw new ArgumentException($"unknown option '{args[i]}'; use --data DIR, --epochs N, --batch N, --only {string.Join(",", Methods)}, --mc-samples T, --warmup N, --sbp-log-sigma S, --seed N, --threads N, --report FILE, --export DIR."),
            };
        }

        return result;
    }
}
