using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.Tests.Onnx;

/// <summary>Monte Carlo exports of the learned-noise methods, sampled 200 times in one ONNX Runtime session each.</summary>
public sealed class LearnedNoiseMonteCarloFixture : IDisposable
{
    public const int Runs = 200;

    public static readonly (string Name, Func<Network> Network)[] Cases =
    [
        ("variational_dropout", () => Network.Sequential(new VariationalDense(32, initialRate: 0.1f), new ReLU(), new Dense(OnnxTestModels.Classes))),
        ("sparse_variational_dropout", () => Network.Sequential(new SparseVariationalDense(32), new ReLU(), new SparseVariationalDense(OnnxTestModels.Classes))),
        ("fast_dropout", () => Network.Sequential(new FastDropoutDense(32, 0.2f), new FastDropoutDense(OnnxTestModels.Classes, 0.1f, FastDropoutActivation.Linear))),
        ("standout", () => Network.Sequential(new StandoutDense(32), new Dense(OnnxTestModels.Classes))),
        ("concrete_dropout", () => Network.Sequential(new Dense(32), new ReLU(), new ConcreteDropout(0.15f), new Dense(OnnxTestModels.Classes))),
    ];

    private readonly TempFolder _folder = new();

    public LearnedNoiseMonteCarloFixture()
    {
        var jobs = new List<OrtJob>();
        var x = OnnxTestModels.Inputs(TaskKind.Multiclass, 1);
        foreach (var (name, network) in Cases)
        {
            var model = OnnxTestModels.Train(new ExportCase(name, TaskKind.Multiclass, network, NormalizationKind.Standard, new()));
            string path = _folder.File($"{name}.mc.onnx");
            OnnxExporter.Export(model, path, new OnnxExportOptions { MonteCarlo = true, MonteCarloSeed = 7 });
            Models[name] = (model, path, x);
            jobs.Add(new OrtJob(path, x.Data, [1, OnnxTestModels.Features], "features", ["probabilities"], Runs));
        }

        Checker = OnnxTools.CheckModels(Models.Values.Select(m => m.Path).ToList());
        var results = OnnxTools.RunOnnxRuntime(jobs, _folder.Path);
        for (int i = 0; i < Cases.Length; i++)
        {
            Samples[Cases[i].Name] = OnnxTools.Floats(results[i]["probabilities"]);
        }
    }

    public Dictionary<string, (TrainedModel Model, string Path, Tensor Input)> Models { get; } = new();

    public Dictionary<string, string> Checker { get; }

    public Dictionary<string, float[]> Samples { get; } = new();

    public void Dispose() => _folder.Dispose();
}

public class LearnedNoiseMonteCarloTests(LearnedNoiseMonteCarloFixture fixture, ITestOutputHelper output) : IClassFixture<LearnedNoiseMonteCarloFixture>
{
    private const int K = OnnxTestModels.Classes;

    public static TheoryData<string> CaseNames => new(LearnedNoiseMonteCarloFixture.Cases.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Monte_Carlo_export_samples_vary_and_average_to_the_CSharp_Monte_Carlo_mean(string name)
    {
        var (model, path, x) = fixture.Models[name];
        Assert.True(fixture.Checker[path] == "OK", $"onnx checker rejected the Monte Carlo export of {name}: {fixture.Checker[path]}");
        var samples = fixture.Samples[name];
        const int Runs = LearnedNoiseMonteCarloFixture.Runs;
        int distinct = Enumerable.Range(0, Runs).Select(r => string.Join(",", samples.AsSpan(r * K, K).ToArray())).Distinct().Count();
        Assert.True(distinct > Runs / 2, $"{name}: only {distinct} distinct outputs in {Runs} runs");
        var mean = Enumerable.Range(0, K).Select(k => Enumerable.Range(0, Runs).Average(r => (double)samples[r * K + k])).ToArray();
        var csharp = model.PredictWithUncertainty(x, samples: 4000, seed: 3);
        double worst = mean.Select((m, k) => Math.Abs(m - csharp.MeanProbabilities[k])).Max();
        output.WriteLine($"{name}: ORT mean [{string.Join(", ", mean.Select(m => m.ToString("F4")))}], C# mean [{string.Join(", ", csharp.MeanProbabilities.Select(m => m.ToString("F4")))}], max |Δ| {worst:F4}");
        Assert.True(worst <= 0.02, $"{name}: ONNX Runtime's Monte Carlo mean differs from C#'s by {worst:F4}");
        Assert.True(csharp.Variance.Max() > 0, "C#'s Monte Carlo passes should vary too");
    }

    [Fact]
    public void Monte_Carlo_graphs_sample_with_the_runtime_random_operators()
    {
        string[] Ops(string name) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.Models[name].Path)).Graph.Node.Select(n => n.OpType).ToArray();
        Assert.Contains("RandomNormalLike", Ops("variational_dropout"));
        Assert.Contains("RandomNormalLike", Ops("sparse_variational_dropout"));
        Assert.Contains("RandomNormalLike", Ops("fast_dropout"));
        Assert.Contains("RandomUniformLike", Ops("standout"));
        Assert.Equal(["Sub", "Mul", "Gemm", "Relu", "Dropout", "Cast", "Mul", "Mul", "Gemm", "Softmax", "ArgMax"], Ops("concrete_dropout"));

        // Concrete dropout's Monte Carlo form is dropout at its learned rate, and comes back as that.
        var concrete = (ConcreteDropout)fixture.Models["concrete_dropout"].Model.Network.Layers[2];
        var imported = OnnxImporter.Load(fixture.Models["concrete_dropout"].Path);
        Assert.Equal(concrete.Rate, Assert.IsType<Dropout>(imported.Network.Layers[2]).Rate);

        // Standout's Monte Carlo form comes back as Standout with its α and β, and samples again.
        var standout = (StandoutDense)fixture.Models["standout"].Model.Network.Layers[0];
        var reloaded = Assert.IsType<StandoutDense>(OnnxImporter.Load(fixture.Models["standout"].Path).Network.Layers[0]);
        Assert.Equal((standout.Alpha, standout.Beta), (reloaded.Alpha, reloaded.Beta));
    }

    [Fact]
    public void Structured_Bayesian_pruning_has_no_Monte_Carlo_ONNX_form_but_samples_in_CSharp()
    {
        var model = OnnxTestModels.Train(new ExportCase("sbp", TaskKind.Multiclass,
            () => Network.Sequential(new Dense(16), new ReLU(), new StructuredBayesianPruning(), new Dense(OnnxTestModels.Classes)), NormalizationKind.Standard, new()));
        var e = Assert.Throws<NotSupportedException>(() => OnnxExporter.ExportToBytes(model, new OnnxExportOptions { MonteCarlo = true }));
        Assert.Contains("inverse normal distribution function", e.Message);
        var prediction = model.PredictWithUncertainty(OnnxTestModels.Inputs(TaskKind.Multiclass, 4), samples: 20);
        Assert.True(prediction.Variance.Max() > 0);
    }
}
