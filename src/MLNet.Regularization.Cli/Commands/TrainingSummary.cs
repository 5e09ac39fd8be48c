using System.Globalization;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Cli.Commands;

/// <summary>A note on how a training run ended, for the console: a warning goes to stderr.</summary>
/// <param name="Warning">True for something the user should act on.</param>
/// <param name="Text">The note, in the tool's words (option names, not C# names).</param>
internal sealed record TrainingNote(bool Warning, string Text);

/// <summary>What a user should know after training: which epoch's weights were kept, whether training stopped while
/// the loss was still falling, and whether max-norm did anything.</summary>
internal static class TrainingSummary
{
    /// <summary>Writes warnings as <c>mlnet-reg: warning: ...</c> lines on stderr.</summary>
    public static Action<string> Warner(CliContext context) => text => context.Err.WriteLine($"{Cli.Name}: warning: {Cli.OneLine(text)}");

    /// <summary>The notes of one run.</summary>
    /// <param name="model">The trained model.</param>
    /// <param name="options">Its training options.</param>
    /// <param name="epochsOption">The option that raises the epoch limit, for the advice.</param>
    public static IReadOnlyList<TrainingNote> Notes(TrainedModel model, TrainerOptions options, string epochsOption)
    {
        var notes = new List<TrainingNote>();
        var h = model.History;
        if (h.Epochs.Count == 0)
        {
            return notes;
        }

        int best = ConvergenceCheck.LastImprovement(h, options.EarlyStoppingMinDelta);
        if (h.StopReason == StopReason.EarlyStopped)
        {
            notes.Add(new(false, F($"early stopping: the validation loss last improved at epoch {best} ({Loss(h.Epochs[best - 1].ValidationLoss)}); training stopped after epoch {h.Epochs.Count} and kept the weights of epoch {h.ModelEpoch}.")));
        }
        else if (options.EarlyStoppingPatience is not null && best > 0)
        {
            notes.Add(new(false, F($"kept the weights of epoch {h.ModelEpoch} of {h.Epochs.Count}, the lowest validation loss ({Loss(h.Epochs[best - 1].ValidationLoss)}).")));
        }

        if (ConvergenceCheck.EndedWhileImproving(h, options.EarlyStoppingPatience ?? 5, options.EarlyStoppingMinDelta))
        {
            string which = best > 0 ? F($"the validation loss was still falling (lowest at epoch {best})") : "the training loss was still falling";
            notes.Add(new(true, F($"training used all {h.Epochs.Count} epochs while {which}; it has not converged: raise {epochsOption}.")));
        }

        if (options.MaxNorm is float c)
        {
            double largest = WeightNorms.LargestIncomingNorm(model.Network);
            if (largest < c * 0.999)
            {
                notes.Add(new(false, F($"max-norm {c}: at the end of training no unit's incoming weights reach the bound (the largest norm is {largest:F2}), so the constraint is not acting; a smaller bound or a higher learning rate makes it bind.")));
            }
        }

        return notes;
    }

    /// <summary>Shows the notes: warnings on stderr, the rest as progress lines.</summary>
    public static void Show(Display display, CliContext context, TrainedModel model, TrainerOptions options, string epochsOption)
    {
        var warn = Warner(context);
        foreach (var note in Notes(model, options, epochsOption))
        {
            if (note.Warning)
            {
                warn(note.Text);
            }
            else
            {
                display.Info(note.Text);
            }
        }
    }

    /// <summary>After the animated progress bar has gone: the epochs as lines that stay on screen (every epoch up to
    /// 20, otherwise about ten evenly spaced ones plus the kept and the last).</summary>
    public static void EpochLines(Display display, TrainingHistory history, int epochs)
    {
        var all = history.Epochs;
        int step = all.Count <= 20 ? 1 : (int)Math.Ceiling(all.Count / 10.0);
        foreach (var e in all.Where(e => e.Epoch == 1 || e.Epoch % step == 0 || e.Epoch == history.ModelEpoch || e.Epoch == all.Count))
        {
            display.Info(Display.Epoch(e, epochs) + (e.Epoch == history.ModelEpoch && all.Count > 1 ? "  <- kept" : ""));
        }
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>A loss with four decimals, or three significant digits when it is smaller than that shows.</summary>
    private static string Loss(double? value) => value is double v && v < 1e-3 ? v.ToString("G3", CultureInfo.InvariantCulture) : F($"{value:F4}");
}
