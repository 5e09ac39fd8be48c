using MLNet.Regularization.Cli;
using MLNet.Regularization.Experiments;

namespace MLNet.Regularization.Cli.Tests;

/// <summary>What a run of the tool printed and returned.</summary>
internal sealed record CliResult(int ExitCode, string Out, string Err)
{
    public string[] ErrLines => Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Out}\n--- stderr ---\n{Err}";
}

/// <summary>Runs mlnet-reg in-process with captured output, and finds the committed data.</summary>
internal static class Tool
{
    public static CliResult Run(params string[] args) => Run(null, CancellationToken.None, args);

    public static CliResult Run(Action<ComparisonProgress>? observer, CancellationToken token, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = observer is null
            ? Program.Run(args, stdout, stderr, token)
            : MLNet.Regularization.Cli.Cli.Run(args, new CliContext(stdout, stderr, interactive: false, token) { ComparisonObserver = observer });
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }

    public static CliResult RunInteractive(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = MLNet.Regularization.Cli.Cli.Run(args, new CliContext(stdout, stderr, interactive: true, CancellationToken.None));
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs mlnet-reg in a child process ('dotnet mlnet-reg.dll ...'); <paramref name="onLine"/> sees each stdout
    /// line as it comes and returns true to stop watching (after it signalled the process, say).</summary>
    public static CliResult RunChild(string[] args, Func<System.Diagnostics.Process, string, bool>? onLine = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(System.IO.Path.Combine(AppContext.BaseDirectory, "mlnet-reg.dll"));
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        using var process = System.Diagnostics.Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var lines = new List<string>();
        string? line;
        while ((line = process.StandardOutput.ReadLine()) is not null)
        {
            lines.Add(line);
            if (onLine?.Invoke(process, line) == true)
            {
                break;
            }
        }

        lines.Add(process.StandardOutput.ReadToEnd());
        Xunit.Assert.True(process.WaitForExit(60_000), "mlnet-reg did not stop within 60 s");
        return new CliResult(process.ExitCode, string.Join("\n", lines), stderr.GetAwaiter().GetResult());
    }

    /// <summary>Sends a signal (such as -INT, what Ctrl+C sends) to a process.</summary>
    public static void Signal(System.Diagnostics.Process process, string signal)
    {
        using var kill = System.Diagnostics.Process.Start("kill", [signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>The repository root (the folder holding data/csv), found by walking up from the test's bin folder.</summary>
    public static string Root { get; } = FindRoot();

    public static string TrainCsv => Path.Combine(Root, "data", "csv", "fashion7x7-train.csv");

    public static string TestCsv => Path.Combine(Root, "data", "csv", "fashion7x7-test.csv");

    public static string Idx(string name) => Path.Combine(Root, "data", "fashion-mnist-small", name);

    /// <summary>Small and quick training settings for the 600-row CSV (add --epochs).</summary>
    public static readonly string[] Quick = ["--label", "label", "--hidden", "32", "--batch-size", "32"];

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "data", "csv", "fashion7x7-train.csv")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no data/csv/fashion7x7-train.csv above {AppContext.BaseDirectory}");
    }
}

/// <summary>A fresh folder under the temp directory, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mlnetreg-cli-" + Guid.NewGuid().ToString("N"));

    public TempFolder() => Directory.CreateDirectory(Path);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, string text)
    {
        System.IO.File.WriteAllText(File(name), text);
        return File(name);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
