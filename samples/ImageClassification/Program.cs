// Image classification from files on disk with ML.NET's image transforms and a regularized CNN:
//   LoadImages -> ResizeImages -> ExtractPixels -> RegularizedNetwork (conv + batch norm + dropout, early stopping)
// evaluated on held-out image files, saved, reloaded in a fresh MLContext with the native model, and used through a
// PredictionEngine (and Monte Carlo dropout) on a new image file.
//
//   dotnet run -c Release --project samples/ImageClassification                 # PNGs written from the committed subset
//   dotnet run -c Release --project samples/ImageClassification -- --images <folder with train/ and test/, one sub-folder per class>
//   dotnet run -c Release --project samples/ImageClassification -- --predict image-model.zip <image file> ...
//   options: --max-epochs <n> (default 30), --model <file.zip> (default image-model.zip)
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.MLNet;

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine("usage: ImageClassification [--images <folder with train/ and test/, one sub-folder of image files per class>] [--max-epochs <n>] [--model <file.zip>]");
    Console.WriteLine("       ImageClassification --predict <model.zip> <image file> [<image file> ...]");
    return 0;
}

if (args.Length > 0 && args[0] == "--predict")
{
    return Predict(args[1..]);
}

string? images = Option("--images");
int maxEpochs = int.Parse(Option("--max-epochs") ?? "30", CultureInfo.InvariantCulture);
string modelPath = Option("--model") ?? "image-model.zip";

if (images is null)
{
    // First run: the committed Fashion-MNIST subset as PNG files (5,000 training, 1,000 test), one folder per class.
    images = Path.Combine(AppContext.BaseDirectory, "fashion-mnist-png");
    if (!Directory.Exists(images))
    {
        var (trainSet, testSet) = SampleData.LoadFashionMnistSmall();
        Console.WriteLine($"Writing {trainSet.Count + testSet.Count:N0} PNG files to {images} (once) ...");
        Directory.CreateDirectory(images);
        SampleData.WriteImageFolder(trainSet, Path.Combine(images, "train"));
        SampleData.WriteImageFolder(testSet, Path.Combine(images, "test"));
    }
}

List<ImageFile> ListFolder(string folder)
{
    if (!Directory.Exists(folder))
    {
        throw new DirectoryNotFoundException($"image folder '{folder}' does not exist; --images needs train/ and test/ folders with one sub-folder per class.");
    }

    return [.. Directory.GetDirectories(folder).OrderBy(d => d, StringComparer.Ordinal)
        .SelectMany(d => Directory.GetFiles(d).Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal).Select(f => new ImageFile { ImagePath = f, Label = Path.GetFileName(d) }))];
}

List<ImageFile> trainFiles, testFiles;
try
{
    trainFiles = ListFolder(Path.Combine(images, "train"));
    testFiles = ListFolder(Path.Combine(images, "test"));
}
catch (DirectoryNotFoundException e)
{
    Console.Error.WriteLine($"ImageClassification: {e.Message}");
    return 1;
}

var ml = new MLContext(seed: 1);
var all = ml.Data.LoadFromEnumerable(trainFiles);
var split = ml.Data.TrainTestSplit(all, testFraction: 0.1, seed: 1);
var test = ml.Data.LoadFromEnumerable(testFiles);

var cnn = new List<LayerSpec>
{
    new() { Type = "conv2d", Filters = 32, Kernel = 3, Padding = "same", UseBias = false }, new() { Type = "batchnorm" }, new() { Type = "relu" },
    new() { Type = "maxpool2d" },
    new() { Type = "conv2d", Filters = 64, Kernel = 3, Padding = "same" }, new() { Type = "relu" }, new() { Type = "maxpool2d" },
    new() { Type = "flatten" }, new() { Type = "dense", Units = 128 }, new() { Type = "relu" }, new() { Type = "dropout", Rate = 0.5f },
};
var options = new RegularizedNetworkOptions
{
    Layers = cnn, FeatureColumnName = "Pixels", Epochs = maxEpochs, BatchSize = 64,
    EarlyStoppingPatience = 4, ValidationData = split.TestSet, // raw image rows: the pipeline loads and extracts them too
};
var pipeline = ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: nameof(ImageFile.ImagePath))
    .Append(ml.Transforms.ResizeImages("Image", imageWidth: 28, imageHeight: 28))
    // One plane (grayscale images decode to equal R, G and B), channels × height × width as the network reads it.
    .Append(ml.Transforms.ExtractPixels("Pixels", "Image", colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red, interleavePixelColors: false, scaleImage: 1f / 255))
    .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
    .Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(options))
    .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

