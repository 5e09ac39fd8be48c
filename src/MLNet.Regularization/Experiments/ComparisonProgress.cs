using MLNet.Regularization.Training;

namespace MLNet.Regularization.Experiments;

/// <summary>What a <see cref="ComparisonProgress"/> report is about.</summary>
public enum ComparisonProgressKind
{
    /// <summary>A trial (configuration) is starting.</summary>
    TrialStarted,

    /// <summary>A run of the current trial completed an epoch.</summary>
    Epoch,

    /// <summary>A trial ended (completed, out of budget, cancelled or failed); <see cref="ComparisonProgress.Result"/>
    /// holds it.</summary>
    TrialFinished,
}

/// <summary>A progress report of a running comparison, delivered synchronously on the comparison's thread.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Trial">One-based trial number.</param>
/// <param name="MaxTrials">The trial limit (the grid size or <see cref="ComparisonOptions.MaxTrials"/>), or null
/// when only time limits the search.</param>
/// <param name="Configuration">The configuration's name.</param>
/// <param name="Run">One-based run within the trial (seeds × folds).</param>
/// <param name="Runs">Runs per trial.</param>
/// <param name="Epochs">Planned epochs per run.</param>
/// <param name="Epoch">The epoch just completed (for <see cref="ComparisonProgressKind.Epoch"/>).</param>
/// <param name="Result">The trial's result (for <see cref="ComparisonProgressKind.TrialFinished"/>).</param>
/// <param name="Elapsed">Time since the comparison started.</param>
public sealed record ComparisonProgress(
    ComparisonProgressKind Kind,
    int Trial,
    int? MaxTrials,
    string Configuration,
    int Run,
    int Runs,
    int Epochs,
    EpochRecord? Epoch,
    TrialResult? Result,
    TimeSpan Elapsed);
