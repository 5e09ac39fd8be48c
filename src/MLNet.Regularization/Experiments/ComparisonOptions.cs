using MLNet.Regularization.Training;

namespace MLNet.Regularization.Experiments;

/// <summary>How a comparison measures each configuration on data it was not trained on.</summary>
public enum ValidationMethod
{
    /// <summary>One stratified split: <see cref="ComparisonOptions.HoldoutFraction"/> of the data validates.</summary>
    Holdout,

    /// <summary>Stratified k-fold cross-validation with <see cref="ComparisonOptions.Folds"/> folds, repeated
    /// <see cref="ComparisonOptions.Repeats"/> times with fresh folds: every configuration trains k times per
    /// repeat, and every example validates once per repeat.</summary>
    KFold,
}

/// <summary>Settings of a <see cref="Comparison"/>, each with a documented default.</summary>
public sealed class ComparisonOptions
{
    /// <summary>The metric the leaderboard is ranked by (default accuracy). Accuracy and macro-F1 rank higher
    /// values first, log-loss lower values first; ties keep the order in which the trials ran.</summary>
    public RankingMetric Metric { get; set; } = RankingMetric.Accuracy;

    /// <summary>Holdout (default) or k-fold.</summary>
    public ValidationMethod Validation { get; set; } = ValidationMethod.Holdout;

    /// <summary>Share of each class held out for validation with <see cref="ValidationMethod.Holdout"/>
    /// (default 0.2).</summary>
    public double HoldoutFraction { get; set; } = 0.2;

    /// <summary>Number of folds with <see cref="ValidationMethod.KFold"/> (default 5).</summary>
    public int Folds { get; set; } = 5;

    /// <summary>With <see cref="ValidationMethod.KFold"/>: how many times the k-fold split is drawn anew (repeat r
    /// shuffles with seed <see cref="Seed"/> + r), so that a score is not the luck of one partition (default 1).</summary>
    public int Repeats { get; set; } = 1;

    /// <summary>How many times each configuration is trained with a different seed, so the leaderboard shows
    /// mean ± standard deviation (default 1). Repeat r trains with seed <see cref="Seed"/> + r; the split is the same
    /// for every repeat and every configuration, so differences come from the configurations, not the data.</summary>
    public int Seeds { get; set; } = 1;

    /// <summary>Base seed of the split and of the first repeat's training (default 1). The seeds of the
    /// configurations' own trainer options are not used.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Stop after this many trials (configurations) have run; null (default) for no limit. A grid also
    /// stops at its end.</summary>
    public int? MaxTrials { get; set; }

    /// <summary>Wall-clock budget of the whole comparison, or null (default) for none. It is checked before each
    /// trial and, through a cancellation token with the deadline, after every training batch; a trial that the
    /// deadline interrupts is reported as <see cref="TrialStatus.OutOfBudget"/> and not ranked, since a partly
    /// trained network would be judged unfairly.</summary>
    public TimeSpan? TimeBudget { get; set; }

    /// <summary>The clock the <see cref="TimeBudget"/> is measured with (default <see cref="TimeProvider.System"/>).
    /// Tests pass a fake clock, so that what they check does not depend on how busy the machine is.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Metric))
        {
            throw new ArgumentException($"unknown ranking metric {(int)Metric}.", nameof(Metric));
        }

        if (!Enum.IsDefined(Validation))
        {
            throw new ArgumentException($"unknown validation method {(int)Validation}.", nameof(Validation));
        }

        if (Validation == ValidationMethod.Holdout && !(HoldoutFraction > 0 && HoldoutFraction < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(HoldoutFraction), HoldoutFraction, "the holdout fraction must lie strictly between 0 and 1.");
        }

        if (Validation == ValidationMethod.KFold && Folds < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(Folds), Folds, "k-fold cross-validation needs at least 2 folds.");
        }

        if (Repeats < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Repeats), Repeats, "the number of k-fold repeats must be at least 1.");
        }

        if (Validation == ValidationMethod.Holdout && Repeats != 1)
        {
            throw new ArgumentException("repeats apply to k-fold cross-validation; a holdout comparison uses Seeds to repeat training.", nameof(Repeats));
        }

        if (Seeds < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Seeds), Seeds, "the number of seeds must be at least 1.");
        }

        if (MaxTrials is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxTrials), MaxTrials, "the trial limit must be at least 1 (or null for none).");
        }

        if (TimeBudget is { } budget && budget <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(TimeBudget), budget, "the time budget must be positive (or null for none).");
        }
    }

    /// <summary>A copy.</summary>
    public ComparisonOptions Clone() => (ComparisonOptions)MemberwiseClone();

    /// <summary>The validation scheme in words, such as <c>holdout 20%</c>, <c>5-fold cross-validation</c> or
    /// <c>5-fold cross-validation repeated 2 times</c>.</summary>
    public string DescribeValidation() => Validation == ValidationMethod.KFold
        ? $"{Folds}-fold cross-validation{(Repeats > 1 ? $" repeated {Repeats} times" : "")}"
        : FormattableString.Invariant($"holdout {HoldoutFraction:P0}").Replace(" %", "%", StringComparison.Ordinal);

    /// <summary>Training runs per configuration: seeds × folds × repeats (seeds for a holdout).</summary>
    public int RunsPerConfiguration => Validation == ValidationMethod.KFold ? Seeds * Folds * Repeats : Seeds;

    /// <summary>Up to this many examples, <see cref="ForData"/> cross-validates with repeated k-fold.</summary>
    public const int RepeatedKFoldLimit = 2_000;

    /// <summary>Up to this many examples, <see cref="ForData"/> cross-validates with k-fold.</summary>
    public const int KFoldLimit = 10_000;

    /// <summary>
    /// The validation protocol that suits a data size, as <c>mlnet-reg compare</c> chooses it: up to
    /// <see cref="RepeatedKFoldLimit"/> examples stratified 5-fold cross-validation repeated twice (10 runs per
    /// configuration: with little data one holdout split is mostly noise), up to <see cref="KFoldLimit"/> 5-fold
    /// once, beyond that a stratified 20% holdout (big enough to measure on, and one run per configuration).
    /// </summary>
    /// <param name="examples">Labelled examples the comparison splits.</param>
    public static ComparisonOptions ForData(int examples) => examples switch
    {
        <= RepeatedKFoldLimit => new ComparisonOptions { Validation = ValidationMethod.KFold, Folds = 5, Repeats = 2 },
        <= KFoldLimit => new ComparisonOptions { Validation = ValidationMethod.KFold, Folds = 5 },
        _ => new ComparisonOptions { Validation = ValidationMethod.Holdout, HoldoutFraction = 0.2 },
    };

    /// <summary>True when higher values of <paramref name="metric"/> are better.</summary>
    /// <param name="metric">The metric.</param>
    public static bool HigherIsBetter(RankingMetric metric) => metric != RankingMetric.LogLoss;
}
