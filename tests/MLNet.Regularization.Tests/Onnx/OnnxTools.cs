using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Onnx;

/// <summary>One model to run in ONNX Runtime: raw float32 features in, named outputs out, <c>Runs</c> times.</summary>
internal sealed record OrtJob(string Model, float[] Input, int[] Shape, string InputName, string[] Outputs, int Runs = 1);

/// <summary>
/// The external tools of the export tests: the real ONNX Runtime (the Microsoft.ML.OnnxRuntime package, run in
/// process through its C# API) and the official ONNX checker (Debian python3-onnx, driven by onnx_check.py).
/// <c>./build.sh setup</c> installs the checker; when it is missing the tests fail saying so, never skip.
/// </summary>
internal static class OnnxTools
{
    private const string SetupHint = "run ./build.sh setup in the repository root (it installs Debian python3-onnx)";

    private static readonly Lazy<string> Root = new(FindRepositoryRoot);

    /// <summary>The repository root, found by walking up from the test binaries.</summary>
    public static string RepositoryRoot => Root.Value;

    private static string ScriptFolder => Path.Combine(RepositoryRoot, "tests", "MLNet.Regularization.Tests", "Onnx");

    /// <summary>Runs every job in ONNX Runtime, one session per job created once (so repeated Monte Carlo runs
    /// sample from one session, as a user's would), one thread per session; returns, per job, each output's raw
    /// tensor bytes (float32 or int64, all runs concatenated).</summary>
    public static IReadOnlyList<Dictionary<string, byte[]>> RunOnnxRuntime(IReadOnlyList<OrtJob> jobs, string workFolder)
    {
        _ = workFolder;
        var results = new List<Dictionary<string, byte[]>>();
        foreach (var job in jobs)
        {
            using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
            using var session = new InferenceSession(job.Model, options);
            var chunks = job.Outputs.ToDictionary(o => o, _ => new List<byte>());
            using var input = OrtValue.CreateTensorValueFromMemory(job.Input, job.Shape.Select(d => (long)d).ToArray());
            for (int run = 0; run < job.Runs; run++)
            {
                using var outputs = session.Run(new RunOptions(), [job.InputName], [input], job.Outputs);
                for (int i = 0; i < job.Outputs.Length; i++)
                {
                    var value = outputs[i];
                    var type = value.GetTensorTypeAndShape().ElementDataType;
                    byte[] bytes = type switch
                    {
                        TensorElementType.Float => MemoryMarshal.AsBytes(value.GetTensorDataAsSpan<float>()).ToArray(),
                        TensorElementType.Int64 => MemoryMarshal.AsBytes(value.GetTensorDataAsSpan<long>()).ToArray(),
                        _ => throw new InvalidOperationException($"output '{job.Outputs[i]}' of {job.Model} is {type}, not float32 or int64."),
                    };
                    chunks[job.Outputs[i]].AddRange(bytes);
                }
            }

            results.Add(chunks.ToDictionary(c => c.Key, c => c.Value.ToArray()));
        }

        return results;
    }

    /// <summary>Runs onnx.checker.check_model(full_check=True) on every model in one python process; returns
    /// "OK" or the checker's complaint per path.</summary>
    public static Dictionary<string, string> CheckModels(IReadOnlyList<string> paths)
    {
        const string Python = "/usr/bin/python3";
        if (!File.Exists(Python))
        {
            Assert.Fail($"{Python} is missing, so the ONNX checker cannot run: {SetupHint}.");
        }

        var (exit, stdout, stderr) = Run(Python, [Path.Combine(ScriptFolder, "onnx_check.py"), .. paths], "Debian's python3");
        if (stderr.Contains("No module named 'onnx'", StringComparison.Ordinal))
        {
            Assert.Fail($"python3-onnx is not installed: {SetupHint}.");
        }

        var results = new Dictionary<string, string>();
        foreach (string line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("OK ", StringComparison.Ordinal))
            {
                results[line[3..]] = "OK";
            }
            else if (line.StartsWith("FAIL ", StringComparison.Ordinal))
            {
                string rest = line[5..];
                string path = paths.First(p => rest.StartsWith(p, StringComparison.Ordinal));
                results[path] = rest[path.Length..].Trim();
            }
        }

        Assert.True(results.Count == paths.Count, $"the ONNX checker reported on {results.Count} of {paths.Count} models (exit {exit}):\n{stderr}\n{stdout}");
        return results;
    }

    public static float[] Floats(byte[] bytes) => MemoryMarshal.Cast<byte, float>(bytes).ToArray();

    public static long[] Int64s(byte[] bytes) => MemoryMarshal.Cast<byte, long>(bytes).ToArray();

    private static (int Exit, string Stdout, string Stderr) Run(string file, IReadOnlyList<string> arguments, string what)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Fail($"{what} cannot be started ({e.Message}): {SetupHint}.");
            throw;
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"{what} did not finish within 3 minutes.");
            }

            return (process.ExitCode, stdout.Result, stderr.Result);
        }
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "build.sh")) && File.Exists(Path.Combine(dir.FullName, "MLNet.Regularization.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"cannot find the repository root (build.sh, MLNet.Regularization.sln) above {AppContext.BaseDirectory}.");
    }
}

/// <summary>
/// Exports a set of trained models once, then runs all of them through the ONNX checker (one python process) and
/// ONNX Runtime (in process). The parity fixtures derive from it and describe only their cases.
/// </summary>
public abstract class ExportedModelsFixture : IDisposable
{
    public const int Rows = 128;

    private readonly TempFolder _folder = new();

    public Dictionary<string, (TrainedModel Model, string Path, Tensor Inputs)> Models { get; } = new();

    public Dictionary<string, string> Checker { get; private set; } = new();

    public Dictionary<string, Dictionary<string, byte[]>> Outputs { get; } = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>Exports each case, checks every file and runs every model on its inputs in ONNX Runtime.</summary>
    protected void ExportAndRun(IEnumerable<(string Name, TrainedModel Model, OnnxExportOptions Options, Tensor Inputs, string[] Outputs)> cases)
    {
        var jobs = new List<OrtJob>();
        var names = new List<string>();
        foreach (var (name, model, options, inputs, outputs) in cases)
        {
            string path = _folder.File($"{name}.onnx");
            OnnxExporter.Export(model, path, options);
            jobs.Add(new OrtJob(path, inputs.Data, inputs.Shape.ToArray(), options.InputName, outputs));
            Models[name] = (model, path, inputs);
            names.Add(name);
        }

        Checker = OnnxTools.CheckModels(jobs.Select(j => j.Model).ToList());
        var results = OnnxTools.RunOnnxRuntime(jobs, _folder.Path);
        for (int i = 0; i < jobs.Count; i++)
        {
            Outputs[names[i]] = results[i];
        }
    }
}
