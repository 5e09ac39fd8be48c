using Google.Protobuf;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.Tests.Onnx;

/// <summary>One convolutional network of the export matrix: its image shape, layers and export options.</summary>
public sealed record ConvExportCase(string Name, int[] ImageShape, Func<Network> Network, OnnxExportOptions Options, NormalizationKind Normalization = NormalizationKind.Standard)
{
    public override string ToString() => Name;
}

/// <summary>Small synthetic images and one-epoch conv nets for the export tests.</summary>
internal static class ConvOnnxModels
{
    public const int Classes = 4;

    private static readonly int[] Gray = [1, 12, 12];
    private static readonly int[] Rgb = [3, 8, 8];

    public static readonly ConvExportCase[] Cases =
    [
        new("conv_maxpool", Gray, () => Net(new Conv2D(4, 3, padding: 1), new ReLU(), new MaxPool2D(2), new Flatten(), new Dense(Classes)), new()),
        new("conv_bn_folded", Gray, ConvBatchNormNet, new()),
        new("conv_bn_unfolded", Gray, ConvBatchNormNet, new() { FoldBatchNorm = false }),
        new("conv_stride_same_dilation_gap", Rgb, () => Net(
            new Conv2D(6, 3, stride: 2, padding: "same"), new BatchNorm(), new ReLU(), new Conv2D(8, 3, dilation: 2, padding: 2), new ReLU(),
            new GlobalAveragePool(), new Dense(Classes)), new()),
        new("conv_rect_kernel_avgpool_padded", Gray, () => Net(
            new Conv2D(4, (3, 2), padding: new Padding2D(1, 0), useBias: false), new Tanh(), new AvgPool2D(3, stride: 2, padding: 1), new Flatten(), new Dense(Classes)), new()),
        new("conv_maxpool_same_stride", Rgb, () => Net(
            new Conv2D(5, 2, stride: 1), new ReLU(), new MaxPool2D(3, stride: 2, padding: "same"), new AvgPool2D((2, 1), stride: 1), new Flatten(), new Dense(Classes)), new(), NormalizationKind.MinMax),
        new("conv_normalization_none", Gray, () => Net(new Conv2D(3, 3, stride: 2), new BatchNorm(), new ReLU(), new Flatten(), new Dense(Classes)), new(), NormalizationKind.None),
        new("dropconnect_conv", Gray, () => Net(
            new DropConnectConv2D(4, 3, 0.3f), new BatchNorm(), new ReLU(), new MaxPool2D(2), new Flatten(), new Dense(Classes)), new()),
        new("dropconnect_conv_bn_unfolded", Gray, () => Net(
            new DropConnectConv2D(4, 3, 0.3f, useBias: false), new BatchNorm(), new ReLU(), new MaxPool2D(2), new Flatten(), new Dense(Classes)), new() { FoldBatchNorm = false }),
        new("training_only_regularizers", Rgb, () => Net(
            new Cutout(3), new Conv2D(6, 3, padding: 1), new BatchNorm(), new ReLU(), new SpatialDropout2D(0.2f), new DropBlock(0.1f, 2),
            new MaxDrop(0.1f), new MaxPoolingDropout(0.2f, 2, inference: MaxPoolingDropoutInference.Max), new Conv2D(8, 3), new ReLU(),
            new MaxDrop(0.1f, MaxDropMode.ChannelWise), new GlobalAveragePool(), new Dropout(0.3f), new Dense(Classes)), new()),
    ];

    public static Network ConvBatchNormNet() => Net(
        new Conv2D(4, 3, useBias: false), new BatchNorm(), new ReLU(), new AvgPool2D(2), new Conv2D(6, 3, padding: 1), new BatchNorm(), new ReLU(),
        new Flatten(), new BatchNorm(), new Dense(Classes));

    /// <summary>Images whose class is the brightest quadrant and, for global pooling, the overall brightness, over
    /// noise (offset per channel, so that normalization matters).</summary>
    public static Dataset Data(int[] shape, int n, int seed)
    {
        var rng = new Random(seed);
        int c = shape[0], h = shape[1], w = shape[2], size = c * h * w;
        var x = new float[n * size];
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            int label = labels[i] = rng.Next(Classes);
            for (int ch = 0; ch < c; ch++)
            {
                for (int r = 0; r < h; r++)
                {
                    for (int col = 0; col < w; col++)
                    {
                        int quadrant = (r < h / 2 ? 0 : 2) + (col < w / 2 ? 0 : 1);
                        float signal = quadrant == label ? 1.5f : 0f;
                        x[i * size + (ch * h + r) * w + col] = 3f + ch + 0.5f * label + signal + (float)(rng.NextDouble() * 2 - 1);
                    }
                }
            }
        }

