using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.MLNet.Tests;

/// <summary>PNG files of the committed Fashion-MNIST subset, written once for the image tests (as the image sample does).</summary>
public sealed class ImageFilesFixture : IDisposable
{
    public ImageFilesFixture()
    {
        var (train, test) = SampleData.LoadFashionMnistSmall();
        Train = SampleData.WriteImageFolder(train, Path.Combine(Root, "train"), limit: 1500);
        Test = SampleData.WriteImageFolder(test, Path.Combine(Root, "test"), limit: 300);
    }

    public string Root { get; } = Path.Combine(Path.GetTempPath(), $"mlnet-images-{Guid.NewGuid():N}");

    public IReadOnlyList<(string Path, string Label)> Train { get; }

    public IReadOnlyList<(string Path, string Label)> Test { get; }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>An image file and its class, as a user lists a folder of images.</summary>
public sealed class ImageFile
{
    public string ImagePath { get; set; } = "";

    public string Label { get; set; } = "";
}

public sealed class ImageTests(ImageFilesFixture files, ITestOutputHelper output) : IClassFixture<ImageFilesFixture>
{
    private static List<LayerSpec> SmallCnn() =>
    [
        new() { Type = "conv2d", Filters = 8, Kernel = 3, Padding = "same" }, new() { Type = "batchnorm" }, new() { Type = "relu" },
        new() { Type = "maxpool2d" },
        new() { Type = "conv2d", Filters = 16, Kernel = 3, Padding = "same" }, new() { Type = "relu" }, new() { Type = "maxpool2d" },
        new() { Type = "flatten" }, new() { Type = "dense", Units = 64 }, new() { Type = "relu" }, new() { Type = "dropout", Rate = 0.3f },
    ];

    private static IEstimator<ITransformer> Pixels(MLContext ml, bool interleave = false, ImagePixelExtractingEstimator.ColorBits colors = ImagePixelExtractingEstimator.ColorBits.Red) =>
        ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: nameof(ImageFile.ImagePath))
            .Append(ml.Transforms.ResizeImages("Image", 28, 28))
            .Append(ml.Transforms.ExtractPixels("Pixels", "Image", colorsToExtract: colors, interleavePixelColors: interleave, scaleImage: 1f / 255));

    private IDataView Load(MLContext ml, IEnumerable<(string Path, string Label)> list) =>
        ml.Data.LoadFromEnumerable(list.Select(f => new ImageFile { ImagePath = f.Path, Label = f.Label }));

