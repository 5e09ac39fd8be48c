using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Training;
using MLNet.Regularization.Uncertainty;

namespace MLNet.Regularization.MLNet;

/// <summary>
/// A fitted regularized network inside an ML.NET pipeline: a prediction transformer whose <see cref="Model"/> is the
/// engine's trained model (training history, Monte Carlo dropout, export). Scoring runs the exported ONNX model
/// through ML.NET's own <c>OnnxTransformer</c> and column mappings (<see cref="Scorer"/>), and the output columns
/// carry the annotations ML.NET's trainers give theirs (class names as <c>Score</c>'s slot names, the label's key
/// values), so evaluators, <c>PermutationFeatureImportance</c> and prediction engines work as with SDCA or L-BFGS.
/// </summary>
/// <remarks>
/// ML.NET lets only its own types save themselves, so <c>mlContext.Model.Save</c> writes <see cref="Scorer"/> (with
/// the ONNX model and, for networks with dropout, its Monte Carlo form inside). <c>mlContext.Model.Load</c> gives that
/// chain back, which scores identically; <c>mlContext.Model.LoadWithRegularizedNetwork</c> gives back this
/// transformer in its place, with the native model.
/// </remarks>
public sealed class RegularizedNetworkTransformer : ISingleFeaturePredictionTransformer<TrainedModel>
{
    private readonly ScoreAnnotations _annotations;

    internal RegularizedNetworkTransformer(TransformerChain<ITransformer> scorer, TrainedModel model, string featureColumnName, ScoreAnnotations annotations)
    {
        Scorer = scorer;
        Model = model;
        FeatureColumnName = featureColumnName;
        _annotations = annotations;
        int[] shape = model.InputShape;
        int width = shape.Aggregate(1, (a, b) => a * b);
        FeatureColumnType = shape.Length > 1 ? new VectorDataViewType(NumberDataViewType.Single, shape) : new VectorDataViewType(NumberDataViewType.Single, width);
    }

    /// <summary>The engine's trained model: <see cref="TrainedModel.History"/>, <see cref="TrainedModel.PredictWithUncertainty"/>, export.</summary>
    public TrainedModel Model { get; }

    /// <summary>The features column the network reads.</summary>
    public string FeatureColumnName { get; }

    /// <summary>The type the features column must have: a vector of Single of the network's input size (with its
    /// image dimensions for a convolutional network; a flat vector of the same size is accepted too).</summary>
    public DataViewType FeatureColumnType { get; }

    /// <summary>The model as <c>OnnxExporter.ExportToBytes</c> writes it, its input named after the features column.</summary>
    public byte[] OnnxModel => OnnxExporter.ExportToBytes(Model, new OnnxExportOptions { InputName = FeatureColumnName });

    /// <summary>The ML.NET transformers that score: what is saved, and what <c>mlContext.Model.Load</c> returns.</summary>
    public TransformerChain<ITransformer> Scorer { get; }

    /// <summary>The learning task.</summary>
    public TaskKind Task => Model.Task;

    /// <summary>The label column's key values (multiclass), as annotations, in the model's class order.</summary>
    internal DataViewSchema.Annotations? LabelKeyValues => _annotations.LabelKeyValues;

    /// <inheritdoc />
    public bool IsRowToRowMapper => true;

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        CheckInput(inputSchema);
        return _annotations.Annotate(Scorer.GetOutputSchema(inputSchema), inputSchema);
    }

    /// <inheritdoc />
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        CheckInput(inputSchema);
        var inner = ((ITransformer)Scorer).GetRowToRowMapper(inputSchema);
        return new ReannotatedMapper(inner, _annotations.Annotate(inner.OutputSchema, inputSchema));
    }

    /// <inheritdoc />
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        CheckInput(input.Schema);
        var scored = Scorer.Transform(input);
        return new ReannotatedDataView(scored, _annotations.Annotate(scored.Schema, input.Schema));
    }

    /// <summary>Monte Carlo dropout over the features column of <paramref name="data"/>: <paramref name="samples"/>
    /// stochastic passes per row (Gal &amp; Ghahramani, 2016), in the data's row order.</summary>
    public UncertaintyPrediction PredictWithUncertainty(IDataView data, int samples = 50, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckInput(data.Schema);
        var features = DataViewReader.ReadFeatures(data, FeatureColumnName);
        int[] shape = Model.InputShape;
        return Model.PredictWithUncertainty(shape.Length > 1 ? features.Reshape([features.Shape[0], .. shape]) : features, samples, seed);
    }

    /// <summary>Saves the scoring chain (ML.NET calls this from <c>mlContext.Model.Save</c>).</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)Scorer).Save(ctx);

    private void CheckInput(DataViewSchema schema)
    {
        var (column, _) = DataViewReader.FeatureColumn(schema, FeatureColumnName, "input data");
        InputLayout.Check(column, Model.InputShape);
    }
}