        return Dataset.ForClassification(x, shape, labels, Classes);
    }

    public static Tensor Inputs(ConvExportCase c, int n) => Data(c.ImageShape, n, 99).Features;

    /// <summary>One epoch: non-trivial weights and batch-norm statistics.</summary>
    public static TrainedModel Train(ConvExportCase c) => new Trainer(new TrainerOptions
    {
        Epochs = 1, BatchSize = 32, Seed = 7, Normalization = c.Normalization, MaxThreads = 1,
        Optimizer = new Adam { LearningRate = 0.01f },
    }).Fit(c.Network(), Data(c.ImageShape, 256, 3));

    private static Network Net(params Layer[] layers) => Network.Sequential(layers);
}

/// <summary>Trains and exports the conv matrix once, then runs the checker and ONNX Runtime over all of it.</summary>
public sealed class ConvParityFixture : ExportedModelsFixture
{
    public ConvParityFixture() => ExportAndRun(ConvOnnxModels.Cases.Select(c => (
        c.Name, ConvOnnxModels.Train(c), c.Options, ConvOnnxModels.Inputs(c, Rows), new[] { c.Options.ProbabilitiesName, c.Options.LabelName })));
}

public class ConvOnnxRuntimeParityTests(ConvParityFixture fixture, ITestOutputHelper output) : IClassFixture<ConvParityFixture>
{
    public static TheoryData<string> CaseNames => new(ConvOnnxModels.Cases.Select(c => c.Name));

    private string[] Ops(string name) =>
        ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.Models[name].Path)).Graph.Node.Select(n => n.OpType).ToArray();

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Onnx_checker_accepts_the_model(string name)
    {
        string path = fixture.Models[name].Path;
        Assert.True(fixture.Checker[path] == "OK", $"onnx.checker.check_model(full_check=True) rejected {name}: {fixture.Checker[path]}");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Onnx_Runtime_reproduces_the_CSharp_predictions(string name)
    {
        var (model, _, x) = fixture.Models[name];
        var outputs = fixture.Outputs[name];
        var probabilities = model.PredictProbabilities(x);
        var ortProbabilities = OnnxTools.Floats(outputs["probabilities"]);
        Assert.Equal(ConvParityFixture.Rows * model.ProbabilityWidth, ortProbabilities.Length);
        double maxDelta = probabilities.Zip(ortProbabilities, (e, a) => Math.Abs(e - a)).Max();
        output.WriteLine($"{name}: max |Δ probability| = {maxDelta:E2}");
        Assert.True(maxDelta <= 1e-5, $"{name}: max |Δ probability| = {maxDelta:E2}");

        var labels = model.PredictLabels(x);
        Assert.Equal(labels.Select(l => (long)l), OnnxTools.Int64s(outputs["predicted_label"]));
        Assert.True(labels.Distinct().Count() > 1, $"{name}: every input got the same label");
    }

    [Fact]
    public void The_graphs_hold_the_expected_operators()
    {
        Assert.Equal(["Sub", "Mul", "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Softmax", "ArgMax"], Ops("conv_maxpool"));

        // Folded: the batch norms after a Conv disappear into it (the one after Flatten follows no Conv or Dense).
        Assert.Equal(1, Ops("conv_bn_folded").Count(o => o == "BatchNormalization"));
        Assert.Equal(3, Ops("conv_bn_unfolded").Count(o => o == "BatchNormalization"));
        Assert.Contains("AveragePool", Ops("conv_bn_folded"));
        Assert.Equal(["Sub", "Mul", "Conv", "Relu", "Conv", "Relu", "GlobalAveragePool", "Flatten", "Gemm", "Softmax", "ArgMax"], Ops("conv_stride_same_dilation_gap"));
        Assert.DoesNotContain("BatchNormalization", Ops("dropconnect_conv"));
        Assert.Contains("BatchNormalization", Ops("dropconnect_conv_bn_unfolded"));

        // Training-only regularizers leave nothing; max-pooling dropout with plain max is a MaxPool.
        Assert.Equal(["Sub", "Mul", "Conv", "Relu", "MaxPool", "Conv", "Relu", "GlobalAveragePool", "Flatten", "Gemm", "Softmax", "ArgMax"], Ops("training_only_regularizers"));
    }
}

public class ConvOnnxRoundTripTests
{
    private static int[] Bits(float[] v) => v.Select(BitConverter.SingleToInt32Bits).ToArray();

