using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.Tests.Onnx;

/// <summary>Trains and exports the whole matrix once, then runs every model through the ONNX checker (one python
/// process) and ONNX Runtime (one node process).</summary>
public sealed class ParityFixture : IDisposable
{
    public const int Rows = 128;

    private readonly TempFolder _folder = new();

    public ParityFixture()
    {
        var jobs = new List<OrtJob>();
        foreach (var c in OnnxTestModels.Cases)
        {
            var model = OnnxTestModels.Train(c);
            string path = _folder.File($"{c.Name}.onnx");
            OnnxExporter.Export(model, path, c.Options);
            var x = OnnxTestModels.Inputs(c.Task, Rows);
            string[] outputs = c.Task == TaskKind.Regression ? [c.Options.ScoreName] : [c.Options.ProbabilitiesName, c.Options.LabelName];
            jobs.Add(new OrtJob(path, x.Data, [Rows, OnnxTestModels.Features], c.Options.InputName, outputs));
            Models[c.Name] = (model, path, x);
        }

        Checker = OnnxTools.CheckModels(jobs.Select(j => j.Model).ToList());
        var results = OnnxTools.RunOnnxRuntime(jobs, _folder.Path);
        for (int i = 0; i < jobs.Count; i++)
        {
            Outputs[OnnxTestModels.Cases[i].Name] = results[i];
        }
    }

    public Dictionary<string, (TrainedModel Model, string Path, Tensor Inputs)> Models { get; } = new();

    public Dictionary<string, string> Checker { get; }

    public Dictionary<string, Dictionary<string, byte[]>> Outputs { get; } = new();

    public void Dispose() => _folder.Dispose();
}

public class OnnxRuntimeParityTests(ParityFixture fixture, ITestOutputHelper output) : IClassFixture<ParityFixture>
{
    public static TheoryData<string> CaseNames => new(OnnxTestModels.Cases.Select(c => c.Name));

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
        var c = OnnxTestModels.Cases.Single(k => k.Name == name);
        var (model, _, x) = fixture.Models[name];
        var outputs = fixture.Outputs[name];
        if (c.Task == TaskKind.Regression)
        {
            var expected = model.PredictValues(x);
            var actual = OnnxTools.Floats(outputs[c.Options.ScoreName]);
            Assert.Equal(expected.Length, actual.Length);
            double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a) / Math.Max(1.0, Math.Abs(e))).Max();
            output.WriteLine($"{name}: largest relative score difference {worst:E2}");
            Assert.True(worst <= 1e-4, $"{name}: largest relative score difference {worst:E2}");
            return;
        }

        var probabilities = model.PredictProbabilities(x);
        var ortProbabilities = OnnxTools.Floats(outputs[c.Options.ProbabilitiesName]);
        Assert.Equal(probabilities.Length, ortProbabilities.Length);
        Assert.Equal(ParityFixture.Rows * model.ProbabilityWidth, ortProbabilities.Length);
        double maxDelta = probabilities.Zip(ortProbabilities, (e, a) => Math.Abs(e - a)).Max();
        output.WriteLine($"{name}: max |Δ probability| = {maxDelta:E2}");
        Assert.True(maxDelta <= 1e-5, $"{name}: max |Δ probability| = {maxDelta:E2}");

        var labels = model.PredictLabels(x);
        var ortLabels = OnnxTools.Int64s(outputs[c.Options.LabelName]);
        Assert.Equal(labels.Select(l => (long)l), ortLabels);

        // The models are not trivial: they do not predict one class for everything.
        Assert.True(labels.Distinct().Count() > 1, $"{name}: every input got the same label");
    }

    [Fact]
    public void Batch_norm_is_folded_into_the_gemm_unless_asked_not_to()
    {
        string[] Ops(string name) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.Models[name].Path)).Graph.Node.Select(n => n.OpType).ToArray();

        // The batch norm after Tanh follows no Dense and stays a node in both forms.
        Assert.Equal(1, Ops("batch_norm_folded").Count(o => o == "BatchNormalization"));
        Assert.Equal(3, Ops("batch_norm_unfolded").Count(o => o == "BatchNormalization"));
        Assert.Equal(3, Ops("batch_norm_folded").Count(o => o == "Gemm"));
        Assert.DoesNotContain("Dropout", Ops("everything"));
        Assert.DoesNotContain("RandomNormalLike", Ops("everything"));
        Assert.Equal(["Sub", "Mul", "Gemm", "Relu", "Gemm", "Softmax", "ArgMax"], Ops("relu"));
        Assert.Equal(["Gemm", "Relu", "Gemm", "Softmax", "ArgMax"], Ops("normalization_none"));
        Assert.Equal(["Sub", "Mul", "Gemm", "Relu", "Gemm", "Sigmoid", "Sub", "Concat", "ArgMax"], Ops("binary"));
    }
}
