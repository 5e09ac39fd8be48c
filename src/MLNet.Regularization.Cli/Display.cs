using System.Globalization;
using MLNet.Regularization.Training;
using Spectre.Console;

namespace MLNet.Regularization.Cli;

/// <summary>
/// Who may write what: with --json only the final JSON document reaches stdout; with --quiet only the final
/// results, as plain text; otherwise progress too, animated by Spectre.Console on a terminal and as plain lines when
/// stdout is redirected. Spectre.Console is never used unless <see cref="Rich"/>.
/// </summary>
internal sealed class Display
{
    private readonly CliContext _context;
    private IAnsiConsole? _console;

    public Display(CliContext context, bool quiet, bool json)
    {
        _context = context;
        Quiet = quiet;
        Json = json;
    }

    public bool Quiet { get; }

    public bool Json { get; }

    /// <summary>Animated progress and tables through Spectre.Console.</summary>
    public bool Rich => !Quiet && !Json && _context.Interactive;

    /// <summary>Progress as plain lines.</summary>
    public bool Plain => !Quiet && !Json && !_context.Interactive;

    public IAnsiConsole Console => _console ??= Rich ? _context.CreateConsole() : throw new InvalidOperationException("Spectre.Console is only used on an interactive terminal.");

    /// <summary>A progress or context line (not with --quiet or --json).</summary>
    public void Info(string text)
    {
        if (Rich)
        {
            Console.MarkupLine(Markup.Escape(text));
        }
        else if (Plain)
        {
            _context.Out.WriteLine(text);
        }
    }

    /// <summary>A result line (not with --json).</summary>
    public void Result(string text)
    {
        if (Rich)
        {
            Console.MarkupLine(Markup.Escape(text));
        }
        else if (!Json)
        {
            _context.Out.WriteLine(text);
        }
    }

    /// <summary>The JSON document (only with --json).</summary>
    public void JsonDocument(object value)
    {
        if (Json)
        {
            _context.Out.WriteLine(JsonOutput.Serialize(value));
        }
    }

    public static string Metrics(ClassificationMetrics m) => string.Create(
        CultureInfo.InvariantCulture,
        $"accuracy {m.Accuracy:F4}  log-loss {m.LogLoss:F4}  macro-F1 {m.MacroF1:F4}  ECE {m.ExpectedCalibrationError:F4}  ({m.Count} rows)");

    public static string Metrics(RegressionMetrics m) => string.Create(
        CultureInfo.InvariantCulture,
        $"MSE {m.MeanSquaredError:G5}  RMSE {m.RootMeanSquaredError:G5}  MAE {m.MeanAbsoluteError:G5}  R² {m.RSquared:F4}  ({m.Count} rows)");

    /// <summary>One epoch as a line; accuracies are left out for regression, where they are NaN.</summary>
    public static string Epoch(EpochRecord e, int epochs) => string.Create(
        CultureInfo.InvariantCulture,
        $"epoch {e.Epoch,3}/{epochs}  train loss {e.TrainLoss:F4}{Accuracy(e.TrainAccuracy)}{(e.ValidationLoss is double vl ? $"  validation loss {vl:F4}{Accuracy(e.ValidationAccuracy)}" : "")}  ({e.Seconds:F2} s)");

    private static string Accuracy(double? accuracy) => accuracy is double a && double.IsFinite(a) ? string.Create(CultureInfo.InvariantCulture, $"  accuracy {a:F4}") : "";
}
