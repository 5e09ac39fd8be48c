using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.Tests.Onnx;

/// <summary>Monte Carlo exports of each dropout kind, sampled 200 times in one ONNX Runtime session each (and
/// once more in a second session, to see what the seed does), all in process.</summary>
public sealed class MonteCarloFixture : IDisposable
{
    public const int Runs = 200;

    // Moderate rates keep the standard error of a 200-run mean below 0.01 for the seeded cases (which are
    // deterministic: ONNX Runtime then draws the same samples every time) and near 0.004 for the unseeded case,
    // which thereby has five standard errors of margin within the 0.02 tolerance and is not flaky.
    public static readonly (string Name, Func<Network> Network, int? Seed)[] Cases =
    [
        ("dropout_inverted", () => Network.Sequential(new Dense(32), new ReLU(), new Dropout(0.15f), new Dense(OnnxTestModels.Classes)), 7),
        ("dropout_classic", () => Network.Sequential(new Dense(32), new ReLU(), new Dropout(0.15f, DropoutVariant.Classic), new Dense(OnnxTestModels.Classes)), 7),
        ("gaussian_dropout", () => Network.Sequential(new Dense(32), new ReLU(), new GaussianDropout(0.15f), new Dense(OnnxTestModels.Classes)), 7),
        ("dropconnect", () => Network.Sequential(new DropConnectDense(32, 0.15f), new ReLU(), new Dense(OnnxTestModels.Classes)), 7),
        ("all_kinds_unseeded", () => Network.Sequential(
            new Dense(32), new BatchNorm(), new ReLU(), new Dropout(0.05f), new DropConnectDense(16, 0.05f), new GaussianDropout(0.05f),
            new ReLU(), new Dropout(0.05f, DropoutVariant.Classic), new Dense(OnnxTestModels.Classes)), null),
    ];

    private readonly TempFolder _folder = new();

    public MonteCarloFixture()
    {
        var jobs = new List<OrtJob>();
        var x = OnnxTestModels.Inputs(TaskKind.Multiclass, 1);
        foreach (var (name, network, seed) in Cases)
        {
            var model = OnnxTestModels.Train(new ExportCase(name, TaskKind.Multiclass, network, NormalizationKind.Standard, new()));
            string path = _folder.File($"{name}.mc.onnx");
            OnnxExporter.Export(model, path, new OnnxExportOptions { MonteCarlo = true, MonteCarloSeed = seed });
            Models[name] = (model, path, x);
            for (int session = 0; session < 2; session++)
            {
                jobs.Add(new OrtJob(path, x.Data, [1, OnnxTestModels.Features], "features", ["probabilities", "predicted_label"], session == 0 ? Runs : 3));
            }
        }

        Checker = OnnxTools.CheckModels(Models.Values.Select(m => m.Path).ToList());
        var results = OnnxTools.RunOnnxRuntime(jobs, _folder.Path);
        for (int i = 0; i < Cases.Length; i++)
        {
            Samples[Cases[i].Name] = OnnxTools.Floats(results[2 * i]["probabilities"]);
            SecondSession[Cases[i].Name] = OnnxTools.Floats(results[2 * i + 1]["probabilities"]);
        }
    }

    public Dictionary<string, (TrainedModel Model, string Path, Tensor Input)> Models { get; } = new();

    public Dictionary<string, string> Checker { get; }

    /// <summary>Runs × K probabilities from the first session.</summary>
    public Dictionary<string, float[]> Samples { get; } = new();

    /// <summary>The first three runs of a second session.</summary>
    public Dictionary<string, float[]> SecondSession { get; } = new();

    public void Dispose() => _folder.Dispose();
}

public class MonteCarloExportTests(MonteCarloFixture fixture, ITestOutputHelper output) : IClassFixture<MonteCarloFixture>
{
    private const int K = OnnxTestModels.Classes;

