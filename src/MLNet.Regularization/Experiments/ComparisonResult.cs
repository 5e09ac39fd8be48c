using MLNet.Regularization.Training;

namespace MLNet.Regularization.Experiments;

/// <summary>How a trial ended.</summary>
public enum TrialStatus
{
    /// <summary>Every run finished; the trial is ranked.</summary>
    Completed,

    /// <summary>The time budget ran out during the trial; not ranked.</summary>
    OutOfBudget,

    /// <summary>The caller cancelled during the trial; not ranked.</summary>
    Cancelled,

    /// <summary>Training failed (for example the loss diverged); not ranked, see <see cref="TrialResult.Error"/>.</summary>
    Failed,
}

/// <summary>Mean and sample standard deviation (n − 1 in the denominator; 0 for a single value) of a metric
/// over a trial's runs.</summary>
/// <param name="Mean">The mean.</param>
/// <param name="StdDev">The sample standard deviation.</param>
public readonly record struct MetricSummary(double Mean, double StdDev)
{
    /// <summary>How many values were summarized (0 when unknown).</summary>
    public int Count { get; init; }

    /// <summary>Summarizes values (NaN for none).</summary>
    /// <param name="values">The values.</param>
    public static MetricSummary Of(IReadOnlyCollection<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            return new MetricSummary(double.NaN, double.NaN);
        }

        double mean = values.Average();
        if (values.Min() == values.Max())
        {
            return new MetricSummary(values.First(), 0) { Count = values.Count }; // exactly, without the rounding noise of the formula
        }

        double ss = values.Sum(v => (v - mean) * (v - mean));
        return new MetricSummary(mean, values.Count < 2 ? 0 : Math.Sqrt(ss / (values.Count - 1))) { Count = values.Count };
    }

    /// <summary>"mean ± std" with the given format, such as <c>0.8512 ± 0.0041</c>; the mean alone for a single
    /// value, whose spread is unknown rather than 0.</summary>
    /// <param name="format">A numeric format string (default F4).</param>
    public string Format(string format = "F4") => Count == 1
        ? Mean.ToString(format, System.Globalization.CultureInfo.InvariantCulture)
        : $"{Mean.ToString(format, System.Globalization.CultureInfo.InvariantCulture)} ± {StdDev.ToString(format, System.Globalization.CultureInfo.InvariantCulture)}";
}

/// <summary>One training run of a trial: one seed on one split.</summary>
/// <param name="Seed">The training seed.</param>
/// <param name="Fold">Zero-based fold (0 for holdout).</param>
/// <param name="Validation">Metrics on the validation part, in inference mode.</param>
/// <param name="TrainAccuracy">Accuracy on the training part in inference mode (dropout off), for the
/// generalization gap.</param>
/// <param name="TrainLoss">Log-loss on the training part in inference mode.</param>
/// <param name="History">Every epoch of the run, with training and validation loss.</param>
/// <param name="Seconds">Wall-clock seconds of the run, training and scoring.</param>
public sealed record RunResult(int Seed, int Fold, ClassificationMetrics Validation, double TrainAccuracy, double TrainLoss, TrainingHistory History, double Seconds)
{
    /// <summary>Zero-based k-fold repeat (0 for holdout).</summary>
    public int Repeat { get; init; }

    /// <summary>Train accuracy minus validation accuracy.</summary>
    public double GeneralizationGap => TrainAccuracy - Validation.Accuracy;
}

/// <summary>A configuration's outcome: every run, the summaries the leaderboard shows, and (when completed) the
/// model of its best run.</summary>
public sealed class TrialResult
{
    internal TrialResult(int index, ComparisonConfiguration configuration, TrialStatus status, IReadOnlyList<RunResult> runs, TrainedModel? model, RunResult? bestRun, string? error, double seconds, RankingMetric metric)
    {
        Index = index;
        Name = configuration.Name;
        Spec = configuration.Spec;
        Description = configuration.Description ?? (Spec is { } spec && spec.Describe() != Name ? spec.Describe() : null);
        Status = status;
        Runs = runs;
        Model = model;
        BestRun = bestRun;
        Error = error;
        Seconds = seconds;
        Accuracy = MetricSummary.Of(runs.Select(r => r.Validation.Accuracy).ToArray());
        LogLoss = MetricSummary.Of(runs.Select(r => r.Validation.LogLoss).ToArray());
        MacroF1 = MetricSummary.Of(runs.Select(r => r.Validation.MacroF1).ToArray());
        CalibrationError = MetricSummary.Of(runs.Select(r => r.Validation.ExpectedCalibrationError).ToArray());
        TrainAccuracy = MetricSummary.Of(runs.Select(r => r.TrainAccuracy).ToArray());
        GeneralizationGap = MetricSummary.Of(runs.Select(r => r.GeneralizationGap).ToArray());
        Score = Get(metric);
    }

