using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx;

namespace MLNet.Regularization.MLNet;

/// <summary>Where ML.NET users look for the regularized network: <c>mlContext.{Task}.Trainers.RegularizedNetwork</c>,
/// <c>mlContext.Transforms.ApplyRegularizedNetwork</c> and <c>mlContext.Model.LoadWithRegularizedNetwork</c>.</summary>
public static class RegularizedNetworkCatalog
{
    /// <summary>A regularized network for multiclass classification; the label must be a key (MapValueToKey), in any
    /// key order.</summary>
    public static RegularizedNetworkEstimator RegularizedNetwork(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, RegularizedNetworkOptions? options = null)
        => new(MLContextBridge.FromCatalog(catalog), options ?? new RegularizedNetworkOptions(), TaskKind.Multiclass);

    /// <summary>A regularized network for multiclass classification with the given columns and defaults otherwise.</summary>
    public static RegularizedNetworkEstimator RegularizedNetwork(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, string labelColumnName, string featureColumnName = "Features")
        => catalog.RegularizedNetwork(new RegularizedNetworkOptions { LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName });

    /// <summary>A regularized network for binary classification; the label must be Boolean.</summary>
    public static RegularizedNetworkEstimator RegularizedNetwork(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog, RegularizedNetworkOptions? options = null)
        => new(MLContextBridge.FromCatalog(catalog), options ?? new RegularizedNetworkOptions(), TaskKind.Binary);

    /// <summary>A regularized network for regression; the label must be Single.</summary>
    public static RegularizedNetworkEstimator RegularizedNetwork(this RegressionCatalog.RegressionTrainers catalog, RegularizedNetworkOptions? options = null)
        => new(MLContextBridge.FromCatalog(catalog), options ?? new RegularizedNetworkOptions(), TaskKind.Regression);

    /// <summary>
    /// Scores a model file written by <c>OnnxExporter.Export</c> with ML.NET's conventional columns (as the trainers
    /// above): <paramref name="featureColumnName"/> must be a fixed-size Single vector of the model's input size.
    /// Multiclass <c>PredictedLabel</c> is a key whose values are the model's class names.
    /// </summary>
    public static RegularizedNetworkScoringEstimator ApplyRegularizedNetwork(this TransformsCatalog catalog, string modelFile, string featureColumnName = "Features")
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new RegularizedNetworkScoringEstimator(MLContextBridge.FromCatalog(catalog), OnnxImporter.Load(modelFile), featureColumnName);
    }

    /// <summary>
    /// Loads a model saved with <c>mlContext.Model.Save</c> as <c>Load</c> does, and puts a
    /// <see cref="RegularizedNetworkTransformer"/> back in place of each regularized network's scoring chain: the
    /// native model (training history, Monte Carlo prediction, export) and the annotated output columns return.
    /// Find it with <see cref="GetRegularizedNetwork"/>.
    /// </summary>
    public static ITransformer LoadWithRegularizedNetwork(this ModelOperationsCatalog catalog, string filePath, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(filePath);
        using var stream = File.OpenRead(filePath);
        return catalog.LoadWithRegularizedNetwork(stream, out inputSchema);
    }

    /// <summary>Loads a model saved with <c>mlContext.Model.Save</c> from a stream, with its regularized networks
    /// restored (see the overload that takes a file path).</summary>
    public static ITransformer LoadWithRegularizedNetwork(this ModelOperationsCatalog catalog, Stream stream, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(stream);
        var bytes = new MemoryStream();
        stream.CopyTo(bytes);
        bytes.Position = 0;
        var loaded = catalog.Load(bytes, out inputSchema);
        bytes.Position = 0;
        return SavedModel.Restore(loaded, bytes, inputSchema);
    }

    /// <summary>The regularized network in a fitted pipeline (the last one, when there are several), or null.</summary>
    public static RegularizedNetworkTransformer? GetRegularizedNetwork(this ITransformer model) => model switch
    {
        RegularizedNetworkTransformer network => network,
        IEnumerable<ITransformer> chain => chain.Reverse().Select(GetRegularizedNetwork).FirstOrDefault(n => n is not null),
        _ => null,
    };
}

/// <summary>Scores an exported model file with ML.NET's conventional columns; fitting reads no rows.</summary>
public sealed class RegularizedNetworkScoringEstimator : IEstimator<RegularizedNetworkTransformer>
{
    private readonly MLContextBridge _context;
    private readonly Training.TrainedModel _model;
    private readonly string _featureColumnName;

    internal RegularizedNetworkScoringEstimator(MLContextBridge context, Training.TrainedModel model, string featureColumnName)
    {
        _context = context;
        _model = model;
        _featureColumnName = featureColumnName;
    }

    /// <inheritdoc />
    public RegularizedNetworkTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var (column, _) = DataViewReader.FeatureColumn(input.Schema, _featureColumnName, "input data");
        InputLayout.Check(column, _model.InputShape);
        return RegularizedNetworkEstimator.CreateTransformer(_context, _model, input, _featureColumnName, ClassNameKeys(_model));
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
        => RegularizedNetworkEstimator.ScoringPipeline(_context.Transforms, _model, _featureColumnName, ClassNameKeys(_model)).GetOutputSchema(inputSchema);

    /// <summary>The model's class names as a key's values (multiclass), or null.</summary>
    private static DataViewSchema.Annotations? ClassNameKeys(Training.TrainedModel model)
    {
        if (model.Task != TaskKind.Multiclass)
        {
            return null;
        }

        var names = model.ClassNames ?? [.. Enumerable.Range(0, model.ClassCount).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];
        var builder = new DataViewSchema.Annotations.Builder();
        var values = new VBuffer<ReadOnlyMemory<char>>(names.Count, [.. names.Select(n => n.AsMemory())]);
        builder.Add(DataViewReader.KeyValuesKind, new VectorDataViewType(TextDataViewType.Instance, names.Count), (ref VBuffer<ReadOnlyMemory<char>> v) => values.CopyTo(ref v));
        return builder.ToAnnotations();
    }
}
