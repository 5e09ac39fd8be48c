// The main job: train the same MLP on Fashion-MNIST with five regularization settings and compare them.
//
//   dotnet run -c Release --project samples/RegularizationComparison                 # committed 5,000/1,000 subset
//   dotnet run -c Release --project samples/RegularizationComparison -- --data /usr/share/datasets/fashion-mnist --epochs 10
//
// Options: --data DIR (folder with the four Fashion-MNIST IDX files), --epochs N, --hidden N, --seed N, --limit N.
using System.Diagnostics;
using System.Globalization;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;

var options = Arguments.Parse(args);
var (train, test) = options.DataDirectory is null
    ? SampleData.LoadFashionMnistSmall()
    : SampleData.LoadFashionMnist(options.DataDirectory, trainLimit: options.Limit);

Console.WriteLine($"Fashion-MNIST: {train.Count:N0} training and {test.Count:N0} test images; MLP 784-{options.Hidden}-{options.Hidden}-10, " +
                  $"Adam 1e-3, batch 128, {options.Epochs} epochs, seed {options.Seed}, {Environment.ProcessorCount} threads.");
Console.WriteLine();

int h = options.Hidden;
var configurations = new (string Name, Func<Network> Build)[]
{
    ("none", () => Network.Sequential(new Dense(h), new ReLU(), new Dense(h), new ReLU(), new Dense(10))),
    ("dropout 0.2/0.5", () => Network.Sequential(new Dropout(0.2f), new Dense(h), new ReLU(), new Dropout(0.5f), new Dense(h), new ReLU(), new Dropout(0.5f), new Dense(10))),
    ("DropConnect 0.5", () => Network.Sequential(new DropConnectDense(h, 0.5f), new ReLU(), new DropConnectDense(h, 0.5f), new ReLU(), new Dense(10))),
    ("batch norm", () => Network.Sequential(new Dense(h), new BatchNorm(), new ReLU(), new Dense(h), new BatchNorm(), new ReLU(), new Dense(10))),
    ("batch norm + dropout", () => Network.Sequential(new Dense(h), new BatchNorm(), new ReLU(), new Dropout(0.5f), new Dense(h), new BatchNorm(), new ReLU(), new Dropout(0.5f), new Dense(10))),
};

const string Row = "{0,-22} {1,14} {2,14} {3,15} {4,8} {5,9} {6,12}";
Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, "regularization", "test accuracy", "test log-loss", "train accuracy", "gap", "seconds", "samples/s"));
Console.WriteLine(new string('-', 100));
foreach (var (name, build) in configurations)
{
    var trainer = new Trainer(new TrainerOptions { Epochs = options.Epochs, BatchSize = 128, Seed = options.Seed, Optimizer = new Adam { LearningRate = 1e-3f } });
    var clock = Stopwatch.StartNew();
    var model = trainer.Fit(build(), train);
    double seconds = clock.Elapsed.TotalSeconds;
    var (testLoss, testAccuracy) = model.Evaluate(test);
    var (_, trainAccuracy) = model.Evaluate(train);
    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, name, $"{testAccuracy:P2}", $"{testLoss:F4}", $"{trainAccuracy:P2}",
        $"{(trainAccuracy - testAccuracy) * 100:F1} pt", $"{seconds:F1}", $"{(double)train.Count * model.History.Epochs.Count / model.History.TotalSeconds:N0}"));
}

Console.WriteLine();
Console.WriteLine("gap = train accuracy - test accuracy (both in inference mode); samples/s counts training examples per second of training.");

/// <summary>Command-line options of the sample.</summary>
internal sealed record Arguments(string? DataDirectory, int Epochs, int Hidden, int Seed, int? Limit)
{
    public static Arguments Parse(string[] args)
    {
        var result = new Arguments(null, 10, 256, 1, null);
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
                _ => throw new ArgumentException($"unknown option '{args[i]}'; use --data DIR, --epochs N, --hidden N, --seed N, --limit N."),
            };
        }

        return result;
    }
}
