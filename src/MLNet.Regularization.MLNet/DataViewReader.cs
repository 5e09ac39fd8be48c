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

    /// <summary>Reads every row into a <see cref="Dataset"/> for <paramref name="task"/>, each example shaped
    /// <paramref name="sampleShape"/> (whose product is the features column's width).</summary>
    public static Dataset Read(IDataView data, string featureColumnName, string labelColumnName, TaskKind task, int[] sampleShape, string what = "training data")
    {
        var (featureColumn, width) = FeatureColumn(data.Schema, featureColumnName, what);
        var labelColumn = LabelColumn(data.Schema, labelColumnName, task, what);

        var features = new List<float>();
        var classLabels = new List<int>();
        var targets = new List<float>();
        using var cursor = data.GetRowCursor([featureColumn, labelColumn]);
        var getFeatures = cursor.GetGetter<VBuffer<float>>(featureColumn);
        ValueGetter<uint>? getKey = task == TaskKind.Multiclass ? cursor.GetGetter<uint>(labelColumn) : null;
        ValueGetter<bool>? getBool = task == TaskKind.Binary ? cursor.GetGetter<bool>(labelColumn) : null;
        ValueGetter<float>? getFloat = task == TaskKind.Regression ? cursor.GetGetter<float>(labelColumn) : null;
        VBuffer<float> row = default;
        long index = 0;
        while (cursor.MoveNext())
        {
            getFeatures(ref row);
            if (row.Length != width)
            {
                throw new ArgumentException($"column '{featureColumn.Name}' has {row.Length} values in row {index}, expected {width}.");
            }

            foreach (float value in row.DenseValues())
            {
                features.Add(value);
            }

            if (getKey is not null)
            {
                uint key = 0;
                getKey(ref key);
                if (key == 0)
                {
                    throw new ArgumentException($"label '{labelColumn.Name}' is missing in row {index} (key 0: the value was not in MapValueToKey's dictionary).");
                }

                classLabels.Add((int)key - 1);
            }
            else if (getBool is not null)
            {
                bool value = false;
                getBool(ref value);
                classLabels.Add(value ? 1 : 0);
            }
            else
            {
                float value = 0;
                getFloat!(ref value);
                targets.Add(value);
            }

            index++;
        }

        if (index == 0)
        {
            throw new ArgumentException($"the {what} has no rows.");
        }

        float[] x = [.. features];
        return task switch
        {
            // Class k of the network is key k + 1 of the label, whatever order the keys were made in (ByValue,
            // ByOccurrence or a key type of the user's own), so Score's slot k and PredictedLabel's key k + 1 agree
            // with the label column.
            TaskKind.Multiclass => Dataset.ForClassification(x, sampleShape, [.. classLabels], (int)((KeyDataViewType)labelColumn.Type).Count, KeyNames(labelColumn)),
            TaskKind.Binary => Dataset.ForBinary(x, sampleShape, [.. classLabels], ["false", "true"]),
            _ => Dataset.ForRegression(x, sampleShape, [.. targets]),
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
