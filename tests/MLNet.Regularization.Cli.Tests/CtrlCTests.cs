using Xunit;

namespace MLNet.Regularization.Cli.Tests;

/// <summary>The real thing: SIGINT (what Ctrl+C sends) to a running mlnet-reg process.</summary>
[Collection("timing")]
public sealed class CtrlCTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Sigint_during_compare_exits_130_after_writing_the_leaderboard()
    {
        string board = _folder.File("leaderboard.csv");
        var r = Tool.RunChild(["compare", Tool.TrainCsv, .. Tool.Quick, "--epochs", "150", "--leaderboard", board, "--output", _folder.File("best.onnx")], (process, line) =>
        {
            if (line.StartsWith("trial 1/", StringComparison.Ordinal))
            {
                Tool.Signal(process, "-INT");
                return true;
            }

            return false;
        }, new Dictionary<string, string> { ["MLNET_REG_TEST_HOLD_AFTER"] = "trial:1" }); // holds until the signal comes
        Assert.True(r.ExitCode == 130, r.ToString());
        Assert.Contains("mlnet-reg: cancelled:", r.Err);
        var rows = File.ReadAllLines(board);
        Assert.Contains(rows, l => l.StartsWith("1,none,completed,", StringComparison.Ordinal));
    }
}
