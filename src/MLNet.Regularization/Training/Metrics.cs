using MLNet.Regularization.Data;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Uncertainty;

namespace MLNet.Regularization.Training;

/// <summary>
/// Classification metrics computed from predicted probabilities and true labels: accuracy, log-loss, macro-F1,
/// the confusion matrix and (through <see cref="Calibration"/>) the expected calibration error.
/// </summary>
/// <remarks>
/// The predicted class of a probability row is its arg-max, the first on ties (as ONNX ArgMax). Binary models give
/// rows of width 2, P(0) and P(1), so every function here treats them as two-class problems.
/// </remarks>
public static class Metrics
{
    /// <summary>Probabilities below this are raised to it before the logarithm of <see cref="LogLoss"/>, so that a
    /// confident mistake costs −ln(1e-15) ≈ 34.5 instead of infinity (scikit-learn's historical clip).</summary>
    public const double LogLossEpsilon = 1e-15;

    /// <summary>The arg-max class of each probability row.</summary>
    /// <param name="probabilities">N × <paramref name="classes"/> values, row-major.</param>
    /// <param name="classes">Row width.</param>
    public static int[] PredictedClasses(ReadOnlySpan<float> probabilities, int classes)
    {
        if (classes < 2 || probabilities.Length % classes != 0)
        {
            throw new ArgumentException($"{probabilities.Length} probabilities is not a whole number of rows of {classes} classes (at least 2).", nameof(probabilities));
        }

        var predicted = new int[probabilities.Length / classes];
        for (int i = 0; i < predicted.Length; i++)
        {
            predicted[i] = Evaluator.ArgMax(probabilities.Slice(i * classes, classes));
        }

        return predicted;
    }

