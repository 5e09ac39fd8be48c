using MLNet.Regularization.Experiments;
using Spectre.Console;

namespace MLNet.Regularization.Cli;

/// <summary>Where a command writes, whether it may animate, and what cancels it.</summary>
internal sealed class CliContext(TextWriter output, TextWriter error, bool interactive, CancellationToken cancellationToken)
{
    /// <summary>Results (tables, JSON, predictions).</summary>
    public TextWriter Out { get; } = output;

    /// <summary>Error lines.</summary>
    public TextWriter Err { get; } = error;

    /// <summary>True when <see cref="Out"/> is a terminal that Spectre.Console may animate (progress bars, live
    /// leaderboard). False when output is redirected or captured: then progress is plain lines.</summary>
    public bool Interactive { get; } = interactive;

    /// <summary>Ctrl+C.</summary>
    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>The clock of time budgets (a test's fake clock makes them independent of the machine's load).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Test hook: sees every comparison progress report (for example to cancel at a chosen trial).</summary>
    public Action<ComparisonProgress>? ComparisonObserver { get; init; }

    /// <summary>A Spectre.Console console over <see cref="Out"/>; only used when <see cref="Interactive"/>.</summary>
    public IAnsiConsole CreateConsole() => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Ansi = ReferenceEquals(Out, Console.Out) ? AnsiSupport.Detect : AnsiSupport.Yes,
        ColorSystem = ReferenceEquals(Out, Console.Out) ? ColorSystemSupport.Detect : ColorSystemSupport.Standard,
        Interactive = InteractionSupport.Yes,
        Out = new AnsiConsoleOutput(Out),
    });
}

/// <summary>A mistake in how the tool was called that the option parser cannot see (conflicting options, a
/// malformed list); exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
