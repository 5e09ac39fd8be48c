// An AutoML-style leaderboard inside ML.NET: the regularized network (several settings) against ML.NET's own
// multiclass trainers, one pipeline each, on the same Fashion-MNIST split (the committed 5,000/1,000 subset).
//
//   dotnet run -c Release --project samples/MLNetComparison                     # needs Microsoft.ML 5.0.0
//   dotnet run -c Release --project samples/MLNetComparison -- --epochs 20
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNet.Regularization.Data;
using MLNet.Regularization.MLNet;

int epochs = args.Length == 2 && args[0] == "--epochs" ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10;
var ml = new MLContext(seed: 42);
var (trainSet, testSet) = SampleData.LoadFashionMnistSmall();
var train = ml.Data.LoadFromEnumerable(ToRows(trainSet));
var test = ml.Data.LoadFromEnumerable(ToRows(testSet));
Console.WriteLine($"Fashion-MNIST subset: {trainSet.Count:N0} training and {testSet.Count:N0} test images, 784 pixels in [0, 1]; " +
                  $"networks 784-256-128-10, Adam 1e-3, {epochs} epochs, seed 42.");
Console.WriteLine();

RegularizedNetworkOptions Network(Action<RegularizedNetworkOptions> set)
{
    var options = new RegularizedNetworkOptions { HiddenLayers = { 256, 128 }, Epochs = epochs, Seed = 42 };
    set(options);
    return options;
}

var candidates = new (string Name, IEstimator<ITransformer> Trainer)[]
{
    ("RegularizedNetwork: none", ml.MulticlassClassification.Trainers.RegularizedNetwork(Network(_ => { }))),
    ("RegularizedNetwork: dropout 0.5", ml.MulticlassClassification.Trainers.RegularizedNetwork(Network(o => { o.Dropout = 0.5f; o.InputDropout = 0.2f; }))),
    ("RegularizedNetwork: DropConnect 0.5", ml.MulticlassClassification.Trainers.RegularizedNetwork(Network(o => o.DropConnect = 0.5f))),
    ("RegularizedNetwork: BN + dropout", ml.MulticlassClassification.Trainers.RegularizedNetwork(Network(o => { o.BatchNorm = true; o.Dropout = 0.5f; }))),
    ("RegularizedNetwork: AdamW + max-norm", ml.MulticlassClassification.Trainers.RegularizedNetwork(Network(o => { o.Optimizer = OptimizerKind.AdamW; o.WeightDecay = 0.01f; o.MaxNorm = 3f; o.Dropout = 0.3f; }))),
    ("SdcaMaximumEntropy", ml.MulticlassClassification.Trainers.SdcaMaximumEntropy()),
    ("LbfgsMaximumEntropy", ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy()),
    ("OneVersusAll(AveragedPerceptron)", ml.MulticlassClassification.Trainers.OneVersusAll(ml.BinaryClassification.Trainers.AveragedPerceptron())),
    ("NaiveBayes", ml.MulticlassClassification.Trainers.NaiveBayes()),
};

var board = new List<(string Name, double Accuracy, double LogLoss, double MacroF1, double Seconds)>();
foreach (var (name, trainer) in candidates)
{
    var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
        .Append(trainer);
    var clock = Stopwatch.StartNew();
    var model = pipeline.Fit(train);
    double seconds = clock.Elapsed.TotalSeconds;
    var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
    board.Add((name, metrics.MicroAccuracy, metrics.LogLoss, MacroF1(metrics.ConfusionMatrix), seconds));
    Console.WriteLine(FormattableString.Invariant($"  {name,-36} done in {seconds,6:F1} s"));
}

Console.WriteLine();
const string Row = "{0,4} {1,-36} {2,9} {3,9} {4,9} {5,8}";
Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, "rank", "trainer", "accuracy", "log-loss", "macro-F1", "seconds"));
Console.WriteLine(new string('-', 80));
int rank = 1;
foreach (var entry in board.OrderByDescending(b => b.Accuracy))
{
    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, rank++, entry.Name, entry.Accuracy.ToString("F4", CultureInfo.InvariantCulture),
        entry.LogLoss.ToString("F4", CultureInfo.InvariantCulture), entry.MacroF1.ToString("F4", CultureInfo.InvariantCulture), entry.Seconds.ToString("F1", CultureInfo.InvariantCulture)));
}

// Macro-F1: the mean over classes of 2·precision·recall / (precision + recall), from ML.NET's confusion matrix
// (rows = true class, columns = predicted class).
static double MacroF1(ConfusionMatrix matrix)
{
    int k = matrix.NumberOfClasses;
    double sum = 0;
    for (int c = 0; c < k; c++)
    {
        double tp = matrix.Counts[c][c];
        double predicted = Enumerable.Range(0, k).Sum(r => matrix.Counts[r][c]);
        double actual = matrix.Counts[c].Sum();
        double precision = predicted == 0 ? 0 : tp / predicted, recall = actual == 0 ? 0 : tp / actual;
        sum += precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
    }

    return sum / k;
}

static List<ImageRow> ToRows(Dataset data)
{
    var x = data.Features.Span.ToArray();
    int d = data.FeatureCount;
    return Enumerable.Range(0, data.Count).Select(i => new ImageRow { Features = x.AsSpan(i * d, d).ToArray(), Label = (uint)data.Labels![i] }).ToList();
}

/// <summary>One image: 784 pixels and its class 0-9.</summary>
internal sealed class ImageRow
{
    [VectorType(784)] public float[] Features { get; set; } = [];
    public uint Label { get; set; }
}
