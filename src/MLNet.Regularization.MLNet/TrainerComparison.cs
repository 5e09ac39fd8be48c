using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.MLNet;

/// <summary>
/// An AutoML-style leaderboard of multiclass ML.NET pipelines — regularized networks next to ML.NET's own trainers —
/// trained on the same rows and measured on the same held-out rows with the same metrics (accuracy, log-loss,
/// macro-F1, expected calibration error, the train–test gap), as a <see cref="ComparisonResult"/> that the console
/// and <c>HtmlReport</c> show. Networks bring their learning curves.
/// </summary>
/// <remarks>
/// Each pipeline must turn the raw rows into a key-typed label column and a <c>Score</c> vector of class scores, as
/// <c>MapValueToKey("Label")</c> followed by any multiclass trainer does. Scores that are not probabilities (one-
/// versus-all trainers without calibration) are made non-negative and normalized to sum to one before the
/// probabilistic metrics are computed; the accuracy does not depend on it.
/// </remarks>
public sealed class TrainerComparison
{
    private readonly MLContext _mlContext;

    /// <summary>A comparison in <paramref name="mlContext"/>.</summary>
    public TrainerComparison(MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        _mlContext = mlContext;
    }

    /// <summary>The key-typed label column in the scored rows. Default "Label".</summary>
    public string LabelColumnName { get; init; } = "Label";

    /// <summary>The class-score column in the scored rows. Default "Score".</summary>
    public string ScoreColumnName { get; init; } = "Score";

    /// <summary>The metric to rank by. Default accuracy.</summary>
    public RankingMetric Metric { get; init; } = RankingMetric.Accuracy;

    /// <summary>
    /// Fits every pipeline on <paramref name="train"/>, measures it on <paramref name="test"/> (and its training
    /// accuracy on <paramref name="train"/>) and ranks the results.
    /// </summary>
    /// <param name="candidates">Named pipelines, in the order to run them; names must be unique.</param>
    /// <param name="train">Raw training rows.</param>
    /// <param name="test">Raw held-out rows that no pipeline sees while fitting.</param>
    /// <param name="protocol">How the candidates are trained, in one sentence, for the report.</param>
    /// <param name="progress">Receives each candidate's measurements when it is done (optional).</param>
    /// <param name="cancellationToken">Stops before the next candidate.</param>
    public ComparisonResult Run(IEnumerable<(string Name, IEstimator<ITransformer> Pipeline)> candidates, IDataView train, IDataView test, string protocol, IProgress<MeasuredTrial>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        var clock = Stopwatch.StartNew();
        var trials = new List<MeasuredTrial>();
        IReadOnlyList<string>? classNames = null;
        int trainCount = 0, testCount = 0;
        foreach (var (name, pipeline) in candidates)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var fitClock = Stopwatch.StartNew();
            var model = pipeline.Fit(train);
            double seconds = fitClock.Elapsed.TotalSeconds;
            var (probabilities, labels, classes, names) = Scores(model.Transform(test), name);
            var (trainProbabilities, trainLabels, _, _) = Scores(model.Transform(train), name);
            classNames ??= names;
            testCount = labels.Length;
            trainCount = trainLabels.Length;
            var network = model.GetRegularizedNetwork();
            var trial = new MeasuredTrial(name, Metrics.Compute(probabilities, labels, classes), Metrics.Compute(trainProbabilities, trainLabels, classes).Accuracy, seconds)
            {
                History = network?.Model.History,
                Model = network?.Model,
            };
            trials.Add(trial);
            progress?.Report(trial);
        }

        return ComparisonResult.FromMeasurements(trials, Metric, "test", protocol, trainCount, testCount, clock.Elapsed, classNames);
    }

    /// <summary>Class probabilities (row-major), labels 0..K−1 and the class names from scored rows.</summary>
    private (float[] Probabilities, int[] Labels, int Classes, IReadOnlyList<string>? Names) Scores(IDataView scored, string candidate)
    {
        var label = scored.Schema.GetColumnOrNull(LabelColumnName)
            ?? throw new ArgumentException($"'{candidate}': the scored rows have no label column '{LabelColumnName}'.");
        if (label.Type is not KeyDataViewType key)
        {
            throw new ArgumentException($"'{candidate}': label column '{LabelColumnName}' of the scored rows is {label.Type}, not a key: start each pipeline with MapValueToKey(\"{LabelColumnName}\").");
        }

        var score = scored.Schema.GetColumnOrNull(ScoreColumnName)
            ?? throw new ArgumentException($"'{candidate}': the scored rows have no score column '{ScoreColumnName}'; the pipeline must end with a multiclass trainer.");
        if (score.Type is not VectorDataViewType { ItemType: NumberDataViewType, IsKnownSize: true } vector || vector.ItemType != NumberDataViewType.Single)
        {
            throw new ArgumentException($"'{candidate}': score column '{ScoreColumnName}' is {score.Type}, not a fixed-size vector of Single class scores.");
        }

        int classes = vector.Size;
        if ((long)key.Count != classes)
        {
            throw new ArgumentException($"'{candidate}': the label has {key.Count} classes but the score column {classes} values.");
        }

        var probabilities = new List<float>();
        var labels = new List<int>();
        using var cursor = scored.GetRowCursor([label, score]);
        var getLabel = cursor.GetGetter<uint>(label);
        var getScore = cursor.GetGetter<VBuffer<float>>(score);
        uint k = 0;
        VBuffer<float> row = default;
        var values = new float[classes];
        while (cursor.MoveNext())
        {
            getLabel(ref k);
            getScore(ref row);
            if (k == 0)
            {
                continue; // a label the key mapping did not know: not scorable
            }

            row.CopyTo(values);
            double sum = 0;
            for (int c = 0; c < classes; c++)
            {
                values[c] = float.IsFinite(values[c]) ? Math.Max(0f, values[c]) : 0f;
                sum += values[c];
            }

            for (int c = 0; c < classes; c++)
            {
                probabilities.Add(sum > 0 ? (float)(values[c] / sum) : 1f / classes);
            }

            labels.Add((int)k - 1);
        }

        return ([.. probabilities], [.. labels], classes, DataViewReader.KeyNames(label));
    }
}
