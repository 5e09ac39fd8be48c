using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.Regularization.Data;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.MLNet;

/// <summary>
/// A fitted regularized network inside an ML.NET pipeline. Scoring runs the exported ONNX model through ML.NET's
/// <c>OnnxTransformer</c> (plus the key mapping of <c>PredictedLabel</c> for multiclass), so the pipeline saves with
/// <c>mlContext.Model.Save</c> like any other: the ONNX bytes travel inside the model zip, and
/// <c>mlContext.Model.Load</c> gives back the equivalent <see cref="TransformerChain{TLastTransformer}"/> (ML.NET only
/// lets its own types save themselves, so the reloaded transformer is that chain, not this wrapper).
/// <see cref="Model"/> is the engine's model: its training history and Monte Carlo dropout predictions.
/// </summary>
public sealed class RegularizedNetworkTransformer : ITransformer
{
    internal RegularizedNetworkTransformer(TransformerChain<ITransformer> scorer, TrainedModel model, byte[] onnxModel, string featureColumnName)
    {
        Scorer = scorer;
        Model = model;
        OnnxModel = onnxModel;
        FeatureColumnName = featureColumnName;
    }

    /// <summary>The engine's trained model: <see cref="TrainedModel.History"/>, <see cref="TrainedModel.PredictWithUncertainty"/>, export.</summary>
    public TrainedModel Model { get; }

    /// <summary>The ONNX model exactly as <c>OnnxExporter.ExportToBytes</c> wrote it (input named after the features column).</summary>
    public byte[] OnnxModel { get; }

    /// <summary>The features column the network reads.</summary>
    public string FeatureColumnName { get; }

    /// <summary>The ML.NET transformers that score: what is saved, and what <c>Model.Load</c> returns.</summary>
    public TransformerChain<ITransformer> Scorer { get; }

    /// <summary>The learning task.</summary>
    public TaskKind Task => Model.Task;

    /// <inheritdoc />
    public bool IsRowToRowMapper => ((ITransformer)Scorer).IsRowToRowMapper;

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => Scorer.GetOutputSchema(inputSchema);

    /// <inheritdoc />
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => ((ITransformer)Scorer).GetRowToRowMapper(inputSchema);

    /// <inheritdoc />
    public IDataView Transform(IDataView input) => Scorer.Transform(input);

    /// <summary>Monte Carlo dropout over the features column of <paramref name="data"/>: <paramref name="samples"/>
    /// stochastic passes per row (Gal &amp; Ghahramani, 2016), in the data's row order.</summary>
    public Uncertainty.UncertaintyPrediction PredictWithUncertainty(IDataView data, int samples = 50, int seed = 0)
    {
        var (column, width) = DataViewReader.FeatureColumn(data.Schema, FeatureColumnName, "data");
        var values = new List<float>();
        using var cursor = data.GetRowCursor(new[] { column });
        var getter = cursor.GetGetter<VBuffer<float>>(column);
        VBuffer<float> row = default;
        int rows = 0;
        while (cursor.MoveNext())
        {
            getter(ref row);
            values.AddRange(row.DenseValues());
            rows++;
        }

        return Model.PredictWithUncertainty(new Tensor([.. values], rows, width), samples, seed);
    }

    /// <summary>Saves the scoring chain (ML.NET calls this from <c>mlContext.Model.Save</c>).</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => ((ICanSaveModel)Scorer).Save(ctx);
}
