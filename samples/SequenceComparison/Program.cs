// Recurrent dropout side by side: the same LSTM on Fashion-MNIST read row by row (28 steps of 28 pixels) with each
// method of the recurrent dropout family, compared on a held-out part of the training data with the library's
// comparison API, scored on the test set, and written to the HTML report.
//
//   dotnet run -c Release --project samples/SequenceComparison                 # committed 5,000/1,000 subset
//   dotnet run -c Release --project samples/SequenceComparison -- --data /usr/share/datasets/fashion-mnist --epochs 10
//
// Options: --data DIR (folder with the four Fashion-MNIST IDX files), --epochs N, --hidden N, --seed N, --limit N
// (first N training images), --only a,b (settings whose names start with a or b), --report FILE
// (default sequence-report.html).
using System.Globalization;
using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;

var options = Arguments.Parse(args);
var (train, test) = SampleData.LoadFashionMnist(options.DataDirectory ?? SampleData.FindFashionMnistSmall(), trainLimit: options.Limit);
(train, test) = (train.Reshape(28, 28), test.Reshape(28, 28));

int h = options.Hidden;
Console.WriteLine($"Fashion-MNIST as row sequences: {train.Count:N0} training images (10% held out for validation) and {test.Count:N0} test images, " +
                  $"28 steps of 28 pixels; LSTM({h}) -> Dense(10) on the last step, Adam 2e-3, batch 128, gradient norm clipped at 5, " +
                  $"{options.Epochs} epochs, seed {options.Seed}, {Environment.ProcessorCount} threads.");
Console.WriteLine();

var trainer = new TrainerOptions
{
    Epochs = options.Epochs, BatchSize = 128, Optimizer = new Adam { LearningRate = 2e-3f }, GradientClipNorm = 5f,
    Normalization = NormalizationKind.MinMax,
};

// The same LSTM every time; only the regularizer inside it changes (rates from the papers' typical settings).
ComparisonConfiguration Lstm(string name, params RecurrentRegularizer[] regularizers) =>
    new(name, () => Network.Sequential(new LSTM(h, false, regularizers), new Dense(10)), trainer);

var configurations = new[]
{
    Lstm("none"),
    Lstm("non-recurrent 0.25", new NonRecurrentDropout(0.25f, 0.25f)),
    Lstm("variational 0.25", new VariationalRecurrentDropout(0.25f, 0.25f, 0.25f)),
    Lstm("RNNDrop 0.25", new RnnDrop(0.25f)),
    Lstm("recurrent dropout 0.25", new RecurrentDropoutWithoutMemoryLoss(0.25f)),
    Lstm("weight drop 0.5", new WeightDrop(0.5f)),
    Lstm("zoneout 0.15/0.15", new Zoneout(0.15f, 0.15f)),
}.Where(c => options.Only is null || options.Only.Any(o => c.Name.StartsWith(o, StringComparison.OrdinalIgnoreCase))).ToArray();

// Rows are printed as each configuration finishes (a full-data run takes a while), epochs as progress on stderr.
const string Row = "{0,-24} {1,11} {2,14} {3,14} {4,15} {5,8} {6,9} {7,11}";
Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, "regularization", "validation", "test accuracy", "test log-loss", "train accuracy", "gap", "seconds", "samples/s"));
Console.WriteLine(new string('-', 112));
var comparison = new Comparison(new ComparisonOptions { Validation = ValidationMethod.Holdout, HoldoutFraction = 0.1, Seed = options.Seed });
var result = comparison.Run(configurations, train, new TableProgress(test, Row, train.Count - (int)Math.Round(train.Count * 0.1)));

HtmlReport.Write(result, options.Report, new HtmlReportOptions
{
    Title = "Recurrent dropout comparison: Fashion-MNIST row sequences, LSTM",
    DataDescription = $"{train.Count:N0} training images ({result.TrainCount:N0} to train, {result.ValidationCount:N0} to validate), {test.Count:N0} test images, 28 steps × 28 pixels, 10 classes",
});

Console.WriteLine();
Console.WriteLine("validation = accuracy on the held-out 10% (the ranking metric); gap = train accuracy - test accuracy, both in inference mode;");
Console.WriteLine($"samples/s counts training examples per second of training. Best: {result.Best?.Name}. Report: {Path.GetFullPath(options.Report)}");

/// <summary>Prints a configuration's table row (scored on the test set) as soon as it finishes, and each epoch on stderr;
/// samples/s counts the training examples (the 90% the holdout leaves, <paramref name="trainExamples"/>) per second of training.</summary>
internal sealed class TableProgress(Dataset test, string row, int trainExamples) : IProgress<ComparisonProgress>
{
    public void Report(ComparisonProgress value)
    {
        if (value.Kind == ComparisonProgressKind.Epoch && value.Epoch is { } epoch)
        {
            Console.Error.WriteLine($"  {value.Configuration}: epoch {epoch.Epoch}/{value.Epochs}, training loss {epoch.TrainLoss:F4}, {epoch.Seconds:F1} s");
        }

        if (value.Kind != ComparisonProgressKind.TrialFinished || value.Result is not { } trial)
        {
            return;
        }

        if (trial.Model is null)
        {
            Console.WriteLine($"{trial.Name,-24} {trial.Status}: {trial.Error}");
            return;
        }

        var (testLoss, testAccuracy) = trial.Model.Evaluate(test);
        double trainAccuracy = trial.TrainAccuracy.Mean;
        var history = trial.Model.History;
        long trained = (long)history.Epochs.Count * trainExamples;
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, row, trial.Name, $"{trial.Accuracy.Mean:P2}", $"{testAccuracy:P2}", $"{testLoss:F4}",
            $"{trainAccuracy:P2}", $"{(trainAccuracy - testAccuracy) * 100:F1} pt", $"{trial.Seconds:F1}", $"{trained / history.TotalSeconds:N0}"));
    }
}

/// <summary>Command-line options of the sample.</summary>
internal sealed record Arguments(string? DataDirectory, int Epochs, int Hidden, int Seed, int? Limit, string[]? Only, string Report)
{
    public static Arguments Parse(string[] args)
    {
        var result = new Arguments(null, 10, 128, 1, null, null, "sequence-report.html");
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
                "--only" => result with { Only = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                "--report" => result with { Report = Value() },
                _ => throw new ArgumentException($"unknown option '{args[i]}'; use --data DIR, --epochs N, --hidden N, --seed N, --limit N, --only a,b, --report FILE."),
            };
        }

        return result;
    }
}
