using System.Globalization;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using Xunit;

namespace MLNet.Regularization.Cli.Tests;

/// <summary>Issue 15: Ctrl+C writes a checkpoint, a killed run leaves one behind, and 'train --resume' finishes the
/// run with the same weights, bit for bit, as a run that was never interrupted.</summary>
public sealed class ResumeTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private const int Epochs = 80;

    // Dropout draws masks, so the mask stream's position must survive the interruption too.
    private static string[] Train(string model, params string[] extra) =>
        ["train", Tool.TrainCsv, .. Tool.Quick, "--dropout", "0.2", "--epochs", Epochs.ToString(CultureInfo.InvariantCulture), "--output", model, .. extra];

    private static readonly Lazy<string> Reference = new(() =>
    {
        string folder = Path.Combine(Path.GetTempPath(), "mlnetreg-cli-reference-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        string model = Path.Combine(folder, "reference.onnx");
        var r = Tool.Run(Train(model));
        Assert.True(r.ExitCode == 0, r.ToString());
        return model;
    });

    private static void AssertSameWeights(string expectedModel, string actualModel)
    {
        var expected = OnnxImporter.Load(expectedModel).Network;
        var actual = OnnxImporter.Load(actualModel).Network;
        Assert.Equal(expected.Layers.Count, actual.Layers.Count);
        for (int i = 0; i < expected.Layers.Count; i++)
        {
            var a = Tensors(expected.Layers[i]);
            var b = Tensors(actual.Layers[i]);
            Assert.Equal(a.Count, b.Count);
            for (int t = 0; t < a.Count; t++)
            {
                Assert.True(a[t].SequenceEqual(b[t]), $"layer {i} tensor {t} differs");
            }
        }

        static List<int[]> Tensors(Layer layer) =>
            layer.Parameters.Select(p => p.Value).Concat(layer.State).Select(t => t.Span.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray()).ToList();
    }

    [Fact]
    public void Cancelled_at_an_epoch_boundary_then_resume_alone_gives_the_uninterrupted_weights()
    {
        string model = _folder.File("model.onnx");
        using var cancel = new CancellationTokenSource();
        var stdout = new CancelOnLine(3, cancel);
        var stderr = new StringWriter();
        int code = Program.Run(Train(model), stdout, stderr, cancel.Token);
        Assert.True(code == Program.Cancelled, $"exit {code}\n{stdout}\n{stderr}");
        string checkpoint = _folder.File("model.checkpoint");
        Assert.Contains($"wrote checkpoint {checkpoint}", stderr.ToString());
        Assert.False(File.Exists(model));

        // From another folder: the stored command line holds absolute paths.
        var resumed = Tool.Run("train", "--resume", checkpoint);
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains("Resuming from", resumed.Out);
        AssertSameWeights(Reference.Value, model);
        Assert.False(File.Exists(checkpoint), "the checkpoint of a completed run is left behind");
    }

    [Fact]
    public void Sigint_mid_training_writes_a_checkpoint_that_resumes_bit_for_bit()
    {
        string model = _folder.File("model.onnx");
        // The child holds after epoch 2 until the signal arrives, so it cannot finish first on a busy machine.
        var child = Tool.RunChild(Train(model), (process, line) =>
        {
            if (IsEpoch(line, 2))
            {
                Tool.Signal(process, "-INT");
                return true;
            }

            return false;
        }, new Dictionary<string, string> { ["MLNET_REG_TEST_HOLD_AFTER"] = "epoch:2" });
        Assert.True(child.ExitCode == 130, child.ToString());
        Assert.Contains("wrote checkpoint", child.Err);
        var resumed = Tool.Run([.. Train(model), "--resume", _folder.File("model.checkpoint")]);
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        AssertSameWeights(Reference.Value, model);
    }

    [Fact]
    public void Kill_9_mid_training_then_resume_gives_the_uninterrupted_weights_and_leaves_no_temporary_file()
    {
        string model = _folder.File("model.onnx");
        var child = Tool.RunChild(Train(model, "--checkpoint-every", "1"), (process, line) =>
        {
            if (IsEpoch(line, 5))
            {
                process.Kill(); // SIGKILL
                return true;
            }

            return false;
        }, new Dictionary<string, string> { ["MLNET_REG_TEST_HOLD_AFTER"] = "epoch:5" });
        Assert.True(child.ExitCode == 137, $"expected 137 (killed)\n{child}");
        string checkpoint = _folder.File("model.checkpoint");
        Assert.True(File.Exists(checkpoint), child.ToString());

        var resumed = Tool.Run("train", "--resume", checkpoint);
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        AssertSameWeights(Reference.Value, model);
        Assert.Empty(Directory.GetFiles(_folder.Path, "*.tmp"));
    }

    [Fact]
    public void Resume_refuses_a_changed_command_line_and_a_file_that_is_no_checkpoint()
    {
        string model = _folder.File("model.onnx");
        using var cancel = new CancellationTokenSource();
        Assert.Equal(Program.Cancelled, Program.Run(Train(model), new CancelOnLine(1, cancel), new StringWriter(), cancel.Token));
        var changed = Tool.Run([.. Train(model, "--seed", "9"), "--resume", _folder.File("model.checkpoint")]);
        Assert.True(changed.ExitCode == Program.UsageError, changed.ToString());
        Assert.Contains("seed=1", changed.Err);

        var notCheckpoint = Tool.Run("train", "--resume", Tool.TrainCsv);
        Assert.True(notCheckpoint.ExitCode == Program.DataError, notCheckpoint.ToString());
        Assert.Contains("not a training checkpoint", notCheckpoint.Err);

        var nothing = Tool.Run("train");
        Assert.True(nothing.ExitCode == Program.UsageError, nothing.ToString());
        Assert.Contains("--resume", nothing.Err);
    }

    /// <summary>Whether a progress line reports epoch <paramref name="epoch"/> ("epoch   3/150  train loss ...").</summary>
    private static bool IsEpoch(string line, int epoch) =>
        line.StartsWith("epoch ", StringComparison.Ordinal) && line[6..].TrimStart().StartsWith($"{epoch}/", StringComparison.Ordinal);

    /// <summary>Captures output and cancels when the line of an epoch is written (Ctrl+C at a chosen point).</summary>
    private sealed class CancelOnLine(int epoch, CancellationTokenSource cancel) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value is not null && IsEpoch(value, epoch))
            {
                cancel.Cancel();
            }
        }
    }
}
