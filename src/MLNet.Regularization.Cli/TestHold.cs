namespace MLNet.Regularization.Cli;

/// <summary>
/// Lets the CLI's own tests interrupt a child process at a chosen point whatever the machine's load. With the
/// environment variable <c>MLNET_REG_TEST_HOLD_AFTER</c> set to <c>epoch:N</c> or <c>trial:N</c>, the tool waits after
/// printing that epoch's or trial's line until Ctrl+C arrives (or two minutes pass), so a signal the test sends on
/// seeing the line always finds training still running instead of racing it to the end. Not meant for users; unset,
/// it does nothing.
/// </summary>
internal static class TestHold
{
    private const string Variable = "MLNET_REG_TEST_HOLD_AFTER";

    /// <summary>Waits here if the variable names this point (<paramref name="kind"/>:<paramref name="number"/>).</summary>
    public static void After(string kind, int number, CancellationToken cancellationToken)
    {
        if (Environment.GetEnvironmentVariable(Variable) is { } point && point == $"{kind}:{number}")
        {
            cancellationToken.WaitHandle.WaitOne(TimeSpan.FromMinutes(2));
        }
    }
}
