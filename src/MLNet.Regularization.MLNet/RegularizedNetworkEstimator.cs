using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.MLNet;

/// <summary>
/// Trains a regularized network on an IDataView (multiclass, binary or regression). <see cref="Fit"/> reads the
/// features and label columns into a <see cref="Dataset"/>, trains natively in C# with the engine's
/// <see cref="Trainer"/>, exports the model to ONNX in memory and returns an ONNX-backed
/// <see cref="RegularizedNetworkTransformer"/> producing ML.NET's conventional columns: multiclass <c>Score</c>
/// (class probabilities) and <c>PredictedLabel</c> (a key with the label's key values), binary <c>Score</c>
/// (logit), <c>Probability</c> and <c>PredictedLabel</c> (Boolean), regression <c>Score</c>.
/// </summary>
public sealed class RegularizedNetworkEstimator : IEstimator<RegularizedNetworkTransformer>
{
    private readonly MLContext _mlContext;
    private readonly RegularizedNetworkOptions _options;

    internal RegularizedNetworkEstimator(MLContext mlContext, RegularizedNetworkOptions options, TaskKind task)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.FeatureColumnName, nameof(options.FeatureColumnName));
        ArgumentException.ThrowIfNullOrEmpty(options.LabelColumnName, nameof(options.LabelColumnName));
        options.ToTrainerOptions().Validate();
        _mlContext = mlContext;
        _options = options;
        Task = task;
    }

    /// <summary>The learning task this estimator trains for.</summary>
    public TaskKind Task { get; }

    /// <summary>The options this estimator trains with.</summary>
    public RegularizedNetworkOptions Options => _options;

    /// <inheritdoc />
    public RegularizedNetworkTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var train = DataViewReader.Read(input, _options, Task);
        var validation = _options.ValidationData is null ? null : DataViewReader.Read(_options.ValidationData, _options, Task, "validation data");
        if (validation is not null && Task == TaskKind.Multiclass && validation.ClassCount != train.ClassCount)
        {
            throw new ArgumentException($"the validation label has {validation.ClassCount} key values, the training label {train.ClassCount}; map both with the same MapValueToKey transformer.");
        }

        int outputs = Task == TaskKind.Multiclass ? train.ClassCount : 1;
        var trainer = new Trainer(_options.ToTrainerOptions());
        var model = trainer.Fit(_options.BuildNetwork(outputs), train, validation, _options.Progress);
        return CreateTransformer(_mlContext, model, input, _options.FeatureColumnName, _options.LabelColumnName);
    }

    /// <summary>Wraps a trained engine model as an ML.NET transformer reading <paramref name="featureColumnName"/>.</summary>
    internal static RegularizedNetworkTransformer CreateTransformer(MLContext mlContext, TrainedModel model, IDataView input, string featureColumnName, string? labelColumnName)
    {
        var onnx = OnnxExporter.ExportToBytes(model, new OnnxExportOptions { InputName = featureColumnName });
        var label = labelColumnName is null ? null : input.Schema.GetColumnOrNull(labelColumnName);
        // Fitting these reads no rows: the ONNX model is trained and the key mapping's dictionary is given.
        var chain = ScoringPipeline(mlContext, model, onnx, label).Fit(input);
        return new RegularizedNetworkTransformer(chain, model, onnx, featureColumnName);
    }

    /// <summary>The ML.NET estimators that score <paramref name="onnx"/>: ApplyOnnxModel on the rewritten graph, then
    /// (multiclass) the class index mapped to the key <c>PredictedLabel</c>.</summary>
    internal static EstimatorChain<ITransformer> ScoringPipeline(MLContext mlContext, TrainedModel model, byte[] onnx, DataViewSchema.Column? label)
    {
        var (scoringBytes, _) = OnnxScoringGraph.Rewrite(onnx, model.Task, model.ProbabilityWidth);
        var chain = new EstimatorChain<ITransformer>().Append((IEstimator<ITransformer>)mlContext.Transforms.ApplyOnnxModel(new MemoryStream(scoringBytes)));
        string[] intermediate;
        switch (model.Task)
        {
            case TaskKind.Multiclass:
                chain = chain.Append(ScalarColumns.Multiclass(mlContext)).Append(PredictedLabelMapping(mlContext, label, model));
                intermediate = [OnnxScoringGraph.PredictedIndex, OnnxScoringGraph.Prefix + "PredictedIndexScalar"];
                break;
            case TaskKind.Binary:
                chain = chain.Append(ScalarColumns.Binary(mlContext));
                intermediate = [OnnxScoringGraph.Score, OnnxScoringGraph.Probability, OnnxScoringGraph.PredictedLabel];
                break;
            default:
                chain = chain.Append(ScalarColumns.Regression(mlContext));
                intermediate = [OnnxScoringGraph.Score];
                break;
        }

        chain = chain.Append((IEstimator<ITransformer>)mlContext.Transforms.DropColumns(intermediate));
        return chain;
    }

    /// <summary>
    /// Maps the predicted class index (Int64) to a key whose values are the label's key values in the label's key
    /// order, so <c>MapKeyToValue("PredictedLabel")</c> gives back the original label values. ML.NET's own
    /// <c>MapValue(..., treatValuesAsKeyType: true)</c> does it and saves with the model.
    /// </summary>
    private static IEstimator<ITransformer> PredictedLabelMapping(MLContext mlContext, DataViewSchema.Column? label, TrainedModel model)
    {
        const string output = "PredictedLabel";
        if (label is { } column
            && column.Annotations.Schema.GetColumnOrNull(DataViewReader.KeyValuesKind) is { Type: VectorDataViewType { ItemType: var itemType } })
        {
            if (itemType is TextDataViewType)
            {
                VBuffer<ReadOnlyMemory<char>> names = default;
                column.Annotations.GetValue(DataViewReader.KeyValuesKind, ref names);
                var pairs = names.DenseValues().Select((v, i) => new KeyValuePair<long, string>(i, v.ToString()));
                return (IEstimator<ITransformer>)mlContext.Transforms.Conversion.MapValue(output, pairs, OnnxScoringGraph.Prefix + "PredictedIndexScalar", treatValuesAsKeyType: true);
            }

            var method = typeof(RegularizedNetworkEstimator).GetMethod(nameof(TypedMapping), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
                .MakeGenericMethod(itemType.RawType);
            return (IEstimator<ITransformer>)method.Invoke(null, [mlContext, column, output])!;
        }

        var classNames = model.ClassNames ?? Enumerable.Range(0, model.ClassCount).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        return (IEstimator<ITransformer>)mlContext.Transforms.Conversion.MapValue(output, classNames.Select((v, i) => new KeyValuePair<long, string>(i, v)), OnnxScoringGraph.Prefix + "PredictedIndexScalar", treatValuesAsKeyType: true);
    }

    private static IEstimator<ITransformer> TypedMapping<T>(MLContext mlContext, DataViewSchema.Column label, string output)
    {
        VBuffer<T> values = default;
        label.Annotations.GetValue(DataViewReader.KeyValuesKind, ref values);
        var pairs = values.DenseValues().Select((v, i) => new KeyValuePair<long, T>(i, v)).ToList();
        return (IEstimator<ITransformer>)mlContext.Transforms.Conversion.MapValue(output, pairs, OnnxScoringGraph.Prefix + "PredictedIndexScalar", treatValuesAsKeyType: true);
    }

    /// <summary>
    /// The output schema, obtained from ML.NET's own trainer for the same task (SDCA): it checks the features and label
    /// columns the same way and declares the same conventional columns (<c>SchemaShape.Column</c> cannot be built
    /// outside ML.NET). Named errors for a missing or mistyped column come first.
    /// </summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        if (!inputSchema.Any(c => c.Name == _options.FeatureColumnName))
        {
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"features column '{_options.FeatureColumnName}' was not found in the input schema.");
        }

        var features = inputSchema.Last(c => c.Name == _options.FeatureColumnName);
        if (features.Kind != SchemaShape.Column.VectorKind.Vector || features.ItemType != NumberDataViewType.Single)
        {
            throw new ArgumentException($"features column '{_options.FeatureColumnName}' must be a fixed-size vector of Single (float), but it is {features.Kind} of {features.ItemType}.", nameof(inputSchema));
        }

        if (!inputSchema.Any(c => c.Name == _options.LabelColumnName))
        {
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"label column '{_options.LabelColumnName}' was not found in the input schema.");
        }

        string label = _options.LabelColumnName, feature = _options.FeatureColumnName;
        return Task switch
        {
            TaskKind.Multiclass => _mlContext.MulticlassClassification.Trainers.SdcaMaximumEntropy(label, feature).GetOutputSchema(inputSchema),
            TaskKind.Binary => _mlContext.BinaryClassification.Trainers.SdcaLogisticRegression(label, feature).GetOutputSchema(inputSchema),
            _ => _mlContext.Regression.Trainers.Sdca(label, feature).GetOutputSchema(inputSchema),
        };
    }
}
