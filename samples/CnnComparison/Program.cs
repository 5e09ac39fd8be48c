// Convolutional regularizers side by side: the same small CNN on Fashion-MNIST with seven settings.
//
//   dotnet run -c Release --project samples/CnnComparison                 # committed 5,000/1,000 subset
//   dotnet run -c Release --project samples/CnnComparison -- --data /usr/share/datasets/fashion-mnist --epochs 10
//
// Options: --data DIR (folder with the four Fashion-MNIST IDX files), --epochs N, --seed N, --limit N (first N
// training images), --only a,b (run only the settings whose names start with a or b).
using System.Diagnostics;
using System.Globalization;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;

const string Usage = "usage: CnnComparison [--data DIR] [--epochs N] [--seed N] [--limit N] [--only a,b]\n  --data DIR   folder with the four Fashion-MNIST IDX files (default: the committed 5,000/1,000 subset)\n  --epochs N   epochs per setting (default 8); --seed N (default 1); --limit N: the first N training images\n  --only a,b   run only the settings whose names start with a or b";
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
    Console.Error.WriteLine($"CnnComparison: {e.Message}");
    Console.Error.WriteLine(Usage);
    return 2;
}

Dataset train, test;
try
{
    (train, test) = SampleData.LoadFashionMnist(options.DataDirectory ?? SampleData.FindFashionMnistSmall(), asImages: true, trainLimit: options.Limit);
}
catch (Exception e) when (e is IOException or InvalidDataException)
{
    Console.Error.WriteLine($"CnnComparison: {e.Message}");
    Console.Error.WriteLine(Usage);
    return 1;
}

Console.WriteLine($"Fashion-MNIST: {train.Count:N0} training and {test.Count:N0} test images [1, 28, 28]; " +
                  $"CNN conv32(3x3, same)-ReLU-maxpool2-conv64-ReLU-maxpool2-dense128-dense10, Adam 1e-3, batch 64, " +
                  $"{options.Epochs} epochs, seed {options.Seed}, {Environment.ProcessorCount} threads.");
Console.WriteLine();

// Each setting builds the same CNN; `conv` is one convolution block (conv → [BN] → ReLU → [regularizer]) and
// `head` the classifier after the second pooling.
static Layer[] Conv(int filters, bool batchNorm, Func<Layer>? after) =>
[
    new Conv2D(filters, 3, padding: "same", useBias: !batchNorm),
    .. batchNorm ? new Layer[] { new BatchNorm() } : [],
    new ReLU(),
    .. after is null ? Array.Empty<Layer>() : [after()],
    new MaxPool2D(2),
];

static Layer[] Head(bool dropout) =>
    [new Flatten(), new Dense(128), new ReLU(), .. dropout ? new Layer[] { new Dropout(0.5f) } : [], new Dense(10)];

static Network Cnn(bool batchNorm = false, Func<Layer>? afterConv = null, bool dropout = false, Layer? input = null) =>
    Network.Sequential([.. input is null ? Array.Empty<Layer>() : [input], .. Conv(32, batchNorm, afterConv), .. Conv(64, batchNorm, afterConv), .. Head(dropout)]);

var configurations = new (string Name, Func<Network> Build)[]
{
    ("none", () => Cnn()),
    ("dropout 0.5", () => Cnn(dropout: true)),
    ("spatial dropout 0.2", () => Cnn(afterConv: () => new SpatialDropout2D(0.2f))),
    ("BN + dropout", () => Cnn(batchNorm: true, dropout: true)),
    ("Cutout 10px", () => Cnn(input: new Cutout(10))),
    ("DropBlock 0.1, 3x3", () => Cnn(afterConv: () => new DropBlock(0.1f, 3))),
    ("BN + dropout + Cutout", () => Cnn(batchNorm: true, dropout: true, input: new Cutout(10))),
};

const string Row = "{0,-22} {1,14} {2,14} {3,15} {4,8} {5,9} {6,12}";
Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, "regularization", "test accuracy", "test log-loss", "train accuracy", "gap", "seconds", "samples/s"));
Console.WriteLine(new string('-', 100));
foreach (var (name, build) in configurations)
{
    if (options.Only is { } only && !only.Any(o => name.StartsWith(o, StringComparison.OrdinalIgnoreCase)))
    {
        continue;
    }

    var trainer = new Trainer(new TrainerOptions { Epochs = options.Epochs, BatchSize = 64, Seed = options.Seed, Optimizer = new Adam { LearningRate = 1e-3f } });
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

return 0;

/// <summary>Command-line options of the sample.</summary>
internal sealed record Arguments(string? DataDirectory, int Epochs, int Seed, int? Limit, string[]? Only)
{
    public static Arguments Parse(string[] args)
    {
        var result = new Arguments(null, 8, 1, null, null);
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"option {args[i]} needs a value.");
            int Int() => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : throw new ArgumentException($"option {args[i - 1]} needs a positive integer, got '{args[i]}'.");
            result = args[i] switch
            {
                "--data" => result with { DataDirectory = Value() },
                "--epochs" => result with { Epochs = Int() },
                "--seed" => result with { Seed = Int() },
                "--limit" => result with { Limit = Int() },
                "--only" => result with { Only = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                _ => throw new ArgumentException($"unknown option '{args[i]}'; use --data DIR, --epochs N, --seed N, --limit N, --only a,b."),
            };
        }

        return result;
    }
}
