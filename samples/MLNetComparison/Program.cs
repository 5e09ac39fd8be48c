// The main job: an AutoML-style leaderboard inside ML.NET. Regularized networks (none, dropout, DropConnect, batch
// norm, batch norm + dropout, and a CNN), each trained to convergence with early stopping on a validation split, next
// to ML.NET's own multiclass trainers, all as ML.NET pipelines on the same Fashion-MNIST rows; measured on the same
// held-out test rows; written as a leaderboard and an HTML report.
//
//   dotnet run -c Release --project samples/MLNetComparison                                  # the committed subset
//   dotnet run -c Release --project samples/MLNetComparison -- --data /path/to/fashion-mnist  # the full set
//   options: --report <file.html> (default regularization-report.html), --max-epochs <n> (default 60), --seed <n>
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.FastTree;
using Microsoft.ML.Trainers.LightGbm;
using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.MLNet;
using MLNet.Regularization.Reporting;

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine("usage: MLNetComparison [--data <folder with the four Fashion-MNIST IDX files>] [--report <file.html>] [--max-epochs <n>] [--seed <n>]");
    return 0;
}

string? dataFolder = Option("--data");
string reportPath = Option("--report") ?? "regularization-report.html";
int maxEpochs = int.Parse(Option("--max-epochs") ?? "60", CultureInfo.InvariantCulture);
int seed = int.Parse(Option("--seed") ?? "1", CultureInfo.InvariantCulture);

Dataset trainSet, testSet;
try
{
    (trainSet, testSet) = dataFolder is null ? SampleData.LoadFashionMnistSmall() : SampleData.LoadFashionMnist(dataFolder);
}
catch (Exception e) when (e is IOException or InvalidDataException)
{
    Console.Error.WriteLine($"MLNetComparison: {e.Message}");
    return 1;
}

var ml = new MLContext(seed: seed);
var all = ml.Data.LoadFromEnumerable(ImageRow.From(trainSet));
var test = ml.Data.LoadFromEnumerable(ImageRow.From(testSet));
// 10% of the training rows are held out for early stopping (raw rows: each network's pipeline transforms them as it
// does the training rows); the test rows are seen by no pipeline until the end.
var split = ml.Data.TrainTestSplit(all, testFraction: 0.1, seed: seed);
var train = split.TrainSet;
var validation = split.TestSet;
int trainCount = (int)(train.GetRowCount() ?? train.GetColumn<string>("Label").Count());
int validationCount = (int)(validation.GetRowCount() ?? validation.GetColumn<string>("Label").Count());
Console.WriteLine($"Fashion-MNIST{(dataFolder is null ? " (the committed subset)" : "")}: {trainCount:N0} training, {validationCount:N0} validation (early stopping) and {testSet.Count:N0} test images, 784 pixels in [0, 1].");
Console.WriteLine($"Networks: Adam 1e-3, batch 128, at most {maxEpochs} epochs, early stopping with patience 5 on validation loss (best epoch kept). Seed {seed}, {Environment.ProcessorCount} threads.");
Console.WriteLine();

RegularizedNetworkOptions Network(Action<RegularizedNetworkOptions> set)
{
    var options = new RegularizedNetworkOptions
    {
        HiddenLayers = { 256, 128 }, Epochs = maxEpochs, BatchSize = 128, EarlyStoppingPatience = 5, ValidationData = validation,
    };
    set(options);
    return options;
}

var cnn = new List<LayerSpec>
{
    new() { Type = "conv2d", Filters = 32, Kernel = 3, Padding = "same", UseBias = false }, new() { Type = "batchnorm" }, new() { Type = "relu" },
    new() { Type = "maxpool2d" },
    new() { Type = "conv2d", Filters = 64, Kernel = 3, Padding = "same" }, new() { Type = "relu" }, new() { Type = "maxpool2d" },
    new() { Type = "flatten" }, new() { Type = "dense", Units = 128 }, new() { Type = "relu" }, new() { Type = "dropout", Rate = 0.5f },
};