int validationCount = split.TestSet.GetColumn<string>(nameof(ImageFile.Label)).Count();
Console.WriteLine($"Training a CNN on {trainFiles.Count - validationCount:N0} image files (early stopping on the other {validationCount:N0}) ...");
var clock = System.Diagnostics.Stopwatch.StartNew();
var model = pipeline.Fit(split.TrainSet);
var history = model.GetRegularizedNetwork()!.Model.History;
Console.WriteLine($"  {history.Epochs.Count} epochs in {clock.Elapsed.TotalSeconds:F1} s, kept epoch {history.ModelEpoch} (validation loss {history.Epochs[history.ModelEpoch - 1].ValidationLoss:F4})");

var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
Console.WriteLine($"Test ({testFiles.Count:N0} image files): accuracy {metrics.MicroAccuracy:F4}, macro accuracy {metrics.MacroAccuracy:F4}, log-loss {metrics.LogLoss:F4}");

ml.Model.Save(model, all.Schema, modelPath);
Console.WriteLine($"Saved {modelPath} ({new FileInfo(modelPath).Length / 1024.0:F0} KB)");

// A fresh context, as another program would have: the pipeline and the native model come back.
var fresh = new MLContext(seed: 2);
var loaded = fresh.Model.LoadWithRegularizedNetwork(modelPath, out _);
var network = loaded.GetRegularizedNetwork()!;
Console.WriteLine($"Reloaded: {network.Model.Network.Layers.Count} layers, {network.Model.History.Epochs.Count} epochs of history.");

// A new image file, never listed in the data: one of the test images under another name.
string newImage = Path.Combine(Path.GetTempPath(), "mlnet-new-image.png");
File.Copy(testFiles[^1].ImagePath, newImage, overwrite: true);
var engine = fresh.Model.CreatePredictionEngine<ImageFile, ImagePrediction>(loaded);
var prediction = engine.Predict(new ImageFile { ImagePath = newImage });
var classNames = network.Model.ClassNames!;
var top = prediction.Score.Select((p, i) => (p, i)).OrderByDescending(t => t.p).Take(3).Select(t => $"{classNames[t.i]} {t.p:P1}");
Console.WriteLine($"{Path.GetFileName(newImage)} (a {testFiles[^1].Label}): predicted {prediction.PredictedLabel}; top 3: {string.Join(", ", top)}");

// Monte Carlo dropout on the same file: the spread of 100 stochastic passes.
var pixels = loaded is IEnumerable<ITransformer> chain ? chain.TakeWhile(t => t is not RegularizedNetworkTransformer)
    .Aggregate(fresh.Data.LoadFromEnumerable([new ImageFile { ImagePath = newImage, Label = testFiles[^1].Label }]), (d, t) => t.Transform(d)) : null;
if (pixels is not null)
{
    var mc = network.PredictWithUncertainty(pixels, samples: 100);
    int best = Array.IndexOf(mc.MeanProbabilities, mc.MeanProbabilities.Max());
    Console.WriteLine($"Monte Carlo dropout (100 passes): {classNames[best]} {mc.MeanProbabilities[best]:P1} ± {Math.Sqrt(mc.Variance[best]):F3}, predictive entropy {mc.PredictiveEntropy[0]:F3}, mutual information {mc.MutualInformation[0]:F3}");
}

File.Delete(newImage);
return 0;

// A saved model in a new process: the pipeline and the native model come back from the zip alone.
static int Predict(string[] arguments)
{
    if (arguments.Length < 2)
    {
        Console.Error.WriteLine("ImageClassification: --predict needs a model file and at least one image file.");
        return 2;
    }

    var ml = new MLContext(seed: 3);
    var model = ml.Model.LoadWithRegularizedNetwork(arguments[0], out _);
    var network = model.GetRegularizedNetwork()
        ?? throw new InvalidDataException($"{arguments[0]} holds no regularized network.");
    var engine = ml.Model.CreatePredictionEngine<ImageFile, ImagePrediction>(model);
    var upstream = ((IEnumerable<ITransformer>)model).TakeWhile(t => t is not RegularizedNetworkTransformer).ToList();
    foreach (string file in arguments[1..])
    {
        var prediction = engine.Predict(new ImageFile { ImagePath = file });
        var pixels = upstream.Aggregate(ml.Data.LoadFromEnumerable([new ImageFile { ImagePath = file }]), (d, t) => t.Transform(d));
        var mc = network.PredictWithUncertainty(pixels, samples: 50, seed: 1);
        Console.WriteLine(FormattableString.Invariant(
            $"{Path.GetFileName(file)}: {prediction.PredictedLabel} p={prediction.Score.Max():R} epochs={network.Model.History.Epochs.Count} mc_variance={mc.Variance.Max():R}"));
    }

    return 0;
}

string? Option(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

/// <summary>An image file and its class (the name of its folder).</summary>
internal sealed class ImageFile
{
    public string ImagePath { get; set; } = "";

    public string Label { get; set; } = "";
}

/// <summary>What the prediction engine returns.</summary>
internal sealed class ImagePrediction
{
    public string PredictedLabel { get; set; } = "";

    public float[] Score { get; set; } = [];
}
