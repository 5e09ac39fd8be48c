using System.CommandLine;
using System.Text.RegularExpressions;
using MLNet.Regularization.Cli.Commands;

namespace MLNet.Regularization.Cli;

/// <summary>Builds the command tree and turns every failure into one line on stderr and an exit code.</summary>
internal static partial class Cli
{
    public const string Name = "mlnet-reg";

    public static int Run(string[] args, CliContext context)
    {
        ArgumentNullException.ThrowIfNull(args);
        RootCommand root;
        ParseResult parsed;
        try
        {
            root = Build(context);
            parsed = root.Parse(args);
        }
        catch (Exception e)
        {
            return Fail(context, e);
        }

        if (parsed.Errors.Count > 0)
        {
            string command = parsed.CommandResult.Command is RootCommand ? Name : $"{Name} {parsed.CommandResult.Command.Name}";
            string messages = Unrecognized(parsed) ?? string.Join(" ", parsed.Errors.Select(e => OneLine(e.Message)).Distinct());
            context.Err.WriteLine($"{Name}: error: {messages} (see '{command} --help')");
            return Program.UsageError;
        }

        return parsed.Invoke(new InvocationConfiguration
        {
            Output = context.Out,
            Error = context.Err,
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null,
        });
    }

    private static RootCommand Build(CliContext context)
    {
        var root = new RootCommand(
            "Train regularized neural networks (dropout, DropConnect, batch norm, max-norm, weight decay) on your own CSV or IDX files, " +
            "compare regularizers AutoML-style, prune them to lottery tickets or smaller networks, and export ONNX.");
        root.Add(TrainCommand.Create(context));
        root.Add(CompareCommand.Create(context));
        root.Add(EvaluateCommand.Create(context));
        root.Add(PredictCommand.Create(context));
        root.Add(PruneCommand.Create(context));
        return root;
    }

    /// <summary>What the user typed that the parser did not know, in the tool's words: an unknown option with the
    /// nearest known one ("did you mean --dropout?"), or an unknown command with the nearest command; null when the
    /// errors are of another kind. The values that followed an unknown option are not reported separately.</summary>
    private static string? Unrecognized(ParseResult parsed)
    {
        var command = parsed.CommandResult.Command;
        var unknown = parsed.UnmatchedTokens.Where(t => t.StartsWith('-') && t.Length > 1).Distinct().ToList();
        if (unknown.Count > 0)
        {
            return string.Join(" ", unknown.Select(t => UnknownOption(t, command)));
        }

        if (command is RootCommand root && parsed.UnmatchedTokens.Count > 0)
        {
            string name = parsed.UnmatchedTokens[0];
            var commands = root.Subcommands.Select(c => c.Name).ToList();
            string? near = Suggestions.Nearest(name, commands);
            return $"unknown command '{name}'{(near is null ? "" : $"; did you mean '{near}'?")} The commands are {string.Join(", ", commands)}.";
        }

        return null;
    }

    /// <summary>"unknown option '--dropuot'; did you mean --dropout?" for an option of <paramref name="command"/>.</summary>
    public static string UnknownOption(string token, Command command)
    {
        string name = token.Split('=', 2)[0];
        var known = command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal));
        string? near = Suggestions.Nearest(name, known);
        return $"unknown option '{name}'{(near is null ? "." : $"; did you mean {near}?")}";
    }

    /// <summary>Runs a command body, mapping exceptions to one stderr line and an exit code.</summary>
    public static int Guard(CliContext context, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e)
        {
            return Fail(context, e);
        }
    }

    private static int Fail(CliContext context, Exception e)
    {
        var (code, message) = e switch
        {
            OperationCanceledException => (Program.Cancelled, "cancelled"),
            UsageException => (Program.UsageError, e.Message),
            ArgumentException a => (Program.UsageError, a.ParamName is null ? a.Message : a.Message.Replace($" (Parameter '{a.ParamName}')", "", StringComparison.Ordinal)),
            InvalidDataException or FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException
                => (Program.DataError, e.Message),
            InvalidOperationException or NotSupportedException => (Program.DataError, e.Message),
            InsufficientMemoryException => (Program.DataError, e.Message), // data too large to load whole: the message names --stream
            _ => (Program.InternalError, $"unexpected {e.GetType().Name}: {e.Message} (this is a bug in {Name}; please report it)"),
        };
        context.Err.WriteLine($"{Name}: error: {OneLine(message)}");
        return code;
    }

    /// <summary>Collapses line breaks and runs of spaces so that a message stays one line.</summary>
    public static string OneLine(string message) => Spaces().Replace(message, " ").Trim();

    [GeneratedRegex(@"\s*[\r\n]+\s*|\s{2,}")]
    private static partial Regex Spaces();
}
