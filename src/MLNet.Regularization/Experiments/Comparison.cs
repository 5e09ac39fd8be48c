using System.Diagnostics;
using MLNet.Regularization.Data;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Experiments;

/// <summary>
/// Compares regularization configurations on one dataset, AutoML-style: each configuration (a trial) is trained on
/// the same split(s) with one or more seeds, scored on validation data, and ranked by a metric, within a trial
/// limit and a time budget.
/// </summary>
/// <example>
/// <code>
/// var comparison = new Comparison(new ComparisonOptions { Metric = RankingMetric.LogLoss, Seeds = 3, TimeBudget = TimeSpan.FromMinutes(5) });
/// var baseSpec = new ModelSpec { Hidden = [256, 128], Training = { Epochs = 10 } };
/// ComparisonResult result = comparison.RunGrid(SearchSpace.RegularizerGrid(baseSpec), train);
/// Console.WriteLine($"{result.Best!.Name}: {result.Best.Score.Format()}");
/// </code>
/// </example>
/// <remarks>
/// <para>Grid search runs the given configurations in order; random search draws them from a
/// <see cref="SearchSpace"/> until the trial limit or the budget ends it. Trials run one after another (each uses
/// every core through the trainer's kernels).</para>
/// <para>Cancellation and budget: both are checked before each run and, through the token handed to
/// <see cref="Trainer.Fit(Layers.Network, Dataset, Dataset?, IProgress{EpochRecord}?, CancellationToken)"/>, after every batch, so the comparison overruns its budget by at most one batch plus
/// the scoring of finished runs. The interrupted trial is reported but not ranked; the result always holds the
/// leaderboard of the trials that completed.</para>
/// </remarks>
public sealed class Comparison
{
    private readonly ComparisonOptions _options;

    /// <summary>Creates a comparison; the options are validated and copied.</summary>
    /// <param name="options">Metric, validation, seeds, limits; defaults when null.</param>
    public Comparison(ComparisonOptions? options = null)
    {
        _options = (options ?? new ComparisonOptions()).Clone();
        _options.Validate();
    }

    /// <summary>A copy of the options.</summary>
    public ComparisonOptions Options => _options.Clone();

    /// <summary>Grid search over specs: one trial per spec, in order.</summary>
    /// <param name="specs">The configurations; names must be unique (see <see cref="ModelSpec.DisplayName"/>).</param>
    /// <param name="data">Labelled classification data; the comparison makes its own validation split(s).</param>
    /// <param name="progress">Receives trial and epoch reports synchronously.</param>
    /// <param name="cancellationToken">Stops the comparison; the result holds the trials completed so far.</param>
    public ComparisonResult RunGrid(IEnumerable<ModelSpec> specs, Dataset data, IProgress<ComparisonProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(specs);
        return Run(specs.Select(s => ComparisonConfiguration.FromSpec(s)).ToList(), data, progress, cancellationToken);
    }

    /// <summary>Random search: draws configurations from <paramref name="space"/> around <paramref name="baseSpec"/>
    /// until <see cref="ComparisonOptions.MaxTrials"/> or <see cref="ComparisonOptions.TimeBudget"/> ends it.</summary>
    /// <param name="baseSpec">Architecture and training settings shared by every draw.</param>
    /// <param name="space">The regularizer settings to draw from.</param>
    /// <param name="data">Labelled classification data.</param>
    /// <param name="progress">Receives trial and epoch reports synchronously.</param>
    /// <param name="cancellationToken">Stops the comparison; the result holds the trials completed so far.</param>
    /// <exception cref="ArgumentException">Neither a trial limit nor a time budget is set.</exception>
    public ComparisonResult RunRandomSearch(ModelSpec baseSpec, SearchSpace space, Dataset data, IProgress<ComparisonProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(baseSpec);
        ArgumentNullException.ThrowIfNull(space);
        if (_options.MaxTrials is null && _options.TimeBudget is null)
        {
            throw new ArgumentException("random search needs a trial limit (MaxTrials) or a time budget (TimeBudget) to end.", nameof(space));
        }

        return Run(space.Sample(baseSpec, _options.Seed).Select(s => ComparisonConfiguration.FromSpec(s)), data, progress, cancellationToken);
    }

