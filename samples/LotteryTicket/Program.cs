// Lottery tickets on Fashion-MNIST: LeNet-300-100 (784-300-100-10, Gaussian Glorot initialization, Adam 1.2e-3, batch
// 60, as Frankle & Carbin train it), iterative magnitude pruning at 20% per round (the output layer at 10%) with the
// survivors reset to their initialization, and the paper's two controls in every round: the same mask with a random
// re-initialization, and a random mask with the same per-layer sparsity. Prints the table of rounds (test accuracy and
// early-stopping epoch of each run) and writes the HTML report with the accuracy-vs-weights-remaining plot. Then
// structured pruning: half the hidden units of the dense network removed by the L1 norm of their weights, the
// smaller network fine-tuned, and both exported to ONNX.
//
//   dotnet run -c Release --project samples/LotteryTicket                                  # committed 5,000/1,000 subset
//   dotnet run -c Release --project samples/LotteryTicket -- --data /work/shared/data/fashion-mnist --rounds 15
//
// Options: --data DIR (the four Fashion-MNIST IDX files), --rounds N, --rate P, --epochs N (most per run),
// --patience N (early stopping), --controls both|reinit|mask|none, --rewind K (rewind to step K instead of resetting),
// --structured F (fraction of hidden units to remove; 0 skips), --seed N, --threads N, --report FILE, --export DIR.
using System.Diagnostics;
using System.Globalization;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;

var o = Arguments.Parse(args);
var (all, test) = o.DataDirectory is null ? SampleData.LoadFashionMnistSmall() : SampleData.LoadFashionMnist(o.DataDirectory);

// The paper holds out 5,000 of MNIST's 60,000 training images for early stopping; the subset holds out 10%.
int held = Math.Min(5000, all.Count / 10);
var (train, validation) = DataSplit.StratifiedSplit(all, (double)held / all.Count, o.Seed);
var training = new TrainerOptions
{
    Epochs = o.Epochs, BatchSize = 60, Seed = o.Seed, MaxThreads = o.Threads, EarlyStoppingPatience = o.Patience,
    Optimizer = new Adam { LearningRate = 1.2e-3f },
};
Network LeNet() => Network.Sequential(
    new Dense(300, WeightInit.GlorotNormal), new ReLU(), new Dense(100, WeightInit.GlorotNormal), new ReLU(), new Dense(10, WeightInit.GlorotNormal));

var options = new LotteryTicketOptions
{
    Rounds = o.Rounds, PruneRate = o.Rate, Controls = o.Controls, Training = training,
    Reset = o.Rewind > 0 ? TicketReset.Rewind : TicketReset.Initialization, RewindIteration = o.Rewind,
};
Console.WriteLine($"Fashion-MNIST: {train.Count:N0} training, {validation.Count:N0} validation (early stopping) and {test.Count:N0} test images; LeNet-300-100, " +
                  $"Adam 1.2e-3, batch 60, at most {o.Epochs} epochs per run (patience {o.Patience}), seed {o.Seed}, {o.Threads} threads.");
Console.WriteLine($"IMP: {o.Rounds} rounds at {100 * o.Rate:0.#}% per round (output layer {50 * o.Rate:0.#}%), " +
                  $"{(o.Rewind > 0 ? $"rewound to step {o.Rewind}" : "reset to the initialization")}, controls: {o.Controls}.");
Console.WriteLine();

var result = new LotteryTicket(options).Run(LeNet(), train, validation, test, new RunLines());

const string Row = "{0,5} {1,9} {2,18} {3,10} {4,6} {5,10} {6,6} {7,10} {8,6} {9,8}";
Console.WriteLine();
Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, "round", "weights", "fc1/fc2/out %", "ticket", "epoch", "reinit", "epoch", "rnd mask", "epoch", "seconds"));
Console.WriteLine(new string('-', 96));
foreach (var round in result.Rounds)
{
    string Accuracy(TicketRun? run) => run?.TestAccuracy is double a ? (100 * a).ToString("F2", CultureInfo.InvariantCulture) + "%" : "-";
    string Epoch(TicketRun? run) => run is null ? "-" : run.EarlyStopEpoch.ToString(CultureInfo.InvariantCulture);
    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, round.Round, $"{100 * round.FractionRemaining:0.0#}%",
        string.Join("/", round.Layers.Select(l => (100 * l.FractionRemaining).ToString("0.#", CultureInfo.InvariantCulture))),
        Accuracy(round.Ticket), Epoch(round.Ticket), Accuracy(round.RandomReinitialization), Epoch(round.RandomReinitialization),
        Accuracy(round.RandomMask), Epoch(round.RandomMask), $"{round.Runs.Sum(r => r.Seconds):F0}"));
}

HtmlReport.Write(result, o.Report, new HtmlReportOptions
{
    Title = "Lottery tickets: LeNet-300-100 on Fashion-MNIST",
    DataDescription = $"{train.Count:N0} training, {validation.Count:N0} validation and {test.Count:N0} test images, 784 features, 10 classes",
});
Console.WriteLine();
Console.WriteLine($"test accuracy at the early-stopping epoch (lowest validation loss); {result.Elapsed.TotalMinutes:F1} min in all. Report: {Path.GetFullPath(o.Report)}");
if (result.Rounds.Count == 0)
{
    return 1;
}

