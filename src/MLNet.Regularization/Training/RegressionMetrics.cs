using MLNet.Regularization.Data;

namespace MLNet.Regularization.Training;

/// <summary>
/// How well a regression model's predictions match the targets: mean squared error, its root, mean absolute error and
/// the coefficient of determination R² = 1 − SSE/SST (SST around the data's own mean, so a model that always predicts
/// that mean scores 0 and a perfect one 1). With several targets per example each figure is averaged over targets.
/// </summary>
public sealed class RegressionMetrics
{
    /// <summary>Examples scored.</summary>
    public int Count { get; init; }

    /// <summary>Mean squared error.</summary>
    public double MeanSquaredError { get; init; }

    /// <summary>√MSE, in the target's unit.</summary>
    public double RootMeanSquaredError => Math.Sqrt(MeanSquaredError);

    /// <summary>Mean absolute error.</summary>
    public double MeanAbsoluteError { get; init; }

    /// <summary>Coefficient of determination (NaN when the targets do not vary).</summary>
    public double RSquared { get; init; }

    /// <summary>Computes the metrics from predictions and targets, row-major with <paramref name="targetSize"/> values
    /// per example.</summary>
    /// <param name="predicted">Predictions.</param>
    /// <param name="targets">Targets, as many as the predictions.</param>
    /// <param name="targetSize">Targets per example.</param>
    public static RegressionMetrics Compute(ReadOnlySpan<float> predicted, ReadOnlySpan<float> targets, int targetSize = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(targetSize);
        if (predicted.Length != targets.Length || targets.Length == 0 || targets.Length % targetSize != 0)
        {
            throw new ArgumentException($"{predicted.Length} predictions for {targets.Length} targets of size {targetSize}.", nameof(predicted));
        }

        int n = targets.Length / targetSize;
        double mse = 0, mae = 0, r2 = 0;
        for (int t = 0; t < targetSize; t++)
        {
            double mean = 0;
            for (int i = 0; i < n; i++)
            {
                mean += targets[(i * targetSize) + t];
            }

            mean /= n;
            double sse = 0, sst = 0, abs = 0;
            for (int i = 0; i < n; i++)
            {
                double y = targets[(i * targetSize) + t], e = predicted[(i * targetSize) + t] - y;
                sse += e * e;
                abs += Math.Abs(e);
                sst += (y - mean) * (y - mean);
            }

            mse += sse / n;
            mae += abs / n;
            r2 += sst > 0 ? 1 - (sse / sst) : double.NaN;
        }

        return new RegressionMetrics { Count = n, MeanSquaredError = mse / targetSize, MeanAbsoluteError = mae / targetSize, RSquared = r2 / targetSize };
    }

    /// <summary>Scores a regression model on labelled data.</summary>
    /// <param name="model">A model trained for regression.</param>
    /// <param name="data">Data with the same targets.</param>
    public static RegressionMetrics Evaluate(TrainedModel model, Dataset data)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (model.Task != TaskKind.Regression || data.Task != TaskKind.Regression || data.Targets is null)
        {
            throw new ArgumentException($"regression metrics need a regression model and regression data, got a {model.Task} model and {data.Task} data.", nameof(data));
        }

        return Compute(model.PredictValues(data.Features), data.Targets, data.TargetSize);
    }

    /// <summary>Scores a regression model on streamed examples, read and predicted a batch at a time.</summary>
    /// <param name="model">A model trained for regression.</param>
    /// <param name="data">Examples with the same targets and raw (unnormalized) features.</param>
    public static RegressionMetrics Evaluate(TrainedModel model, ExampleSource data)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (data is DatasetSource memory)
        {
            return Evaluate(model, memory.Data);
        }

        if (model.Task != TaskKind.Regression || data.Task != TaskKind.Regression || data.TargetSize != model.TargetSize)
        {
            throw new ArgumentException($"regression metrics need a regression model and regression data with as many targets, got a {model.Task} model and {data.Task} data.", nameof(data));
        }

        return Compute(Metrics.PredictInBatches(data, data.TargetSize, model.PredictValues), data.Targets, data.TargetSize);
    }
}
