using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx;

namespace MLNet.Regularization.MLNet;

/// <summary>Where ML.NET users look for the regularized network: <c>mlContext.{Task}.Trainers.RegularizedNetwork</c>
/// and <c>mlContext.Transforms.ApplyRegularizedNetwork</c>.</summary>
public static class RegularizedNetworkCatalog
{
    /// <summary>A regularized network for multiclass classification; the label must be a key (MapValueToKey).</summary>
    public static RegularizedNetworkEstimator RegularizedNetwork(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, RegularizedNetworkOptions? options = null)
        => new(Context(catalog), options ?? new RegularizedNetworkOptions(), TaskKind.Multiclass);

    /// <summary>A regularized network for multiclass classification with the given columns and defaults otherwise.</summary>
    public static RegularizedNetworkEstimator RegularizedNetwork(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, string labelColumnName, string featureColumnName = "Features")
        => catalog.RegularizedNetwork(new RegularizedNetworkOptions { LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName });

    /// <summary>A regularized network for binary classification; the label must be Boolean.</summary>
    public static RegularizedNetworkEstimator RegularizedNetwork(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog, RegularizedNetworkOptions? options = null)
        => new(Context(catalog), options ?? new RegularizedNetworkOptions(), TaskKind.Binary);

    /// <summary>A regularized network for regression; the label must be Single.</summary>
    public static RegularizedNetworkEstimator RegularizedNetwork(this RegressionCatalog.RegressionTrainers catalog, RegularizedNetworkOptions? options = null)
        => new(Context(catalog), options ?? new RegularizedNetworkOptions(), TaskKind.Regression);

    /// <summary>
    /// Scores a model file written by <c>OnnxExporter.Export</c> with ML.NET's conventional columns (as the trainers
    /// above): <paramref name="featureColumnName"/> must be a fixed-size Single vector of the model's input width.
    /// Multiclass <c>PredictedLabel</c> is a key whose values are the model's class names.
    /// </summary>
    public static RegularizedNetworkScoringEstimator ApplyRegularizedNetwork(this TransformsCatalog catalog, string modelFile, string featureColumnName = "Features")
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RegularizedNetworkScoringEstimator(Context(catalog), OnnxImporter.Load(modelFile), featureColumnName);
    }

    // ML.NET's catalogs keep their host environment internal, so the estimators build their ML.NET transforms
    // (ApplyOnnxModel, MapValue, DropColumns) in a context of their own; those transforms are deterministic, keep
    // no reference to the caller's context once fitted, and save and load like any other.
    private static MLContext Context(object catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new MLContext(seed: 0);
    }
}

/// <summary>Scores an exported model file with ML.NET's conventional columns; fitting reads no rows.</summary>
public sealed class RegularizedNetworkScoringEstimator : IEstimator<RegularizedNetworkTransformer>
{
    private readonly MLContext _mlContext;
    private readonly Training.TrainedModel _model;
    private readonly string _featureColumnName;

    internal RegularizedNetworkScoringEstimator(MLContext mlContext, Training.TrainedModel model, string featureColumnName)
    {
        _mlContext = mlContext;
        _model = model;
        _featureColumnName = featureColumnName;
    }

    /// <inheritdoc />
    public RegularizedNetworkTransformer Fit(IDataView input)
    {
        var (_, width) = DataViewReader.FeatureColumn(input.Schema, _featureColumnName, "input data");
        int expected = _model.InputShape.Aggregate(1, (a, b) => a * b);
        if (width != expected)
        {
            throw new ArgumentException($"features column '{_featureColumnName}' has {width} values, the model expects {expected}.");
        }

        return RegularizedNetworkEstimator.CreateTransformer(_mlContext, _model, input, _featureColumnName, null);
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
        => RegularizedNetworkEstimator.ScoringPipeline(_mlContext, _model, OnnxExporter.ExportToBytes(_model, new OnnxExportOptions { InputName = _featureColumnName }), null).GetOutputSchema(inputSchema);
}