    /// <summary>The fraction of examples whose predicted class is the true one.</summary>
    /// <param name="labels">True classes.</param>
    /// <param name="predicted">Predicted classes, as many as <paramref name="labels"/>.</param>
    public static double Accuracy(ReadOnlySpan<int> labels, ReadOnlySpan<int> predicted)
    {
        CheckPairs(labels, predicted);
        int correct = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] == predicted[i])
            {
                correct++;
            }
        }

        return (double)correct / labels.Length;
    }

    /// <summary>Mean negative log-probability of the true class, −(1/N) Σ ln max(p_i,y_i, ε) with
    /// ε = <see cref="LogLossEpsilon"/> (natural logarithm, the same scale as the training loss).</summary>
    /// <param name="probabilities">N × <paramref name="classes"/> probabilities, row-major.</param>
    /// <param name="labels">N true classes.</param>
    /// <param name="classes">Row width.</param>
    public static double LogLoss(ReadOnlySpan<float> probabilities, ReadOnlySpan<int> labels, int classes)
    {
        CheckInputs(probabilities, labels, classes);
        double sum = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            sum -= Math.Log(Math.Max(probabilities[(i * classes) + labels[i]], LogLossEpsilon));
        }

        return sum / labels.Length;
    }

    /// <summary>The confusion matrix: element [t][p] counts examples of true class t predicted as class p.</summary>
    /// <param name="labels">True classes in 0..<paramref name="classes"/>-1.</param>
    /// <param name="predicted">Predicted classes in the same range.</param>
    /// <param name="classes">Number of classes.</param>
    public static int[][] ConfusionMatrix(ReadOnlySpan<int> labels, ReadOnlySpan<int> predicted, int classes)
    {
        CheckPairs(labels, predicted);
        CheckRange(labels, classes, nameof(labels));
        CheckRange(predicted, classes, nameof(predicted));
        var matrix = new int[classes][];
        for (int t = 0; t < classes; t++)
        {
            matrix[t] = new int[classes];
        }

        for (int i = 0; i < labels.Length; i++)
        {
            matrix[labels[i]][predicted[i]]++;
        }

        return matrix;
    }

    /// <summary>F1 of each class, 2·TP / (2·TP + FP + FN); NaN for a class that neither occurs nor is
    /// predicted (its F1 is undefined).</summary>
    /// <param name="confusion">A confusion matrix from <see cref="ConfusionMatrix"/>.</param>
    public static double[] PerClassF1(int[][] confusion)
    {
        ArgumentNullException.ThrowIfNull(confusion);
        int k = confusion.Length;
        var f1 = new double[k];
        for (int c = 0; c < k; c++)
        {
            long tp = confusion[c][c], fn = 0, fp = 0;
            for (int j = 0; j < k; j++)
            {
                if (j != c)
                {
                    fn += confusion[c][j];
                    fp += confusion[j][c];
                }
            }

            long denominator = (2 * tp) + fp + fn;
            f1[c] = denominator == 0 ? double.NaN : 2.0 * tp / denominator;
        }

        return f1;
    }

    /// <summary>Macro-averaged F1: the unweighted mean of the per-class F1 over the classes that occur in the
    /// labels or the predictions (scikit-learn's <c>f1_score(average='macro')</c> without an explicit label list).
    /// A class that occurs but is never predicted right counts with F1 = 0, so rare classes weigh as much as
    /// common ones — the point of the macro average.</summary>
    /// <param name="labels">True classes.</param>
    /// <param name="predicted">Predicted classes.</param>
    /// <param name="classes">Number of classes.</param>
    public static double MacroF1(ReadOnlySpan<int> labels, ReadOnlySpan<int> predicted, int classes)
    {
        var f1 = PerClassF1(ConfusionMatrix(labels, predicted, classes));
        var defined = f1.Where(v => !double.IsNaN(v)).ToArray();
        return defined.Average();
    }

    /// <summary>Every metric of <see cref="ClassificationMetrics"/> for a batch of probability rows.</summary>
    /// <param name="probabilities">N × <paramref name="classes"/> probabilities, row-major.</param>
    /// <param name="labels">N true classes.</param>
    /// <param name="classes">Row width.</param>
    /// <param name="calibrationBins">Bins of the reliability diagram and the ECE (default 15).</param>
    public static ClassificationMetrics Compute(ReadOnlySpan<float> probabilities, ReadOnlySpan<int> labels, int classes, int calibrationBins = Calibration.DefaultBins)
    {
        CheckInputs(probabilities, labels, classes);
        var predicted = PredictedClasses(probabilities, classes);
        var confusion = ConfusionMatrix(labels, predicted, classes);
        var f1 = PerClassF1(confusion);
        var bins = Calibration.ReliabilityBins(probabilities, labels, classes, calibrationBins);
        return new ClassificationMetrics
        {
            Count = labels.Length,
            Classes = classes,
            Accuracy = Accuracy(labels, predicted),
            LogLoss = LogLoss(probabilities, labels, classes),
            MacroF1 = f1.Where(v => !double.IsNaN(v)).Average(),
            ExpectedCalibrationError = Calibration.ExpectedCalibrationError(bins),
            ConfusionMatrix = confusion,
            PerClassF1 = f1,
            ReliabilityBins = bins,
        };
    }

    /// <summary>Every metric of a classification model on labelled data (inference mode).</summary>
    /// <param name="model">A multiclass or binary model.</param>
    /// <param name="data">Data labelled for the same task, with raw (unnormalized) features.</param>
    public static ClassificationMetrics Evaluate(TrainedModel model, Dataset data)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (data.Task == TaskKind.Regression || model.Task == TaskKind.Regression)
        {
            throw new ArgumentException("classification metrics need a classification model and classification data.", nameof(data));
        }

        if (data.ClassCount > model.ProbabilityWidth)
        {
            throw new ArgumentException($"the data has {data.ClassCount} classes but the model predicts {model.ProbabilityWidth}.", nameof(data));
        }

        var p = model.PredictProbabilities(data.Features);
        return Compute(p, data.Labels, model.ProbabilityWidth);
    }

    /// <summary>Every metric of a classification model on streamed labelled examples: the features are read and scored
    /// a batch at a time, so only the probabilities (N × classes floats) and labels are held.</summary>
    /// <param name="model">A multiclass or binary model.</param>
    /// <param name="data">Examples labelled for the same task, with raw (unnormalized) features.</param>
    public static ClassificationMetrics Evaluate(TrainedModel model, ExampleSource data)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (data is DatasetSource memory)
        {
            return Evaluate(model, memory.Data);
        }

        if (data.Task == TaskKind.Regression || model.Task == TaskKind.Regression)
        {
            throw new ArgumentException("classification metrics need a classification model and classification data.", nameof(data));
        }

        if (data.ClassCount > model.ProbabilityWidth)
        {
            throw new ArgumentException($"the data has {data.ClassCount} classes but the model predicts {model.ProbabilityWidth}.", nameof(data));
        }

        int k = model.ProbabilityWidth;
        return Compute(PredictInBatches(data, k, model.PredictProbabilities), data.Labels, k);
    }

    /// <summary>A model's outputs for every example of a source, <paramref name="width"/> per example: the features are
    /// read (on a prefetch thread) and predicted 1,024 examples at a time, so only the outputs are held.</summary>
    /// <param name="data">The examples, with raw (unnormalized) features.</param>
    /// <param name="width">Outputs per example.</param>
    /// <param name="predict">Predicts one batch (the model normalizes it).</param>
    internal static float[] PredictInBatches(ExampleSource data, int width, Func<Tensor, float[]> predict)
    {
        var outputs = new float[(long)data.Count * width];
        using var feed = new BatchFeed(data, null, prefetch: true);
        var schedule = BatchSchedule.Fixed(data.Count, 1024);
        feed.StartInOrder(schedule);
        for (int b = 0; b < schedule.Count; b++)
        {
            var (x, _, _) = feed.Next();
            predict(x).CopyTo(outputs, (long)schedule.StartOf(b) * width);
        }

        return outputs;
    }

    internal static void CheckInputs(ReadOnlySpan<float> probabilities, ReadOnlySpan<int> labels, int classes)
    {
        if (classes < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(classes), classes, "a classifier has at least 2 classes.");
        }

        if (labels.Length == 0)
        {
            throw new ArgumentException("there are no examples to score.", nameof(labels));
        }

        if (probabilities.Length != (long)labels.Length * classes)
        {
            throw new ArgumentException($"{probabilities.Length} probabilities for {labels.Length} labels of {classes} classes; expected {(long)labels.Length * classes}.", nameof(probabilities));
        }

        CheckRange(labels, classes, nameof(labels));
    }

    private static void CheckPairs(ReadOnlySpan<int> labels, ReadOnlySpan<int> predicted)
    {
        if (labels.Length == 0)
        {
            throw new ArgumentException("there are no examples to score.", nameof(labels));
        }

        if (labels.Length != predicted.Length)
        {
            throw new ArgumentException($"{labels.Length} labels but {predicted.Length} predictions.", nameof(predicted));
        }
    }

    private static void CheckRange(ReadOnlySpan<int> values, int classes, string name)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if ((uint)values[i] >= (uint)classes)
            {
                throw new ArgumentException($"class {values[i]} at position {i} is outside 0..{classes - 1}.", name);
            }
        }
    }
}

