using System.Diagnostics;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Reporting;

/// <summary>Issue 15: a failing export named only its temporary file, and processes killed during an export left
/// orphaned temporary files beside the target.</summary>
public sealed class AtomicFileTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static readonly Lazy<TrainedModel> Model = new(() => new Trainer(new TrainerOptions { Epochs = 1 }).Fit(
        Network.Sequential(new Dense(4), new Dense(3)), TestData.Blobs(30, 5, 3, 1)));

    [Fact]
    public void A_failing_export_names_the_target_file()
    {
        string target = _folder.File("model.onnx");
        Directory.CreateDirectory(target); // the rename over the target fails: it is a folder
        var error = Assert.Throws<IOException>(() => OnnxExporter.Export(Model.Value, target));
        Assert.Contains($"cannot write '{target}'", error.Message);
        Assert.Empty(Directory.GetFiles(_folder.Path, "*.tmp"));
    }

    [Fact]
    public void Temporary_files_of_dead_processes_are_deleted_by_the_next_write()
    {
        string target = _folder.File("model.onnx");
        int dead = DeadProcessId();
        string orphan = _folder.WriteBytes($".model.onnx.{dead}.{Guid.NewGuid():N}.tmp", new byte[1000]);
        string live = _folder.WriteBytes($".model.onnx.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp", new byte[10]);
        string other = _folder.WriteBytes($".other.onnx.{dead}.{Guid.NewGuid():N}.tmp", new byte[10]);

        OnnxExporter.Export(Model.Value, target);

        Assert.False(File.Exists(orphan), "the dead writer's temporary file is still there");
        Assert.True(File.Exists(live), "a temporary file of a running process (maybe mid-write) was deleted");
        Assert.True(File.Exists(other), "another target's temporary file was deleted");
        Assert.True(File.Exists(target));
    }

    /// <summary>The id of a process that has exited.</summary>
    internal static int DeadProcessId()
    {
        using var process = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        process.WaitForExit();
        return process.Id;
    }
}