    public static TheoryData<string, bool> Variants()
    {
        var data = new TheoryData<string, bool>();
        foreach (var c in ConvOnnxModels.Cases)
        {
            data.Add(c.Name, true);
            data.Add(c.Name, false);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Export_then_import_predicts_bit_for_bit_the_same(string name, bool foldBatchNorm)
    {
        var c = ConvOnnxModels.Cases.Single(k => k.Name == name);
        var model = ConvOnnxModels.Train(c);
        var options = new OnnxExportOptions { FoldBatchNorm = foldBatchNorm };
        var imported = OnnxImporter.Load(OnnxExporter.ExportToBytes(model, options));
        var x = ConvOnnxModels.Inputs(c, 64);
        Assert.Equal(Bits(model.PredictProbabilities(x)), Bits(imported.PredictProbabilities(x)));
        Assert.Equal(model.PredictLabels(x), imported.PredictLabels(x));
        Assert.Equal(model.InputShape, imported.InputShape);

        // The imported network is the exported one, without the training-only layers; plain-max max-pooling dropout
        // comes back as the MaxPool2D it computes.
        var exported = InferenceFolding.ForInference(model.Network, foldBatchNorm);
        var expectedLayers = exported.Layers
            .Where(l => l is not (SpatialDropout2D or Cutout or DropBlock or MaxDrop or Dropout { Variant: DropoutVariant.Inverted }))
            .Select(l => l is MaxPoolingDropout ? "MaxPool2D" : l.Name);
        Assert.Equal(expectedLayers, imported.Network.Layers.Select(l => l.Name));
        Assert.Equal(
            exported.Layers.OfType<Conv2D>().Select(l => (l.Describe(), l.ResolvedPadding)),
            imported.Network.Layers.OfType<Conv2D>().Select(l => (l.Describe(), l.ResolvedPadding)));

        var again = OnnxImporter.Load(OnnxExporter.ExportToBytes(imported, options));
        Assert.Equal(imported.Network.Describe(), again.Network.Describe());
    }

    [Fact]
    public void Probabilistic_weighted_max_pooling_dropout_is_refused_with_a_pointer_to_the_max_option()
    {
        var model = ConvOnnxModels.Train(new ConvExportCase("pwp", [1, 12, 12],
            () => Network.Sequential(new Conv2D(2, 3), new ReLU(), new MaxPoolingDropout(0.2f), new Flatten(), new Dense(ConvOnnxModels.Classes)), new()));
        var e = Assert.Throws<NotSupportedException>(() => OnnxExporter.ExportToBytes(model));
        Assert.Contains("MaxPoolingDropoutInference.Max", e.Message);
    }

    [Theory]
    [InlineData("cutout")]
    [InlineData("dropblock")]
    [InlineData("maxdrop")]
    [InlineData("maxpooling")]
    [InlineData("dropconnect")]
    public void Monte_Carlo_export_of_a_convolutional_regularizer_is_refused(string kind)
    {
        Layer regularizer = kind switch
        {
            "cutout" => new Cutout(3),
            "dropblock" => new DropBlock(0.2f, 2),
            "maxdrop" => new MaxDrop(0.2f),
            "maxpooling" => new MaxPoolingDropout(0.2f, inference: MaxPoolingDropoutInference.Max),
            _ => new DropConnectConv2D(2, 1, 0.2f),
        };
        var model = new Trainer(new TrainerOptions { Epochs = 1, Seed = 1, MaxThreads = 1 }).Fit(
            Network.Sequential(new Conv2D(2, 3), regularizer, new Flatten(), new Dropout(0.2f), new Dense(ConvOnnxModels.Classes)),
            ConvOnnxModels.Data([1, 8, 8], 64, 1));
        var e = Assert.Throws<NotSupportedException>(() => OnnxExporter.ExportToBytes(model, new OnnxExportOptions { MonteCarlo = true }));
        Assert.Contains("Monte Carlo", e.Message);

        // Without Monte Carlo they export.
        Assert.NotEmpty(OnnxExporter.ExportToBytes(model));
    }
}

public class ConvOnnxImportErrorTests
{
    private static ModelProto Exported()
    {
        var c = ConvOnnxModels.Cases.Single(k => k.Name == "conv_maxpool");
        return ModelProto.Parser.ParseFrom(OnnxExporter.ExportToBytes(ConvOnnxModels.Train(c)));
    }

    private static string ImportError(ModelProto model) =>
        Assert.Throws<InvalidDataException>(() => OnnxImporter.Load(model.ToByteArray())).Message;

    [Fact]
    public void Asymmetric_pads_that_are_not_same_padding_are_refused()
    {
        var model = Exported();
        var conv = model.Graph.Node.First(n => n.OpType == "Conv");
        var pads = conv.Attribute.First(a => a.Name == "pads");
        pads.Ints[2] = 0; // top 1, bottom 0
        string message = ImportError(model);
        Assert.Contains($"node '{conv.Name}'", message);
        Assert.Contains("pads [1, 1, 0, 1]", message);
    }

    [Fact]
    public void Grouped_convolution_and_unequal_strides_are_refused()
    {
        var model = Exported();
        var conv = model.Graph.Node.First(n => n.OpType == "Conv");
        conv.Attribute.Add(new AttributeProto { Name = "group", Type = AttributeProto.Types.AttributeType.Int, I = 2 });
        Assert.Contains("group = 2", ImportError(model));

        model = Exported();
        var pool = model.Graph.Node.First(n => n.OpType == "MaxPool");
        pool.Attribute.First(a => a.Name == "strides").Ints[1] = 1;
        Assert.Contains("strides = [2, 1]", ImportError(model));
    }
}

/// <summary>Monte Carlo export of spatial dropout in a conv net: sampled 200 times in ONNX Runtime.</summary>
public class ConvMonteCarloExportTests(ITestOutputHelper output)
{
    private const int Runs = 200;
    private const int K = ConvOnnxModels.Classes;

    private static readonly ConvExportCase Case = new("spatial_mc", [1, 12, 12], () => Network.Sequential(
        new Conv2D(6, 3, padding: 1), new BatchNorm(), new ReLU(), new SpatialDropout2D(0.2f), new MaxPool2D(2), new Flatten(), new Dropout(0.1f), new Dense(K)), new());

    [Fact]
    public void Spatial_dropout_samples_in_ONNX_Runtime_around_the_CSharp_Monte_Carlo_mean_and_round_trips()
    {
        var model = ConvOnnxModels.Train(Case);
        using var folder = new TempFolder();
        string path = folder.File("spatial.mc.onnx");
        OnnxExporter.Export(model, path, new OnnxExportOptions { MonteCarlo = true, MonteCarloSeed = 5 });
        var ops = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph.Node.Select(n => n.OpType).ToArray();
        Assert.Equal(["Sub", "Mul", "Conv", "Relu", "GlobalAveragePool", "Dropout", "Cast", "Mul", "Mul", "MaxPool", "Flatten", "Dropout", "Cast", "Mul", "Mul", "Gemm", "Softmax", "ArgMax"], ops);
        Assert.Equal("OK", OnnxTools.CheckModels([path])[path]);

        var x = ConvOnnxModels.Inputs(Case, 1);
        var samples = OnnxTools.Floats(OnnxTools.RunOnnxRuntime([new OrtJob(path, x.Data, [1, .. Case.ImageShape], "features", ["probabilities", "predicted_label"], Runs)], folder.Path)[0]["probabilities"]);
        Assert.Equal(Runs * K, samples.Length);
        int distinct = Enumerable.Range(0, Runs).Select(r => string.Join(",", samples.AsSpan(r * K, K).ToArray())).Distinct().Count();
        Assert.True(distinct > Runs / 2, $"only {distinct} distinct outputs in {Runs} runs");
        var mean = Enumerable.Range(0, K).Select(k => Enumerable.Range(0, Runs).Average(r => (double)samples[r * K + k])).ToArray();
        var csharp = model.PredictWithUncertainty(x, samples: 4000, seed: 3).MeanProbabilities;
        double worst = mean.Select((m, k) => Math.Abs(m - csharp[k])).Max();
        output.WriteLine($"ORT mean [{string.Join(", ", mean.Select(m => m.ToString("F4")))}], C# mean [{string.Join(", ", csharp.Select(m => m.ToString("F4")))}], max |Δ| {worst:F4}");
        Assert.True(worst <= 0.02, $"ONNX Runtime's Monte Carlo mean differs from C#'s by {worst:F4}");

        // Re-import brings spatial dropout back with its rate; deterministic predictions stay bit-identical.
        var imported = OnnxImporter.Load(File.ReadAllBytes(path));
        Assert.Equal(0.2f, imported.Network.Layers.OfType<SpatialDropout2D>().Single().Rate);
        var many = ConvOnnxModels.Inputs(Case, 32);
        Assert.Equal(model.PredictProbabilities(many).Select(BitConverter.SingleToInt32Bits), imported.PredictProbabilities(many).Select(BitConverter.SingleToInt32Bits));
    }
}