    /// <summary>Runs the configurations in order (a lazy sequence is read one trial at a time, so it may be
    /// endless when a limit is set) and ranks the completed ones.</summary>
    /// <param name="configurations">The configurations; names must be unique.</param>
    /// <param name="data">Labelled classification data; the comparison makes its own validation split(s).</param>
    /// <param name="progress">Receives trial and epoch reports synchronously on this thread.</param>
    /// <param name="cancellationToken">Stops the comparison; the result holds the trials completed so far.</param>
    /// <exception cref="ArgumentException">The data is not labelled for classification, a name repeats, or a
    /// configuration cannot be built for the data.</exception>
    public ComparisonResult Run(IEnumerable<ComparisonConfiguration> configurations, Dataset data, IProgress<ComparisonProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(configurations);
        ArgumentNullException.ThrowIfNull(data);
        if (data.Task == TaskKind.Regression)
        {
            throw new ArgumentException("a comparison ranks classifiers; the data is labelled for regression.", nameof(data));
        }

        var o = _options;
        var clock = new ComparisonClock(o.TimeProvider);
        var splits = Splits(data, o);
        int runs = o.Seeds * splits.Count;
        int? maxTrials = configurations is IReadOnlyCollection<ComparisonConfiguration> list
            ? Math.Min(list.Count, o.MaxTrials ?? int.MaxValue)
            : o.MaxTrials;

        using var budget = new CancellationTokenSource();
        using var deadline = o.TimeBudget is { } b ? new DeadlineWatcher(budget, clock, b) : null;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, budget.Token);
        var stop = linked.Token;

