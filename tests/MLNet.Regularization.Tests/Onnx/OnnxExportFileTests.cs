using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Onnx;

public class OnnxExportFileTests
{
    private static readonly Lazy<TrainedModel> Model = new(() => new Trainer(new TrainerOptions { Epochs = 1 }).Fit(
        Network.Sequential(new Dense(8), new ReLU(), new Dense(3)), TestData.Blobs(60, 5, 3, 1)));

    [Fact]
    public void Export_into_a_missing_folder_fails_and_writes_nothing()
    {
        using var folder = new TempFolder();
        string path = Path.Combine(folder.Path, "no-such-folder", "model.onnx");
        var e = Assert.Throws<DirectoryNotFoundException>(() => OnnxExporter.Export(Model.Value, path));
        Assert.Contains("no-such-folder", e.Message);
        Assert.False(Directory.Exists(Path.Combine(folder.Path, "no-such-folder")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.Path));
    }

    [Fact]
    public void A_failure_in_the_middle_of_writing_leaves_the_existing_file_untouched_and_no_temporary_file()
    {
        using var folder = new TempFolder();
        string path = folder.WriteText("model.onnx", "the previous model");
        OnnxExporter.MidWriteHook.Value = () => throw new IOException("disk full (simulated)");
        try
        {
            var e = Assert.Throws<IOException>(() => OnnxExporter.Export(Model.Value, path));
            Assert.Equal($"cannot write '{path}': disk full (simulated)", e.Message); // the target, not the temporary file
            Assert.Equal("disk full (simulated)", e.InnerException!.Message);
        }
        finally
        {
            OnnxExporter.MidWriteHook.Value = null;
        }

        Assert.Equal("the previous model", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(folder.Path));

        // Without the failure the export replaces the file, again leaving nothing else behind.
        OnnxExporter.Export(Model.Value, path);
        Assert.Equal(OnnxExporter.ExportToBytes(Model.Value), File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(folder.Path));
    }

    [Fact]
    public void A_layer_without_an_ONNX_form_is_named()
    {
        var net = Network.Sequential(new Dense(4), new Doubling(), new Dense(3)).Build([5], 1);
        var model = new TrainedModel(net, null, new TrainingHistory([], 0, StopReason.Completed), TaskKind.Multiclass, 3, 0, null, 0, "");
        var e = Assert.Throws<NotSupportedException>(() => OnnxExporter.ExportToBytes(model));
        Assert.Contains("Doubling has no ONNX form", e.Message);
    }

    [Fact]
    public void Monte_Carlo_export_without_any_dropout_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => OnnxExporter.ExportToBytes(Model.Value, new OnnxExportOptions { MonteCarlo = true }));
        Assert.Contains("Monte Carlo export needs a dropout", e.Message);
    }

    [Fact]
    public void Tensor_names_must_be_given_and_distinct()
    {
        Assert.Contains("InputName", Assert.Throws<ArgumentException>(() => OnnxExporter.ExportToBytes(Model.Value, new OnnxExportOptions { InputName = " " })).Message);
        var e = Assert.Throws<ArgumentException>(() => OnnxExporter.ExportToBytes(Model.Value, new OnnxExportOptions { LabelName = "probabilities" }));
        Assert.Contains("'probabilities'", e.Message);
        Assert.Equal(17, new OnnxExportOptions().Opset);
        Assert.Equal(8, new OnnxExportOptions().IrVersion);
    }

    /// <summary>A layer the exporter does not know: y = 2x.</summary>
    private sealed class Doubling : Layer
    {
        public override Tensor Forward(Tensor x, ForwardContext ctx)
        {
            var y = ctx.Buffer(this, 0, x.Shape);
            for (int i = 0; i < x.Length; i++)
            {
                y.Data[i] = 2 * x.Data[i];
            }

            return y;
        }

        public override Tensor Backward(Tensor dy, ForwardContext ctx) => dy;

        protected internal override Layer CreateUnbuiltCopy() => new Doubling();

        protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init) => inputShape.ToArray();
    }
}
