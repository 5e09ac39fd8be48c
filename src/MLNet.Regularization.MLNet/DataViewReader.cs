using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.Regularization.Data;

namespace MLNet.Regularization.MLNet;

/// <summary>Reads an IDataView's features and label columns into the engine's <see cref="Dataset"/>, checking the
/// schema first so that a wrong column gives an error that names it.</summary>
internal static class DataViewReader
{
    /// <summary>ML.NET's annotation kind holding a key type's values.</summary>
    public const string KeyValuesKind = "KeyValues";

    /// <summary>Checks the features column: present, a fixed-size vector of Single; returns it and its width.</summary>
    public static (DataViewSchema.Column Column, int Width) FeatureColumn(DataViewSchema schema, string name, string what = "training data")
    {
        var column = schema.GetColumnOrNull(name)
            ?? throw new ArgumentOutOfRangeException("input", $"features column '{name}' was not found in the {what}; columns: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => c.Name))}.");
        if (column.Type is not VectorDataViewType vector || vector.ItemType != NumberDataViewType.Single)
        {
            throw new ArgumentException($"features column '{name}' must be a vector of Single (float), but it is {column.Type}; use Concatenate / ConvertType to build one.", "input");
        }

        if (!vector.IsKnownSize)
        {
            throw new ArgumentException($"features column '{name}' is a variable-size vector ({column.Type}); the network needs a fixed number of features (for example [VectorType(784)] or Concatenate).", "input");
        }

        return (column, vector.Size);
    }

    /// <summary>Checks the label column for <paramref name="task"/>: a key for multiclass, Boolean for binary, Single for regression.</summary>
    public static DataViewSchema.Column LabelColumn(DataViewSchema schema, string name, TaskKind task, string what = "training data")
    {
        var column = schema.GetColumnOrNull(name)
            ?? throw new ArgumentOutOfRangeException("input", $"label column '{name}' was not found in the {what}; columns: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => c.Name))}.");
        bool fits = task switch
        {
            TaskKind.Multiclass => column.Type is KeyDataViewType { Count: > 1 and <= int.MaxValue },
            TaskKind.Binary => column.Type == BooleanDataViewType.Instance,
            _ => column.Type == NumberDataViewType.Single,
        };
        if (!fits)
        {
            string expected = task switch
            {
                TaskKind.Multiclass => "a key type with two or more values (apply MapValueToKey to it first)",
                TaskKind.Binary => "Boolean",
                _ => "Single (float; use ConvertType for other numbers)",
            };
            throw new ArgumentException($"label column '{name}' is {column.Type}, which does not fit {task.ToString().ToLowerInvariant()} training: it must be {expected}.", "input");
        }

        return column;
    }

    /// <summary>Every row of a source in memory. Training streams the rows instead; lottery-ticket pruning, which trains
    /// many times over, reads them into memory here.</summary>
    public static Dataset ToDataset(ExampleSource source)
    {
        var x = new float[(long)source.Count * source.FeatureCount];
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(x.AsSpan());
        using (var cursor = source.OpenCursor())
        {
            for (int i = 0; i < source.Count; i++)
            {
                if (!cursor.MoveNext(bytes.Slice(i * source.RowBytes, source.RowBytes)))
                {
                    throw new ArgumentException($"{source.Description} ended after {i} rows, but it held {source.Count} when its labels were read.");
                }
            }
        }

        return source.Task switch
        {
            TaskKind.Multiclass => Dataset.ForClassification(x, source.SampleShape, source.Labels.ToArray(), source.ClassCount, source.ClassNames),
            TaskKind.Binary => Dataset.ForBinary(x, source.SampleShape, source.Labels.ToArray(), source.ClassNames),
            _ => Dataset.ForRegression(x, source.SampleShape, source.Targets.ToArray()),
        };
    }

    /// <summary>Reads the features column alone as a [rows, width] tensor, in row order.</summary>
    public static Tensor ReadFeatures(IDataView data, string featureColumnName, string what = "data")
    {
        var (column, width) = FeatureColumn(data.Schema, featureColumnName, what);
        var values = new List<float>();
        using var cursor = data.GetRowCursor([column]);
        var getter = cursor.GetGetter<VBuffer<float>>(column);
        VBuffer<float> row = default;
        int rows = 0;
        while (cursor.MoveNext())
        {
            getter(ref row);
            foreach (float value in row.DenseValues())
            {
                values.Add(value);
            }

            rows++;
        }

        return new Tensor([.. values], rows, width);
    }

    /// <summary>The key's values as text (the <c>KeyValues</c> annotation, any item type, written with the invariant
    /// culture), or null when the key has none.</summary>
    public static IReadOnlyList<string>? KeyNames(DataViewSchema.Column key)
    {
        if (key.Annotations.Schema.GetColumnOrNull(KeyValuesKind) is not { Type: VectorDataViewType valuesType })
        {
            return null;
        }

        var method = typeof(DataViewReader).GetMethod(nameof(KeyValuesAsText), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(valuesType.ItemType.RawType);
        return (IReadOnlyList<string>)method.Invoke(null, [key])!;
    }

    private static List<string> KeyValuesAsText<T>(DataViewSchema.Column key)
    {
        VBuffer<T> values = default;
        key.Annotations.GetValue(KeyValuesKind, ref values);
        return values.DenseValues().Select(v => v switch
        {
            ReadOnlyMemory<char> text => text.ToString(),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => v?.ToString() ?? "",
        }).ToList();
    }
}