    [Fact]
    public void A_cnn_trains_from_image_files_through_an_mlnet_pipeline()
    {
        var ml = new MLContext(seed: 1);
        var options = new RegularizedNetworkOptions { Layers = SmallCnn(), FeatureColumnName = "Pixels", Epochs = 4, BatchSize = 64, Seed = 3 };
        var pipeline = Pixels(ml)
            .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
            .Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(options))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        var model = pipeline.Fit(Load(ml, files.Train));
        var network = model.GetRegularizedNetwork()!;
        Assert.Equal([1, 28, 28], network.Model.InputShape);
        Assert.Contains(network.Model.Network.Layers, l => l is Layers.Conv2D);

        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(Load(ml, files.Test)));
        output.WriteLine($"CNN on {files.Train.Count} PNG files, 4 epochs: test accuracy {metrics.MicroAccuracy:F4}, log-loss {metrics.LogLoss:F4}");
        Assert.True(metrics.MicroAccuracy > 0.65, $"accuracy {metrics.MicroAccuracy}");

        // One new image file through a prediction engine gives the pipeline's answer for it.
        var engine = ml.Model.CreatePredictionEngine<ImageFile, ImagePrediction>(model);
        var file = files.Test[7];
        var single = engine.Predict(new ImageFile { ImagePath = file.Path });
        var batch = model.Transform(Load(ml, files.Test)).GetColumn<string>("PredictedLabel").ElementAt(7);
        Assert.Equal(batch, single.PredictedLabel);

        // Saved, then loaded in a new process (the image sample's --predict): the same prediction, the native model's
        // history and Monte Carlo dropout come back from the zip alone.
        string zip = Path.Combine(files.Root, "cnn.zip");
        ml.Model.Save(model, Load(ml, files.Train).Schema, zip);
        var picks = new[] { files.Test[7], files.Test[42], files.Test[99] };
        var (exit, stdout, stderr) = RunSample(["--predict", zip, .. picks.Select(p => p.Path)]);
        Assert.True(exit == 0, $"the image sample failed (exit {exit}):\n{stderr}\n{stdout}");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        for (int i = 0; i < picks.Length; i++)
        {
            var here = engine.Predict(new ImageFile { ImagePath = picks[i].Path });
            string expected = FormattableString.Invariant($"{Path.GetFileName(picks[i].Path)}: {here.PredictedLabel} p={here.Score.Max():R} epochs={network.Model.History.Epochs.Count} mc_variance=");
            Assert.StartsWith(expected, lines[i]);
            Assert.True(double.Parse(lines[i][(lines[i].LastIndexOf('=') + 1)..], System.Globalization.CultureInfo.InvariantCulture) > 0, lines[i]);
        }
    }

    private static (int Exit, string Stdout, string Stderr) RunSample(IEnumerable<string> arguments)
    {
        string configuration = typeof(ImageTests).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyConfigurationAttribute), false)
            .OfType<System.Reflection.AssemblyConfigurationAttribute>().Single().Configuration;
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "MLNet.Regularization.sln")))
        {
            root = root.Parent;
        }

        Assert.NotNull(root);
        string dll = Path.Combine(root!.FullName, "samples", "ImageClassification", "bin", configuration, "net10.0", "ImageClassification.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build the solution first.");
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (string a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("the image sample did not finish within 5 minutes.");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>What the image prediction engine returns.</summary>
    public sealed class ImagePrediction
    {
        public string PredictedLabel { get; set; } = "";

        public float[] Score { get; set; } = [];
    }

    [Fact]
    public void Interleaved_pixels_are_refused_naming_the_extractpixels_setting()
    {
        var ml = new MLContext(seed: 1);
        var options = new RegularizedNetworkOptions { Layers = SmallCnn(), FeatureColumnName = "Pixels", Epochs = 1 };
        var pipeline = Pixels(ml, interleave: true).Append(ml.Transforms.Conversion.MapValueToKey("Label"))
            .Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(options));
        var e = Assert.Throws<ArgumentException>(() => pipeline.Fit(Load(ml, files.Train.Take(50))));
        Assert.Contains("features column 'Pixels' holds images laid out as height × width × channels [28, 28, 1] (ExtractPixels with interleavePixelColors: true)", e.Message);
        Assert.Contains("use ExtractPixels(..., interleavePixelColors: false)", e.Message);
    }

    [Fact]
    public void A_wrong_channel_count_is_refused_naming_the_colors_to_extract()
    {
        var ml = new MLContext(seed: 1);
        var options = new RegularizedNetworkOptions { Layers = SmallCnn(), FeatureColumnName = "Pixels", Epochs = 1, InputShape = [1, 28, 28] };
        var pipeline = Pixels(ml, colors: ImagePixelExtractingEstimator.ColorBits.Rgb).Append(ml.Transforms.Conversion.MapValueToKey("Label"))
            .Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(options));
        var e = Assert.Throws<ArgumentException>(() => pipeline.Fit(Load(ml, files.Train.Take(50))));
        Assert.Contains("holds 3-channel images [3, 28, 28], but the network reads 1-channel images [1, 28, 28]", e.Message);
        Assert.Contains("ColorBits.Red", e.Message);
    }

    [Fact]
    public void Scoring_images_of_another_layout_is_refused_too()
    {
        var ml = new MLContext(seed: 1);
        var options = new RegularizedNetworkOptions { Layers = SmallCnn(), FeatureColumnName = "Pixels", Epochs = 1 };
        var train = Load(ml, files.Train.Take(100));
        var network = Pixels(ml).Append(ml.Transforms.Conversion.MapValueToKey("Label")).Fit(train).Transform(train);
        var transformer = ml.MulticlassClassification.Trainers.RegularizedNetwork(options).Fit(network);
        var interleaved = Pixels(ml, interleave: true).Fit(train).Transform(train);
        var e = Assert.Throws<ArgumentException>(() => transformer.Transform(interleaved));
        Assert.Contains("interleavePixelColors: false", e.Message);
    }

    [Fact]
    public void A_flat_vector_needs_an_input_shape_for_a_cnn()
    {
        var ml = new MLContext(seed: 1);
        var (train, _) = SampleData.LoadFashionMnistSmall();
        var rows = Enumerable.Range(0, 64).Select(i => new ImageRow { Features = train.Features.Span.Slice(i * 784, 784).ToArray(), Label = (uint)train.Labels![i] }).ToList();
        var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));
        var e = Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers.RegularizedNetwork(new RegularizedNetworkOptions { Layers = SmallCnn(), Epochs = 1 }).Fit(data));
        Assert.Contains("features column 'Features' is a flat vector of 784 values: set RegularizedNetworkOptions.InputShape (such as [1, 28, 28])", e.Message);

        var fitted = ml.MulticlassClassification.Trainers.RegularizedNetwork(new RegularizedNetworkOptions { Layers = SmallCnn(), Epochs = 1, InputShape = [1, 28, 28] }).Fit(data);
        Assert.Equal([1, 28, 28], fitted.Model.InputShape);
        Assert.Equal(64, fitted.Transform(data).GetColumn<float[]>("Score").Count());
    }

    [Fact]
    public void A_model_spec_file_describes_the_network()
    {
        var spec = ModelSpec.FromJson("""
            { "layers": [ { "type": "conv2d", "filters": 4, "kernel": 3 }, { "type": "relu" }, { "type": "global_avg_pool" } ],
              "training": { "epochs": 2, "batchSize": 32, "optimizer": "adamw", "weightDecay": 0.01, "normalization": "none", "seed": 9 } }
            """);
        var options = RegularizedNetworkOptions.FromSpec(spec);
        Assert.Equal(OptimizerKind.AdamW, options.Optimizer);
        Assert.Equal(0.01f, options.WeightDecay);
        Assert.Equal(9, options.Seed);
        Assert.Equal(3, options.Layers!.Count);
        var network = options.BuildNetwork(10);
        Assert.Equal(4, network.Layers.Count);

        // Every normalization a spec may name reaches the trainer, the per-channel one of image data included.
        foreach (var (name, kind) in new[] { ("none", NormalizationKind.None), ("minmax", NormalizationKind.MinMax), ("standard", NormalizationKind.Standard), ("channel", NormalizationKind.PerChannel) })
        {
            spec.Training.Normalization = name;
            Assert.Equal(kind, RegularizedNetworkOptions.FromSpec(spec).Normalization);
        }

        Assert.Equal(4, TrainingSpec.Normalizations.Count);
    }
}