IEstimator<ITransformer> Pipeline(IEstimator<ITransformer> trainer) => ml.Transforms.Conversion.MapValueToKey("Label").Append(trainer);
var networks = ml.MulticlassClassification.Trainers;
var candidates = new (string Name, IEstimator<ITransformer> Pipeline)[]
{
    ("network: none", Pipeline(networks.RegularizedNetwork(Network(_ => { })))),
    ("network: dropout 0.2/0.5", Pipeline(networks.RegularizedNetwork(Network(o => { o.InputDropout = 0.2f; o.Dropout = 0.5f; })))),
    ("network: DropConnect 0.5", Pipeline(networks.RegularizedNetwork(Network(o => o.DropConnect = 0.5f)))),
    ("network: batch norm", Pipeline(networks.RegularizedNetwork(Network(o => o.BatchNorm = true)))),
    ("network: BN + dropout 0.5", Pipeline(networks.RegularizedNetwork(Network(o => { o.BatchNorm = true; o.Dropout = 0.5f; })))),
    ("network: CNN, BN + dropout", Pipeline(networks.RegularizedNetwork(Network(o => { o.HiddenLayers = []; o.Layers = cnn; o.InputShape = [1, 28, 28]; o.BatchSize = 64; })))),
    // ML.NET's own trainers. The tree learners and SDCA get fewer rounds than their defaults (100 boosting rounds,
    // 100 trees, SDCA's automatic count), and the trees a quarter of the 784 pixels per tree, so that the whole job
    // stays near two minutes on two cores (LightGbm at its defaults alone takes about that); the settings are printed
    // with the leaderboard.
    ("SdcaMaximumEntropy", Pipeline(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(maximumNumberOfIterations: 20))),
    ("LbfgsMaximumEntropy", Pipeline(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy())),
    ("LightGbm", Pipeline(ml.MulticlassClassification.Trainers.LightGbm(new LightGbmMulticlassTrainer.Options
    {
        NumberOfIterations = 40, Booster = new GradientBooster.Options { FeatureFraction = 0.25 },
    }))),
    ("OneVersusAll(FastTree)", Pipeline(ml.MulticlassClassification.Trainers.OneVersusAll(ml.BinaryClassification.Trainers.FastTree(
        new FastTreeBinaryTrainer.Options { NumberOfTrees = 20, FeatureFraction = 0.25 })))),
};

var progress = new Reporter();
var result = new TrainerComparison(ml).Run(candidates, train, test,
    $"every pipeline is fitted on the same {trainCount:N0} training rows; networks stop early on {validationCount:N0} held-out validation rows and keep their best epoch; the test rows are seen only when measuring.",
    progress);

Console.WriteLine();
const string Row = "{0,4} {1,-28} {2,9} {3,9} {4,9} {5,8} {6,7} {7,8}";
Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, "rank", "trainer", "accuracy", "log-loss", "macro-F1", "gap", "epochs", "seconds"));
Console.WriteLine(new string('-', 88));
foreach (var t in result.Leaderboard)
{
    var run = t.BestRun!;
    string epochs = run.History.Epochs.Count == 0 ? "" : $"{run.History.ModelEpoch}/{run.History.Epochs.Count}";
    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, t.Rank, t.Name, F(t.Accuracy.Mean), F(t.LogLoss.Mean), F(t.MacroF1.Mean),
        (t.GeneralizationGap.Mean * 100).ToString("F1", CultureInfo.InvariantCulture) + " pt", epochs, t.Seconds.ToString("F1", CultureInfo.InvariantCulture)));
}

Console.WriteLine();
Console.WriteLine("accuracy, log-loss, macro-F1: on the test images. gap: training accuracy minus test accuracy. epochs: the epoch whose");
Console.WriteLine("weights were kept / epochs run (early stopping). seconds: fitting the whole pipeline, ML.NET's overhead included.");
Console.WriteLine("ML.NET trainers: defaults except SDCA 20 iterations; LightGbm 40 boosting rounds and FastTree 20 trees per class,");
Console.WriteLine("both on a quarter of the pixels per tree (feature fraction 0.25).");
HtmlReport.Write(result, reportPath, new HtmlReportOptions
{
    Title = "Regularized networks and ML.NET trainers on Fashion-MNIST",
    DataDescription = $"Fashion-MNIST{(dataFolder is null ? " subset shipped with the repository" : "")}: {trainCount:N0} training, {validationCount:N0} validation and {testSet.Count:N0} test images.",
});
Console.WriteLine($"Report: {Path.GetFullPath(reportPath)} ({result.Elapsed.TotalSeconds:F0} s in all)");
return 0;

string? Option(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

static string F(double v) => v.ToString("F4", CultureInfo.InvariantCulture);

/// <summary>One image: 784 pixels and its class name.</summary>
internal sealed class ImageRow
{
    [VectorType(784)] public float[] Features { get; set; } = [];

    public string Label { get; set; } = "";

    public static IEnumerable<ImageRow> From(Dataset data)
    {
        var x = data.Features.Data;
        for (int i = 0; i < data.Count; i++)
        {
            yield return new ImageRow { Features = x.AsSpan(i * 784, 784).ToArray(), Label = data.ClassNames![data.Labels![i]] };
        }
    }
}

/// <summary>Prints each trainer's line as soon as it is done.</summary>
internal sealed class Reporter : IProgress<MeasuredTrial>
{
    public void Report(MeasuredTrial value) => Console.WriteLine(FormattableString.Invariant(
        $"  {value.Name,-28} test accuracy {value.Metrics.Accuracy:F4}, log-loss {value.Metrics.LogLoss:F4}, {value.Seconds,5:F1} s"));
}