var dense = result.Rounds[0].Ticket;
if (o.Export is { } folder)
{
    Directory.CreateDirectory(folder);
    OnnxExporter.Export(dense.Model, Path.Combine(folder, "dense.onnx"));
    OnnxExporter.Export(result.Rounds[^1].Ticket.Model, Path.Combine(folder, "ticket.onnx"), new OnnxExportOptions { SparseWeights = true });
}

if (o.Structured > 0)
{
    // Structured pruning: remove the hidden units with the smallest L1 norm of incoming weights from the trained dense
    // network, then fine-tune the smaller network with the same settings.
    var clock = Stopwatch.StartNew();
    var shrunk = StructuredPruning.Prune(dense.Model.Network, new StructuredPruningOptions { Fraction = o.Structured, Score = UnitScore.L1 });
    var m = dense.Model;
    double before = new TrainedModel(shrunk.Network, m.Normalizer, m.History, m.Task, m.ClassCount, m.TargetSize, m.ClassNames, m.Seed, m.TrainingSettings).Evaluate(test).Accuracy;
    var tuned = new Trainer(training).Fit(shrunk.Network, train, validation);
    var (_, accuracy) = tuned.Evaluate(test);
    Console.WriteLine();
    Console.WriteLine($"structured pruning: hidden units {string.Join("-", shrunk.Layers.Select(l => l.UnitsBefore))} -> {string.Join("-", shrunk.Layers.Select(l => l.Kept.Length))} " +
                      $"({100.0 * (shrunk.HiddenUnitsBefore - shrunk.HiddenUnitsAfter) / shrunk.HiddenUnitsBefore:F0}% fewer), weights {dense.Model.Network.ParameterCount:N0} -> {tuned.Network.ParameterCount:N0}");
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  test accuracy: dense {100 * dense.TestAccuracy:F2}%; smaller, before fine-tuning {100 * before:F2}%, after {100 * accuracy:F2}% ") +
                      string.Create(CultureInfo.InvariantCulture, $"({100 * (accuracy - dense.TestAccuracy!.Value):+0.00;-0.00} pt; early stop at epoch {tuned.History.ModelEpoch}, {clock.Elapsed.TotalSeconds:F0} s)"));
    if (o.Export is { } exportFolder)
    {
        OnnxExporter.Export(tuned, Path.Combine(exportFolder, "structured.onnx"));
        Console.WriteLine($"  wrote dense.onnx, ticket.onnx (sparse weights) and structured.onnx to {Path.GetFullPath(exportFolder)}");
    }
}

return 0;

/// <summary>One line on stderr per finished run (the experiment reports synchronously).</summary>
internal sealed class RunLines : IProgress<LotteryTicketProgress>
{
    public void Report(LotteryTicketProgress p)
    {
        if (p.Kind == LotteryTicketProgressKind.RunFinished && p.Run is { } run)
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  round {p.Round,2}/{p.Rounds} {100 * p.FractionRemaining,6:0.00}% {run.Kind,-22}: test {100 * run.TestAccuracy:F2}%, validation loss {run.ValidationLoss:F4}, early stop at epoch {run.EarlyStopEpoch} of {run.History.Epochs.Count} ({run.Seconds:F0} s)"));
        }
    }
}

/// <summary>Command-line options of the sample.</summary>
internal sealed record Arguments(string? DataDirectory, int Rounds, double Rate, int Epochs, int Patience, TicketControls Controls, long Rewind, double Structured, int Seed, int Threads, string Report, string? Export)
{
    public static Arguments Parse(string[] args)
    {
        var result = new Arguments(null, 10, 0.2, 40, 4, TicketControls.Both, 0, 0.5, 1, Environment.ProcessorCount, "lottery-ticket-report.html", null);
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"option {args[i]} needs a value.");
            int Int() => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 0 ? v : throw new ArgumentException($"option {args[i - 1]} needs a non-negative integer, got '{args[i]}'.");
            double Fraction() => double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v >= 0 && v < 1 ? v : throw new ArgumentException($"option {args[i - 1]} needs a number in [0, 1), got '{args[i]}'.");
            result = args[i] switch
            {
                "--data" => result with { DataDirectory = Value() },
                "--rounds" => result with { Rounds = Int() },
                "--rate" => result with { Rate = Fraction() },
                "--epochs" => result with { Epochs = Int() },
                "--patience" => result with { Patience = Int() },
                "--controls" => result with
                {
                    Controls = Value() switch
                    {
                        "both" => TicketControls.Both,
                        "reinit" => TicketControls.RandomReinitialization,
                        "mask" => TicketControls.RandomMask,
                        "none" => TicketControls.None,
                        var c => throw new ArgumentException($"--controls takes both, reinit, mask or none, got '{c}'."),
                    },
                },
                "--rewind" => result with { Rewind = Int() },
                "--structured" => result with { Structured = Fraction() },
                "--seed" => result with { Seed = Int() },
                "--threads" => result with { Threads = Int() },
                "--report" => result with { Report = Value() },
                "--export" => result with { Export = Value() },
                _ => throw new ArgumentException($"unknown option '{args[i]}'; use --data DIR, --rounds N, --rate P, --epochs N, --patience N, --controls both|reinit|mask|none, --rewind K, --structured F, --seed N, --threads N, --report FILE, --export DIR."),
            };
        }

        return result;
    }
}