    public static TheoryData<string> CaseNames => new(MonteCarloFixture.Cases.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Repeated_runs_differ_and_average_to_the_CSharp_Monte_Carlo_mean(string name)
    {
        var (model, path, x) = fixture.Models[name];
        Assert.True(fixture.Checker[path] == "OK", $"onnx checker rejected the Monte Carlo export of {name}: {fixture.Checker[path]}");
        var samples = fixture.Samples[name];
        Assert.Equal(MonteCarloFixture.Runs * K, samples.Length);

        var distinct = Enumerable.Range(0, MonteCarloFixture.Runs).Select(r => string.Join(",", samples.AsSpan(r * K, K).ToArray())).Distinct().Count();
        Assert.True(distinct > MonteCarloFixture.Runs / 2, $"{name}: only {distinct} distinct outputs in {MonteCarloFixture.Runs} runs");

        var mean = new double[K];
        for (int r = 0; r < MonteCarloFixture.Runs; r++)
        {
            Assert.Equal(1.0, samples.AsSpan(r * K, K).ToArray().Sum(v => (double)v), 4);
            for (int k = 0; k < K; k++)
            {
                mean[k] += samples[r * K + k] / (double)MonteCarloFixture.Runs;
            }
        }

        // Many C# samples, so that the comparison measures ONNX Runtime's 200-run mean, not C#'s own noise.
        var csharp = model.PredictWithUncertainty(x, samples: 4000, seed: 3).MeanProbabilities;
        double worst = mean.Select((m, k) => Math.Abs(m - csharp[k])).Max();
        double standardError = Enumerable.Range(0, K).Max(k => Math.Sqrt(Enumerable.Range(0, MonteCarloFixture.Runs).Sum(r => Math.Pow(samples[r * K + k] - mean[k], 2)) / MonteCarloFixture.Runs / MonteCarloFixture.Runs));
        output.WriteLine($"{name}: ORT mean [{string.Join(", ", mean.Select(m => m.ToString("F4")))}], C# mean [{string.Join(", ", csharp.Select(m => m.ToString("F4")))}], max |Δ| {worst:F4}, largest standard error of the ORT mean {standardError:F4}, {distinct} distinct runs");
        Assert.True(worst <= 0.02, $"{name}: ONNX Runtime's Monte Carlo mean differs from C#'s by {worst:F4}");

        // The samples spread visibly: the noise is not negligibly small.
        Assert.True(samples.Max() - samples.Min() > 0.01f);
    }

    [Fact]
    public void A_seeded_export_repeats_its_samples_in_a_new_session_and_an_unseeded_one_does_not()
    {
        var seeded = fixture.Samples["dropout_inverted"].AsSpan(0, 3 * K).ToArray();
        Assert.Equal(seeded, fixture.SecondSession["dropout_inverted"]);
        var unseeded = fixture.Samples["all_kinds_unseeded"].AsSpan(0, 3 * K).ToArray();
        Assert.NotEqual(unseeded, fixture.SecondSession["all_kinds_unseeded"]);
    }

    [Fact]
    public void Monte_Carlo_graph_has_active_dropout_nodes_and_Gaussian_noise()
    {
        string[] Ops(string name) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.Models[name].Path)).Graph.Node.Select(n => n.OpType).ToArray();
        Assert.Equal(["Sub", "Mul", "Gemm", "Relu", "Dropout", "Cast", "Mul", "Mul", "Gemm", "Softmax", "ArgMax"], Ops("dropout_inverted"));
        Assert.Equal(["Sub", "Mul", "Gemm", "Relu", "Dropout", "Cast", "Mul", "Gemm", "Softmax", "ArgMax"], Ops("dropout_classic"));
        Assert.Equal(["Sub", "Mul", "Gemm", "Relu", "RandomNormalLike", "Mul", "Gemm", "Softmax", "ArgMax"], Ops("gaussian_dropout"));
        Assert.Equal(["Sub", "Mul", "Dropout", "Cast", "Mul", "Gemm", "Relu", "Gemm", "Softmax", "ArgMax"], Ops("dropconnect"));

        // The batch norm directly after the first Dense is folded into it in the Monte Carlo graph too.
        Assert.DoesNotContain("BatchNormalization", Ops("all_kinds_unseeded"));
    }
}
