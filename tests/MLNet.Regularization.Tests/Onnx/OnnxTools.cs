using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Onnx;

/// <summary>One model to run in ONNX Runtime: raw float32 features in, named outputs out, <c>Runs</c> times.</summary>
internal sealed record OrtJob(string Model, float[] Input, int[] Shape, string InputName, string[] Outputs, int Runs = 1);

/// <summary>
/// The external tools of the export tests: the real ONNX Runtime (npm onnxruntime-node, driven by ort_run.js) and
/// the official ONNX checker (Debian python3-onnx, driven by onnx_check.py). Both are installed by
/// <c>./build.sh setup</c>; when they are missing the tests fail saying so, never skip.
/// </summary>
internal static class OnnxTools
{
    private const string SetupHint = "run ./build.sh setup in the repository root (it installs Debian python3-onnx and npm onnxruntime-node into tools/onnxruntime)";

    private static readonly Lazy<string> Root = new(FindRepositoryRoot);

    /// <summary>The repository root, found by walking up from the test binaries.</summary>
    public static string RepositoryRoot => Root.Value;

    private static string ScriptFolder => Path.Combine(RepositoryRoot, "tests", "MLNet.Regularization.Tests", "Onnx");

    private static string OnnxRuntimeModule => Path.Combine(RepositoryRoot, "tools", "onnxruntime", "node_modules", "onnxruntime-node");

    /// <summary>Runs every job in one node process; returns, per job, each output's bytes (all runs concatenated).</summary>
    public static IReadOnlyList<Dictionary<string, byte[]>> RunOnnxRuntime(IReadOnlyList<OrtJob> jobs, string workFolder)
    {
        if (!File.Exists(Path.Combine(OnnxRuntimeModule, "package.json")))
        {
            Assert.Fail($"ONNX Runtime for node is missing ({OnnxRuntimeModule}): {SetupHint}.");
        }

        var manifest = new List<object>();
        for (int i = 0; i < jobs.Count; i++)
        {
            var job = jobs[i];
            string input = Path.Combine(workFolder, $"job{i}.in.bin");
            File.WriteAllBytes(input, MemoryMarshal.AsBytes(job.Input.AsSpan()).ToArray());
            manifest.Add(new { model = job.Model, input, inputName = job.InputName, shape = job.Shape, runs = job.Runs, outputs = job.Outputs, @out = Path.Combine(workFolder, $"job{i}.out") });
        }

        string manifestPath = Path.Combine(workFolder, "manifest.json");
        File.WriteAllText(manifestPath, JsonSerializer.Serialize(new { jobs = manifest }));
        var (exit, stdout, stderr) = Run("node", [Path.Combine(ScriptFolder, "ort_run.js"), OnnxRuntimeModule, manifestPath], "node (Node.js)");
        Assert.True(exit == 0, $"ONNX Runtime failed (exit {exit}):\n{stderr}\n{stdout}");
        return jobs.Select((job, i) => job.Outputs.ToDictionary(o => o, o => File.ReadAllBytes(Path.Combine(workFolder, $"job{i}.out.{o}.bin")))).ToList();
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
/// ONNX Runtime (one node process). The parity fixtures derive from it and describe only their cases.
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
