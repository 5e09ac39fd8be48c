using System.ComponentModel;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace MLNet.Regularization.MLNet;

/// <summary>
/// Turns the one-value vectors of <see cref="OnnxScoringGraph"/> into ML.NET's scalar columns with CustomMapping.
/// Each mapping has a contract name and a <see cref="CustomMappingFactoryAttributeAttribute"/> factory, so the
/// saved model records it and <c>mlContext.Model.Load</c> finds it again (ML.NET saves the assembly name with the
/// contract and registers that assembly when loading) — nothing to register by hand.
/// </summary>
internal static class ScalarColumns
{
    /// <summary>Multiclass: the arg-max class index as an Int64 scalar.</summary>
    public const string PredictedIndexScalar = OnnxScoringGraph.Prefix + "PredictedIndexScalar";

    public static IEstimator<ITransformer> Multiclass(TransformsCatalog transforms) =>
        transforms.CustomMapping<MulticlassVectors, MulticlassScalars>(MulticlassScalarsFactory.Map, MulticlassScalarsFactory.ContractName);

    public static IEstimator<ITransformer> Binary(TransformsCatalog transforms) =>
        transforms.CustomMapping<BinaryVectors, BinaryScalars>(BinaryScalarsFactory.Map, BinaryScalarsFactory.ContractName);

    public static IEstimator<ITransformer> Regression(TransformsCatalog transforms) =>
        transforms.CustomMapping<RegressionVectors, RegressionScalars>(RegressionScalarsFactory.Map, RegressionScalarsFactory.ContractName);
}

/// <summary>Multiclass input of the scalar mapping: the class index as a vector of one value. Infrastructure.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class MulticlassVectors
{
    /// <summary>The arg-max class index.</summary>
    [ColumnName(OnnxScoringGraph.PredictedIndex), VectorType(1)]
    public long[] PredictedIndex { get; set; } = [];
}

/// <summary>Multiclass output of the scalar mapping. Infrastructure.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class MulticlassScalars
{
    /// <summary>The arg-max class index as a scalar.</summary>
    [ColumnName(ScalarColumns.PredictedIndexScalar)]
    public long PredictedIndex { get; set; }
}

/// <summary>Saves and reloads the multiclass scalar mapping. Infrastructure.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(ContractName)]
public sealed class MulticlassScalarsFactory : CustomMappingFactory<MulticlassVectors, MulticlassScalars>
{
    /// <summary>The contract name saved with the model.</summary>
    public const string ContractName = "MLNet.Regularization.MulticlassScalars";

    /// <summary>The mapping.</summary>
    public static void Map(MulticlassVectors input, MulticlassScalars output) => output.PredictedIndex = input.PredictedIndex[0];

    /// <inheritdoc />
    public override Action<MulticlassVectors, MulticlassScalars> GetMapping() => Map;
}

/// <summary>Binary input of the scalar mapping: vectors of one value. Infrastructure.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class BinaryVectors
{
    /// <summary>The logit.</summary>
    [ColumnName(OnnxScoringGraph.Score), VectorType(1)]
    public float[] Score { get; set; } = [];

    /// <summary>P(true).</summary>
    [ColumnName(OnnxScoringGraph.Probability), VectorType(1)]
    public float[] Probability { get; set; } = [];

    /// <summary>The predicted class.</summary>
    [ColumnName(OnnxScoringGraph.PredictedLabel), VectorType(1)]
    public bool[] PredictedLabel { get; set; } = [];
}

/// <summary>Binary output of the scalar mapping: ML.NET's conventional columns. Infrastructure.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class BinaryScalars
{
    /// <summary>The logit log(p / (1 − p)).</summary>
    public float Score { get; set; }

    /// <summary>P(true).</summary>
    public float Probability { get; set; }

    /// <summary>The predicted class.</summary>
    public bool PredictedLabel { get; set; }
}

/// <summary>Saves and reloads the binary scalar mapping. Infrastructure.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(ContractName)]
public sealed class BinaryScalarsFactory : CustomMappingFactory<BinaryVectors, BinaryScalars>
{
    /// <summary>The contract name saved with the model.</summary>
    public const string ContractName = "MLNet.Regularization.BinaryScalars";

    /// <summary>The mapping.</summary>
    public static void Map(BinaryVectors input, BinaryScalars output)
    {
        output.Score = input.Score[0];
        output.Probability = input.Probability[0];
        output.PredictedLabel = input.PredictedLabel[0];
    }

    /// <inheritdoc />
    public override Action<BinaryVectors, BinaryScalars> GetMapping() => Map;
}

/// <summary>Regression input of the scalar mapping. Infrastructure.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class RegressionVectors
{
    /// <summary>The prediction.</summary>
    [ColumnName(OnnxScoringGraph.Score), VectorType(1)]
    public float[] Score { get; set; } = [];
}

/// <summary>Regression output of the scalar mapping. Infrastructure.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class RegressionScalars
{
    /// <summary>The prediction.</summary>
    public float Score { get; set; }
}

/// <summary>Saves and reloads the regression scalar mapping. Infrastructure.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[CustomMappingFactoryAttribute(ContractName)]
public sealed class RegressionScalarsFactory : CustomMappingFactory<RegressionVectors, RegressionScalars>
{
    /// <summary>The contract name saved with the model.</summary>
    public const string ContractName = "MLNet.Regularization.RegressionScalars";

    /// <summary>The mapping.</summary>
    public static void Map(RegressionVectors input, RegressionScalars output) => output.Score = input.Score[0];

    /// <inheritdoc />
    public override Action<RegressionVectors, RegressionScalars> GetMapping() => Map;
}