/// <summary>How well a classifier does on a labelled set: what <see cref="Metrics.Compute"/> returns.</summary>
public sealed class ClassificationMetrics
{
    /// <summary>Number of examples scored.</summary>
    public int Count { get; init; }

    /// <summary>Number of classes (probability row width).</summary>
    public int Classes { get; init; }

    /// <summary>Fraction of examples classified right.</summary>
    public double Accuracy { get; init; }

    /// <summary>Mean negative log-probability of the true class (natural log, probabilities clipped at 1e-15).</summary>
    public double LogLoss { get; init; }

    /// <summary>Unweighted mean of the per-class F1 over the classes present in labels or predictions.</summary>
    public double MacroF1 { get; init; }

    /// <summary>Expected calibration error over 15 equal-width confidence bins (see <see cref="Calibration"/>).</summary>
    public double ExpectedCalibrationError { get; init; }

    /// <summary>Confusion matrix: [true class][predicted class] counts.</summary>
    public required int[][] ConfusionMatrix { get; init; }

    /// <summary>F1 of each class (NaN for a class that neither occurs nor is predicted).</summary>
    public required double[] PerClassF1 { get; init; }

    /// <summary>The bins of the reliability diagram behind <see cref="ExpectedCalibrationError"/>.</summary>
    public required IReadOnlyList<ReliabilityBin> ReliabilityBins { get; init; }

    /// <summary>The value of a ranking metric (log-loss as is: lower is better).</summary>
    /// <param name="metric">Which metric.</param>
    public double Get(RankingMetric metric) => metric switch
    {
        RankingMetric.Accuracy => Accuracy,
        RankingMetric.LogLoss => LogLoss,
        RankingMetric.MacroF1 => MacroF1,
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, "unknown metric."),
    };
}

/// <summary>The metric a comparison ranks configurations by.</summary>
public enum RankingMetric
{
    /// <summary>Validation accuracy (higher is better).</summary>
    Accuracy,

    /// <summary>Validation log-loss (lower is better).</summary>
    LogLoss,

    /// <summary>Validation macro-F1 (higher is better).</summary>
    MacroF1,
}
