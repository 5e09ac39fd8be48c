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
public sealed class ParityFixture : ExportedModelsFixture
{
    public ParityFixture() => ExportAndRun(OnnxTestModels.Cases.Select(c => (
        c.Name, OnnxTestModels.Train(c), c.Options, OnnxTestModels.Inputs(c.Task, Rows),
        c.Task == TaskKind.Regression ? new[] { c.Options.ScoreName } : new[] { c.Options.ProbabilitiesName, c.Options.LabelName })));
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
