using System.Globalization;
using MLNet.Regularization.Data;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Cli;

/// <summary>A model's metrics on one dataset, whatever its task, as a console line and as JSON.</summary>
/// <param name="Classification">Classification metrics, or null for a regression model.</param>
/// <param name="Regression">Regression metrics, or null for a classifier.</param>
/// <param name="Classes">The class names (empty for regression).</param>
internal sealed record Scores(ClassificationMetrics? Classification, RegressionMetrics? Regression, IReadOnlyList<string> Classes)
{
    /// <summary>One line: accuracy, log-loss, macro-F1, ECE, or MSE, RMSE, MAE, R².</summary>
    public string Text => Classification is { } m ? Display.Metrics(m) : Display.Metrics(Regression!);

    /// <summary>The JSON object of <see cref="JsonOutput"/>.</summary>
    public object Json => Classification is { } m ? JsonOutput.Metrics(m, Classes) : JsonOutput.Metrics(Regression!);
}

/// <summary>Scores one model on any number of datasets with the metrics of its task.</summary>
internal sealed class ModelScores(TrainedModel model)
{
    private readonly IReadOnlyList<string> _classes = model.Task == TaskKind.Regression ? [] : JsonOutput.ClassNames(model);

    public Scores On(Dataset data) => model.Task == TaskKind.Regression
        ? new Scores(null, RegressionMetrics.Evaluate(model, data), _classes)
        : new Scores(Metrics.Evaluate(model, data), null, _classes);

    /// <summary>Scores streamed examples, read a batch at a time (in-memory ones as <see cref="On(Dataset)"/>).</summary>
    public Scores On(ExampleSource data) => model.Task == TaskKind.Regression
        ? new Scores(null, RegressionMetrics.Evaluate(model, data), _classes)
        : new Scores(Metrics.Evaluate(model, data), null, _classes);

    /// <summary>Formats a regression figure.</summary>
    public static string F(double v) => v.ToString("G5", CultureInfo.InvariantCulture);
}
