// The main job: train the same MLP on Fashion-MNIST with five regularization settings, compare them on a held-out
// part of the training data with the library's comparison API, score every model on the test set, and write the
// HTML report (learning curves, generalization gaps, reliability diagram, leaderboard).
//
//   dotnet run -c Release --project samples/RegularizationComparison                 # committed 5,000/1,000 subset
//   dotnet run -c Release --project samples/RegularizationComparison -- --data /usr/share/datasets/fashion-mnist --hidden 1024
//
// Options: --data DIR (folder with the four Fashion-MNIST IDX files), --epochs N, --hidden N, --seed N, --limit N,
// --report FILE (default regularization-report.html).
using System.Globalization;
using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;

const string Usage = "usage: RegularizationComparison [--data DIR] [--epochs N] [--hidden N] [--seed N] [--limit N] [--report FILE]\n  --data DIR   folder with the four Fashion-MNIST IDX files (default: the committed 5,000/1,000 subset)\n  --epochs N   epochs per configuration (default 10); --hidden N: units per hidden layer (default 256)\n  --seed N     (default 1); --limit N: the first N training images; --report FILE (default regularization-report.html)";
if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(Usage);
    return 0;
}

Arguments options;
try
{
    options = Arguments.Parse(args);
    if (options.DataDirectory is { } folder && !Directory.Exists(folder))
    {
        throw new DirectoryNotFoundException($"--data: folder '{folder}' does not exist.");
    }
}
catch (Exception e) when (e is ArgumentException or IOException)
{
    Console.Error.WriteLine($"RegularizationComparison: {e.Message}");
    Console.Error.WriteLine(Usage);
    return 2;
}

Dataset train, test;
try
{
    (train, test) = options.DataDirectory is null
        ? SampleData.LoadFashionMnistSmall()
        : SampleData.LoadFashionMnist(options.DataDirectory, trainLimit: options.Limit);
}
catch (Exception e) when (e is IOException or InvalidDataException)
{
    Console.Error.WriteLine($"RegularizationComparison: {e.Message}");
    Console.Error.WriteLine(Usage);
    return 1;
}

Console.WriteLine($"Fashion-MNIST: {train.Count:N0} training images (10% held out for validation) and {test.Count:N0} test images; " +
                  $"MLP 784-{options.Hidden}-{options.Hidden}-10, Adam 1e-3, batch 128, {options.Epochs} epochs, seed {options.Seed}, {Environment.ProcessorCount} threads.");
Console.WriteLine();

int h = options.Hidden;
var trainer = new TrainerOptions { Epochs = options.Epochs, BatchSize = 128, Optimizer = new Adam { LearningRate = 1e-3f } };
var configurations = new[]
{
    new ComparisonConfiguration("none", () => Network.Sequential(new Dense(h), new ReLU(), new Dense(h), new ReLU(), new Dense(10)), trainer),
    new ComparisonConfiguration("dropout 0.2/0.5", () => Network.Sequential(new Dropout(0.2f), new Dense(h), new ReLU(), new Dropout(0.5f), new Dense(h), new ReLU(), new Dropout(0.5f), new Dense(10)), trainer),
    new ComparisonConfiguration("DropConnect 0.5", () => Network.Sequential(new DropConnectDense(h, 0.5f), new ReLU(), new DropConnectDense(h, 0.5f), new ReLU(), new Dense(10)), trainer),
    new ComparisonConfiguration("batch norm", () => Network.Sequential(new Dense(h), new BatchNorm(), new ReLU(), new Dense(h), new BatchNorm(), new ReLU(), new Dense(10)), trainer),
    new ComparisonConfiguration("batch norm + dropout", () => Network.Sequential(new Dense(h), new BatchNorm(), new ReLU(), new Dropout(0.5f), new Dense(h), new BatchNorm(), new ReLU(), new Dropout(0.5f), new Dense(10)), trainer),
};

var comparison = new Comparison(new ComparisonOptions { Validation = ValidationMethod.Holdout, HoldoutFraction = 0.1, Seed = options.Seed });
var result = comparison.Run(configurations, train, new ConsoleProgress());

const string Row = "{0,-22} {1,11} {2,14} {3,14} {4,15} {5,8} {6,9} {7,11}";
Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, "regularization", "validation", "test accuracy", "test log-loss", "train accuracy", "gap", "seconds", "samples/s"));
Console.WriteLine(new string('-', 110));
foreach (var trial in result.Trials)
{
    if (trial.Model is null)
    {
        Console.WriteLine($"{trial.Name,-22} {trial.Status}: {trial.Error}");
        continue;
    }

    var (testLoss, testAccuracy) = trial.Model.Evaluate(test);
    double trainAccuracy = trial.TrainAccuracy.Mean;
    var history = trial.Model.History;
    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, trial.Name, $"{trial.Accuracy.Mean:P2}", $"{testAccuracy:P2}", $"{testLoss:F4}",
        $"{trainAccuracy:P2}", $"{(trainAccuracy - testAccuracy) * 100:F1} pt", $"{trial.Seconds:F1}",
        $"{(double)result.TrainCount * history.Epochs.Count / history.TotalSeconds:N0}"));
}

HtmlReport.Write(result, options.Report, new HtmlReportOptions
{
    Title = "Regularization comparison: Fashion-MNIST MLP",
    DataDescription = $"{train.Count:N0} training images ({result.TrainCount:N0} to train, {result.ValidationCount:N0} to validate), {test.Count:N0} test images, 784 features, 10 classes",
});

Console.WriteLine();
Console.WriteLine("validation = accuracy on the held-out 10% (the ranking metric); gap = train accuracy - test accuracy, both in inference mode;");
Console.WriteLine($"samples/s counts training examples per second of training. Best: {result.Best?.Name}. Report: {Path.GetFullPath(options.Report)}");

return 0;

/// <summary>One line on stderr per finished configuration (the comparison reports synchronously).</summary>
internal sealed class ConsoleProgress : IProgress<ComparisonProgress>
{
    public void Report(ComparisonProgress value)
    {
        if (value.Kind == ComparisonProgressKind.TrialFinished && value.Result is { } trial)
        {
            Console.Error.WriteLine($"  [{value.Trial}/{value.MaxTrials}] {trial.Name}: validation accuracy {trial.Accuracy.Mean:P2} ({trial.Seconds:F1} s)");
        }
    }
}

/// <summary>Command-line options of the sample.</summary>
internal sealed record Arguments(string? DataDirectory, int Epochs, int Hidden, int Seed, int? Limit, string Report)
{
    public static Arguments Parse(string[] args)
    {
        var result = new Arguments(null, 10, 256, 1, null, "regularization-report.html");
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"option {args[i]} needs a value.");
            int Int() => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : throw new ArgumentException($"option {args[i - 1]} needs a positive integer, got '{args[i]}'.");
            result = args[i] switch
            {
                "--data" => result with { DataDirectory = Value() },
                "--epochs" => result with { Epochs = Int() },
                "--hidden" => result with { Hidden = Int() },
                "--seed" => result with { Seed = Int() },
                "--limit" => result with { Limit = Int() },
                "--report" => result with { Report = Value() },
                _ => throw new ArgumentException($"unknown option '{args[i]}'; use --data DIR, --epochs N, --hidden N, --seed N, --limit N, --report FILE."),
            };
        }

        return result;
    }
}