    /// <summary>One-based position in the order the trials ran.</summary>
    public int Index { get; }

    /// <summary>The configuration's name.</summary>
    public string Name { get; }

    /// <summary>The spec of the configuration, if it was made from one.</summary>
    public ModelSpec? Spec { get; }

    /// <summary>A one-line description of the configuration when its name does not say it all (the spec's
    /// description, or what a measured entry gave), or null.</summary>
    public string? Description { get; }

    /// <summary>How the trial ended; only <see cref="TrialStatus.Completed"/> trials are ranked.</summary>
    public TrialStatus Status { get; }

    /// <summary>Why the trial failed, or null.</summary>
    public string? Error { get; }

    /// <summary>The finished runs (all seeds × folds for a completed trial; those that finished otherwise).</summary>
    public IReadOnlyList<RunResult> Runs { get; }

    /// <summary>The model of the run with the best validation score (null unless completed).</summary>
    public TrainedModel? Model { get; }

    /// <summary>The run <see cref="Model"/> comes from (null unless completed).</summary>
    public RunResult? BestRun { get; }

    /// <summary>One-based leaderboard rank, or 0 when not ranked.</summary>
    public int Rank { get; internal set; }

    /// <summary>Wall-clock seconds of the trial.</summary>
    public double Seconds { get; }

    /// <summary>Validation accuracy over the runs.</summary>
    public MetricSummary Accuracy { get; }

    /// <summary>Validation log-loss over the runs.</summary>
    public MetricSummary LogLoss { get; }

    /// <summary>Validation macro-F1 over the runs.</summary>
    public MetricSummary MacroF1 { get; }

    /// <summary>Validation expected calibration error (15 bins) over the runs.</summary>
    public MetricSummary CalibrationError { get; }

    /// <summary>Training-set accuracy in inference mode over the runs.</summary>
    public MetricSummary TrainAccuracy { get; }

    /// <summary>Train accuracy − validation accuracy over the runs.</summary>
    public MetricSummary GeneralizationGap { get; }

    /// <summary>The ranking metric's summary.</summary>
    public MetricSummary Score { get; }

    /// <summary>How this completed trial's score differs from the leader's, and whether by more than the noise of
    /// the protocol (see <see cref="ScoreDifference"/>); null for the leader, for trials not ranked, and when the
    /// noise cannot be estimated (one run ranked by log-loss or macro-F1).</summary>
    public ScoreDifference? VersusBest { get; internal set; }

    /// <summary>True when this completed trial is the leader or within noise of it.</summary>
    public bool TiedWithBest => Rank == 1 || VersusBest is { WithinNoise: true };

    /// <summary>The summary of any ranking metric.</summary>
    /// <param name="metric">The metric.</param>
    public MetricSummary Get(RankingMetric metric) => metric switch
    {
        RankingMetric.Accuracy => Accuracy,
        RankingMetric.LogLoss => LogLoss,
        RankingMetric.MacroF1 => MacroF1,
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, "unknown metric."),
    };

    /// <inheritdoc />
    public override string ToString() => $"#{Index} {Name}: {Status}, {Score.Format()}";
}

/// <summary>
/// What a comparison found: every trial in the order it ran, the ranked leaderboard of the completed ones, and the
/// best model.
/// </summary>
/// <remarks>
/// The best model is the model of the leader's best run (the seed and fold with the best validation score), not a
/// refit on all the data: a refit would cost another training run outside the budget, and would leave no held-out
/// data to check the exported model against. Its validation figures are those of <see cref="BestRun"/>; since that
/// run was selected on them they are slightly optimistic, so measure the model on separate test data for an honest
/// number.
/// </remarks>
public sealed class ComparisonResult
{
    internal ComparisonResult(ComparisonOptions options, IReadOnlyList<TrialResult> trials, bool cancelled, bool budgetExhausted, TimeSpan elapsed, int trainCount, int validationCount)
    {
        Options = options;
        Trials = trials;
        Cancelled = cancelled;
        BudgetExhausted = budgetExhausted;
        Elapsed = elapsed;
        TrainCount = trainCount;
        ValidationCount = validationCount;
        bool higher = ComparisonOptions.HigherIsBetter(options.Metric);
        var ranked = trials.Where(t => t.Status == TrialStatus.Completed)
            .OrderBy(t => higher ? -t.Score.Mean : t.Score.Mean)
            .ThenBy(t => t.Index)
            .ToList();
        for (int i = 0; i < ranked.Count; i++)
        {
            ranked[i].Rank = i + 1;
            ranked[i].VersusBest = i == 0 ? null : ScoreDifference.Between(ranked[0], ranked[i], options, trainCount, validationCount);
        }

        Leaderboard = ranked;
    }

