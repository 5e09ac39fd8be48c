using System.Diagnostics;
using Xunit;

namespace MLNet.Regularization.Cli.Tests;

/// <summary>The real thing: SIGINT (what Ctrl+C sends) to a running mlnet-reg process.</summary>
[Collection("timing")]
public sealed class CtrlCTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Sigint_during_compare_exits_130_after_writing_the_leaderboard()
    {
        string tool = Path.Combine(AppContext.BaseDirectory, "mlnet-reg.dll");
        string board = _folder.File("leaderboard.csv");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in (string[])[tool, "compare", Tool.TrainCsv, .. Tool.Quick, "--epochs", "150", "--leaderboard", board, "--output", _folder.File("best.onnx")])
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var lines = new List<string>();
        string? line;
        while ((line = process.StandardOutput.ReadLine()) is not null)
        {
            lines.Add(line);
            if (line.StartsWith("trial 1/", StringComparison.Ordinal))
            {
                using var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                kill.WaitForExit();
                break;
            }
        }

        lines.AddRange(process.StandardOutput.ReadToEnd().Split('\n'));
        Assert.True(process.WaitForExit(30_000), "mlnet-reg did not stop within 30 s of SIGINT");
        string err = await stderr;
        string all = string.Join("\n", lines) + "\n" + err;
        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}\n{all}");
        Assert.Contains("mlnet-reg: cancelled:", err);
        var rows = File.ReadAllLines(board);
        Assert.Contains(rows, l => l.StartsWith("1,none,completed,", StringComparison.Ordinal));
    }
}