        var trials = new List<TrialResult>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        bool cancelled = false, outOfBudget = false;
        foreach (var configuration in configurations)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                cancelled = true;
                break;
            }

            if (budget.IsCancellationRequested || clock.Elapsed >= o.TimeBudget)
            {
                outOfBudget = true;
                break;
            }

            if (o.MaxTrials is int limit && trials.Count >= limit)
            {
                break;
            }

            ArgumentNullException.ThrowIfNull(configuration, nameof(configurations));
            if (!names.Add(configuration.Name))
            {
                throw new ArgumentException($"two configurations are named '{configuration.Name}'; names must be unique.", nameof(configurations));
            }

            var trial = RunTrial(trials.Count + 1, maxTrials, configuration, splits, runs, progress, clock, stop, cancellationToken);
            trials.Add(trial);
            progress?.Report(new ComparisonProgress(ComparisonProgressKind.TrialFinished, trial.Index, maxTrials, trial.Name, trial.Runs.Count, runs, 0, null, trial, clock.Elapsed));
            if (trial.Status == TrialStatus.Cancelled)
            {
                cancelled = true;
                break;
            }

            if (trial.Status == TrialStatus.OutOfBudget)
            {
                outOfBudget = true;
                break;
            }
        }

        return new ComparisonResult(o.Clone(), trials, cancelled, outOfBudget, clock.Elapsed, splits[0].Train.Count, splits[0].Validation.Count);
    }

    /// <summary>The holdout split, or every fold of every k-fold repeat (repeat r shuffled with seed + r), in the
    /// order the runs use them.</summary>
    private static List<Split> Splits(Dataset data, ComparisonOptions o)
    {
        if (o.Validation != ValidationMethod.KFold)
        {
            var (train, validation) = DataSplit.StratifiedSplit(data, o.HoldoutFraction, o.Seed);
            return [new Split(train, validation, 0, 0)];
        }

        var splits = new List<Split>();
        for (int repeat = 0; repeat < o.Repeats; repeat++)
        {
            var folds = DataSplit.StratifiedKFold(data, o.Folds, o.Seed + repeat);
            splits.AddRange(folds.Select((f, i) => new Split(f.Train, f.Validation, repeat, i)));
        }

        return splits;
    }

    /// <summary>One training/validation split of the protocol.</summary>
    private sealed record Split(Dataset Train, Dataset Validation, int Repeat, int Fold);

    private TrialResult RunTrial(
        int index,
        int? maxTrials,
        ComparisonConfiguration configuration,
        IReadOnlyList<Split> splits,
        int runs,
        IProgress<ComparisonProgress>? progress,
        ComparisonClock clock,
        CancellationToken stop,
        CancellationToken userToken)
    {
        var o = _options;
        var trialClock = Stopwatch.StartNew();
        int epochs = configuration.Options.Epochs;
        progress?.Report(new ComparisonProgress(ComparisonProgressKind.TrialStarted, index, maxTrials, configuration.Name, 1, runs, epochs, null, null, clock.Elapsed));

        var results = new List<RunResult>();
        TrainedModel? bestModel = null;
        RunResult? bestRun = null;
        bool higher = ComparisonOptions.HigherIsBetter(o.Metric);
        TrialStatus Interrupted() => userToken.IsCancellationRequested ? TrialStatus.Cancelled : TrialStatus.OutOfBudget;

        for (int seed = o.Seed; seed < o.Seed + o.Seeds; seed++)
        {
            foreach (var split in splits)
            {
                if (stop.IsCancellationRequested)
                {
                    return Result(Interrupted(), null);
                }

                int run = results.Count + 1;
                var (train, validation) = (split.Train, split.Validation);
                var runClock = Stopwatch.StartNew();
                var runOptions = configuration.OptionsForRun(seed);
                var trainer = new Trainer(runOptions);
                var epochProgress = progress is null ? null : new EpochForwarder(r =>
                    progress.Report(new ComparisonProgress(ComparisonProgressKind.Epoch, index, maxTrials, configuration.Name, run, runs, epochs, r, null, clock.Elapsed)));
                TrainedModel model;
                try
                {
                    // With its own validation fraction, the trainer holds the early-stopping rows out of this
                    // training split, so the epoch is not chosen on the rows the configuration is ranked on.
                    var earlyStopping = runOptions.ValidationFraction > 0 ? null : validation;
                    model = trainer.Fit(configuration.CreateNetwork(train), train, earlyStopping, epochProgress, stop);
                }
                catch (InvalidOperationException e)
                {
                    return Result(TrialStatus.Failed, e.Message);
                }
                catch (ArgumentException e)
                {
                    throw new ArgumentException($"configuration '{configuration.Name}': {e.Message}", e.ParamName, e);
                }

                if (model.History.StopReason == StopReason.Cancelled)
                {
                    return Result(Interrupted(), null);
                }

                var metrics = Metrics.Evaluate(model, validation);
                var (trainLoss, trainAccuracy) = model.Evaluate(train);
                var result = new RunResult(seed, split.Fold, metrics, trainAccuracy, trainLoss, model.History, runClock.Elapsed.TotalSeconds) { Repeat = split.Repeat };
                results.Add(result);
                double score = metrics.Get(o.Metric);
                if (bestRun is null || (higher ? score > bestRun.Validation.Get(o.Metric) : score < bestRun.Validation.Get(o.Metric)))
                {
                    bestRun = result;
                    bestModel = model;
                }
            }
        }

        return Result(TrialStatus.Completed, null);

        TrialResult Result(TrialStatus status, string? error) => new(
            index,
            configuration,
            status,
            results,
            status == TrialStatus.Completed ? bestModel : null,
            status == TrialStatus.Completed ? bestRun : null,
            error,
            trialClock.Elapsed.TotalSeconds,
            o.Metric);
    }

    /// <summary>Forwards epoch records synchronously (<see cref="Progress{T}"/> would post them to the thread pool).</summary>
    private sealed class EpochForwarder(Action<EpochRecord> report) : IProgress<EpochRecord>
    {
        public void Report(EpochRecord value) => report(value);
    }
}
