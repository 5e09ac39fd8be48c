using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace MLNet.Regularization.Cli;

/// <summary>Option factories that parse numbers in the invariant culture and word their errors plainly.</summary>
internal static class Options
{
    public static Option<float?> Float(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "number",
        CustomParser = r => ParseOne<float>(r, name, t => float.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && float.IsFinite(v) ? v : (float?)null, "a number"),
    };

    public static Option<double?> Double(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "number",
        CustomParser = r => ParseOne<double>(r, name, t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) ? v : (double?)null, "a number"),
    };

    public static Option<int?> Int(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "n",
        CustomParser = r => ParseOne<int>(r, name, t => int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : null, "an integer"),
    };

    public static Option<string?> Text(string name, string description, string helpName) => new(name) { Description = description, HelpName = helpName };

    public static Option<string?> Choice(string name, string description, params string[] choices)
    {
        var option = new Option<string?>(name) { Description = description, HelpName = string.Join("|", choices) };
        option.AcceptOnlyFromAmong(choices);
        return option;
    }

    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    /// <summary>The value of an option, or null when the command line does not give it.</summary>
    public static T? Given<T>(this ParseResult r, Option<T?> option)
        where T : struct => r.GetValue(option);

    private static T? ParseOne<T>(ArgumentResult r, string name, Func<string, T?> parse, string what)
        where T : struct
    {
        if (r.Tokens.Count == 0)
        {
            r.AddError($"{name} needs a value.");
            return null;
        }

        string token = r.Tokens[^1].Value;
        var value = parse(token);
        if (value is null)
        {
            r.AddError($"{name}: '{token}' is not {what}.");
        }

        return value;
    }

    /// <summary>Parses a duration: plain seconds (90), or a number with s, m or h (90s, 2m, 1.5h).</summary>
    public static TimeSpan ParseDuration(string text, string name)
    {
        string t = text.Trim().ToLowerInvariant();
        double factor = 1;
        if (t.EndsWith('h'))
        {
            factor = 3600;
            t = t[..^1];
        }
        else if (t.EndsWith('m'))
        {
            factor = 60;
            t = t[..^1];
        }
        else if (t.EndsWith('s'))
        {
            t = t[..^1];
        }

        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value > 0) || !double.IsFinite(value))
        {
            throw new UsageException($"{name}: '{text}' is not a positive duration; use seconds (90) or a number with s, m or h (90s, 2m, 1.5h).");
        }

        return TimeSpan.FromSeconds(value * factor);
    }

    /// <summary>Splits comma-separated values of a repeatable option (<c>--ignore id,name --ignore note</c>).</summary>
    public static string[] List(string[]? values) =>
        values is null ? [] : values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();

    /// <summary>Fails early, before any training, when a file cannot be written because its folder is missing.</summary>
    public static void RequireFolder(string? path, string option)
    {
        if (path is null)
        {
            return;
        }

        string folder = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"{option} '{path}': folder '{folder}' does not exist.");
        }
    }
}

/// <summary>Positional arguments (file paths) that reject option-like tokens the parser could not place.</summary>
internal static class Arguments
{
    public static Argument<string> File(string name, string description)
    {
        var argument = new Argument<string>(name) { Description = description };
        argument.Validators.Add(r =>
        {
            foreach (var token in r.Tokens)
            {
                if (token.Value.StartsWith('-') && token.Value.Length > 1)
                {
                    r.AddError(r.Parent is System.CommandLine.Parsing.CommandResult parent ? Cli.UnknownOption(token.Value, parent.Command) : $"unknown option '{token.Value}'.");
                }
            }
        });
        return argument;
    }
}
