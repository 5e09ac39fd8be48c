namespace MLNet.Regularization.Cli;

/// <summary>
/// The <c>mlnet-reg</c> tool: <c>train</c>, <c>compare</c>, <c>evaluate</c> and <c>predict</c> on the user's own
/// CSV or IDX files. <see cref="Run(string[], TextWriter, TextWriter, CancellationToken)"/> is the whole tool with
/// its output writers injected, so tests drive it in-process.
/// </summary>
public static class Program
{
    /// <summary>Exit code of a successful run.</summary>
    public const int Success = 0;

    /// <summary>Exit code of a data problem: a missing or malformed file, a bad CSV row, a failed training.</summary>
    public const int DataError = 1;

    /// <summary>Exit code of a usage problem: an unknown option, a bad value, a missing label column, an impossible
    /// architecture.</summary>
    public const int UsageError = 2;

    /// <summary>Exit code of an unexpected internal error (a bug: please report it).</summary>
    public const int InternalError = 3;

    /// <summary>Exit code after Ctrl+C (128 + SIGINT, as shells report it).</summary>
    public const int Cancelled = 130;

    /// <summary>Runs the tool on the console. The first Ctrl+C cancels the running command gracefully (compare
    /// still writes the leaderboard of the finished trials); a second one ends the process at once.</summary>
    /// <param name="args">The command line.</param>
    /// <returns>The exit code.</returns>
    public static int Main(string[] args)
    {
        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (!cancellation.IsCancellationRequested)
            {
                e.Cancel = true;
                cancellation.Cancel();
            }
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var context = new CliContext(Console.Out, Console.Error, interactive: !Console.IsOutputRedirected, cancellation.Token);
            return Cli.Run(args, context);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Runs the tool with injected output: results go to <paramref name="stdout"/>, errors (one line each)
    /// to <paramref name="stderr"/>. Progress is written as plain lines, never as terminal animations.</summary>
    /// <param name="args">The command line, without the program name.</param>
    /// <param name="stdout">Receives results.</param>
    /// <param name="stderr">Receives error lines.</param>
    /// <param name="cancellationToken">Cancels the running command as Ctrl+C does.</param>
    /// <returns>The exit code: <see cref="Success"/>, <see cref="DataError"/>, <see cref="UsageError"/>,
    /// <see cref="InternalError"/> or <see cref="Cancelled"/>.</returns>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default) =>
        Cli.Run(args, new CliContext(stdout, stderr, interactive: false, cancellationToken));
}
