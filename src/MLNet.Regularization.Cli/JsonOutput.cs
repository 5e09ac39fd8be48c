using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Cli;

/// <summary>The JSON the tool writes (--json output, history files): camelCase, indented, NaN as null.</summary>
internal static class JsonOutput
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public static string Serialize(object value) => JsonSerializer.Serialize(value, Options);

    /// <summary>A finite number, or null (JSON has no NaN).</summary>
    public static double? Number(double value) => double.IsFinite(value) ? value : null;

    public static object Metrics(ClassificationMetrics m, IReadOnlyList<string> classes) => new
    {
        count = m.Count,
        accuracy = m.Accuracy,
        logLoss = Number(m.LogLoss),
        macroF1 = Number(m.MacroF1),
        expectedCalibrationError = Number(m.ExpectedCalibrationError),
        calibrationBins = m.ReliabilityBins.Count,
        classes,
        confusionMatrix = m.ConfusionMatrix,
        perClassF1 = m.PerClassF1.Select(Number).ToArray(),
    };

    public static object Metrics(RegressionMetrics m) => new
    {
        count = m.Count,
        meanSquaredError = Number(m.MeanSquaredError),
        rootMeanSquaredError = Number(m.RootMeanSquaredError),
        meanAbsoluteError = Number(m.MeanAbsoluteError),
        rSquared = Number(m.RSquared),
    };

    public static object Summary(MetricSummary s) => new { mean = Number(s.Mean), std = Number(s.StdDev) };

    public static object Epoch(EpochRecord e) => new
    {
        epoch = e.Epoch,
        trainLoss = Number(e.TrainLoss),
        trainAccuracy = Number(e.TrainAccuracy),
        validationLoss = e.ValidationLoss is double v ? Number(v) : null,
        validationAccuracy = e.ValidationAccuracy is double a ? Number(a) : null,
        learningRate = e.LearningRate,
        seconds = e.Seconds,
    };

    /// <summary>Names for the classes of a model: its class names, or 0..K-1.</summary>
    public static IReadOnlyList<string> ClassNames(TrainedModel model) =>
        model.ClassNames is { Count: > 0 } names && names.Count == model.ProbabilityWidth
            ? names
            : Enumerable.Range(0, model.ProbabilityWidth).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
}