    /// <summary>The options the comparison ran with.</summary>
    public ComparisonOptions Options { get; }

    /// <summary>The ranking metric.</summary>
    public RankingMetric Metric => Options.Metric;

    /// <summary>Every trial that started, in order.</summary>
    public IReadOnlyList<TrialResult> Trials { get; }

    /// <summary>Completed trials, best first.</summary>
    public IReadOnlyList<TrialResult> Leaderboard { get; }

    /// <summary>The leader, or null when no trial completed.</summary>
    public TrialResult? Best => Leaderboard.Count > 0 ? Leaderboard[0] : null;

    /// <summary>The leader's model (see the remarks), or null.</summary>
    public TrainedModel? BestModel => Best?.Model;

    /// <summary>The run the best model comes from, with its own validation metrics, or null.</summary>
    public RunResult? BestRun => Best?.BestRun;

    /// <summary>True when the caller's cancellation token stopped the comparison.</summary>
    public bool Cancelled { get; }

    /// <summary>True when the time budget stopped the comparison.</summary>
    public bool BudgetExhausted { get; }

    /// <summary>Wall-clock time of the comparison.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>Training examples per run (of the first fold for k-fold).</summary>
    public int TrainCount { get; }

    /// <summary>Validation examples per run (of the first fold for k-fold).</summary>
    public int ValidationCount { get; }

    /// <summary>What the metrics were measured on: "validation" for the comparison's own runs, or what
    /// <see cref="FromMeasurements"/> was told (such as "test").</summary>
    public string EvaluationSet { get; private init; } = "validation";

    /// <summary>The class names of a result made by <see cref="FromMeasurements"/>, or null.</summary>
    public IReadOnlyList<string>? ClassNames { get; private init; }

    /// <summary>How the entries were trained and measured, in words, for results made by
    /// <see cref="FromMeasurements"/>; null for the comparison's own runs (their options describe them).</summary>
    public string? Protocol { get; private init; }

    /// <summary>
    /// A leaderboard of candidates measured outside <see cref="Comparison"/> (ML.NET pipelines, models trained by
    /// other code), ranked by <paramref name="metric"/>, for the console and <c>HtmlReport</c>.
    /// </summary>
    /// <param name="trials">The candidates, in the order they ran; names must be unique.</param>
    /// <param name="metric">The metric to rank by.</param>
    /// <param name="evaluationSet">What the metrics were measured on, in words (such as "test").</param>
    /// <param name="protocol">How the candidates were trained and measured, in one sentence, for the report.</param>
    /// <param name="trainCount">Training examples.</param>
    /// <param name="evaluationCount">Examples of the evaluation set.</param>
    /// <param name="elapsed">Wall-clock time of the whole comparison.</param>
    /// <param name="classNames">The class names, for the confusion matrix (optional).</param>
    public static ComparisonResult FromMeasurements(IEnumerable<MeasuredTrial> trials, RankingMetric metric, string evaluationSet, string protocol, int trainCount, int evaluationCount, TimeSpan elapsed, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(trials);
        ArgumentException.ThrowIfNullOrWhiteSpace(evaluationSet);
        ArgumentException.ThrowIfNullOrWhiteSpace(protocol);
        var list = trials.ToList();
        var duplicate = list.GroupBy(t => t.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"two measured trials are named '{duplicate.Key}'; names must be unique.", nameof(trials));
        }

        var results = list.Select((t, i) =>
        {
            ArgumentNullException.ThrowIfNull(t.Metrics, nameof(trials));
            var run = new RunResult(0, 0, t.Metrics, t.TrainAccuracy, double.NaN, t.History ?? TrainingHistory.Empty, t.Seconds);
            return new TrialResult(i + 1, ComparisonConfiguration.Measured(t.Name, t.Description), TrialStatus.Completed, [run], t.Model, run, null, t.Seconds, metric);
        }).ToList();
        return new ComparisonResult(new ComparisonOptions { Metric = metric, Seeds = 1 }, results, cancelled: false, budgetExhausted: false, elapsed, trainCount, evaluationCount)
        {
            EvaluationSet = evaluationSet,
            Protocol = protocol,
            ClassNames = classNames,
        };
    }
}
