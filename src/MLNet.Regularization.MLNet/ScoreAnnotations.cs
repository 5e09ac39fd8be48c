using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.Regularization.Data;

namespace MLNet.Regularization.MLNet;

/// <summary>
/// The annotations ML.NET's own trainers put on their output columns, which the ONNX-backed scoring chain cannot
/// produce itself: on multiclass <c>Score</c> the training label's values (<c>TrainingLabelValues</c>) and, for
/// text labels, the class names as <c>SlotNames</c>; on <c>PredictedLabel</c> the label's <c>KeyValues</c>; and on
/// every score column <c>ScoreColumnKind</c>, <c>ScoreValueKind</c> and <c>ScoreColumnSetId</c> (binary
/// <c>Probability</c> also <c>IsNormalized</c>). <see cref="RegularizedNetworkTransformer"/> exposes its output
/// through <see cref="Annotate(DataViewSchema, DataViewSchema)"/>, so <c>GetSlotNames</c>, permutation feature
/// importance and tools that read these annotations see what they would see after SDCA or L-BFGS.
/// </summary>
internal sealed class ScoreAnnotations
{
    private const string SlotNamesKind = "SlotNames";
    private const string TrainingLabelValuesKind = "TrainingLabelValues";
    private const string ScoreColumnKindKind = "ScoreColumnKind";
    private const string ScoreValueKindKind = "ScoreValueKind";
    private const string ScoreColumnSetIdKind = "ScoreColumnSetId";
    private const string IsNormalizedKind = "IsNormalized";

    /// <summary>ML.NET's type of <c>ScoreColumnSetId</c>.</summary>
    private static readonly KeyDataViewType SetIdType = new(typeof(uint), int.MaxValue);

    private readonly TaskKind _task;
    private readonly DataViewSchema.Annotations? _labelKeyValues;

    /// <param name="task">The learning task.</param>
    /// <param name="labelKeyValues">Multiclass: annotations holding the training label's <c>KeyValues</c> (in key
    /// order), or null when the label key has none.</param>
    public ScoreAnnotations(TaskKind task, DataViewSchema.Annotations? labelKeyValues)
    {
        _task = task;
        _labelKeyValues = labelKeyValues?.Schema.GetColumnOrNull(DataViewReader.KeyValuesKind) is null ? null : labelKeyValues;
    }

    /// <summary>The label's key values as annotations, or null.</summary>
    public DataViewSchema.Annotations? LabelKeyValues => _labelKeyValues;

    /// <summary>The score columns' kind, as ML.NET names it.</summary>
    private string ColumnKind => _task switch
    {
        TaskKind.Multiclass => "MulticlassClassification",
        TaskKind.Binary => "BinaryClassification",
        _ => "Regression",
    };

    /// <summary><paramref name="scored"/> (the scoring chain's output) with the conventional annotations;
    /// <paramref name="input"/> is the schema that was scored, whose score column sets the new set id follows.</summary>
    public DataViewSchema Annotate(DataViewSchema scored, DataViewSchema input)
    {
        uint setId = NextSetId(input);
        var builder = new DataViewSchema.Builder();
        var outputs = _task switch
        {
            TaskKind.Multiclass => new[] { "Score", "PredictedLabel" },
            TaskKind.Binary => ["Score", "Probability", "PredictedLabel"],
            _ => ["Score"],
        };
        foreach (var column in scored)
        {
            // The scoring chain adds its columns last, so the visible column of each output name is its own; earlier
            // (hidden) columns of the same name are the input's.
            bool own = outputs.Contains(column.Name) && scored[column.Name].Index == column.Index;
            builder.AddColumn(column.Name, column.Type, own ? Annotations(column, setId) : column.Annotations);
        }

        return builder.ToSchema();
    }

    private DataViewSchema.Annotations Annotations(DataViewSchema.Column column, uint setId)
    {
        var builder = new DataViewSchema.Annotations.Builder();
        string valueKind = column.Name;
        if (_task == TaskKind.Multiclass && _labelKeyValues is { } keyValues)
        {
            var values = keyValues.Schema[DataViewReader.KeyValuesKind];
            if (column.Name == "Score")
            {
                Copy(builder, keyValues, values.Type, TrainingLabelValuesKind);
                if (values.Type is VectorDataViewType { ItemType: TextDataViewType })
                {
                    Copy(builder, keyValues, values.Type, SlotNamesKind);
                }
            }
            else
            {
                Copy(builder, keyValues, values.Type, DataViewReader.KeyValuesKind);
            }
        }

        builder.Add(ScoreColumnKindKind, TextDataViewType.Instance, (ref ReadOnlyMemory<char> v) => v = ColumnKind.AsMemory());
        builder.Add(ScoreValueKindKind, TextDataViewType.Instance, (ref ReadOnlyMemory<char> v) => v = valueKind.AsMemory());
        builder.Add(ScoreColumnSetIdKind, SetIdType, (ref uint v) => v = setId);
        if (column.Name == "Probability")
        {
            builder.Add(IsNormalizedKind, BooleanDataViewType.Instance, (ref bool v) => v = true);
        }

        return builder.ToAnnotations();
    }

    /// <summary>Adds the label's key values under the annotation kind <paramref name="kind"/>.</summary>
    private static void Copy(DataViewSchema.Annotations.Builder builder, DataViewSchema.Annotations keyValues, DataViewType type, string kind)
    {
        var itemType = ((VectorDataViewType)type).ItemType.RawType;
        typeof(ScoreAnnotations).GetMethod(nameof(CopyTyped), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(itemType).Invoke(null, [builder, keyValues, type, kind]);
    }

    private static void CopyTyped<T>(DataViewSchema.Annotations.Builder builder, DataViewSchema.Annotations keyValues, DataViewType type, string kind) =>
        builder.Add(kind, type, (ref VBuffer<T> value) => keyValues.GetValue(DataViewReader.KeyValuesKind, ref value));

    /// <summary>One more than the largest score column set id in <paramref name="schema"/> (1 when there is none), as
    /// ML.NET numbers the score columns of successive trainers.</summary>
    private static uint NextSetId(DataViewSchema schema)
    {
        uint max = 0;
        foreach (var column in schema)
        {
            if (column.Annotations.Schema.GetColumnOrNull(ScoreColumnSetIdKind) is { Type: KeyDataViewType })
            {
                uint id = 0;
                column.Annotations.GetValue(ScoreColumnSetIdKind, ref id);
                max = Math.Max(max, id);
            }
        }

        return max + 1;
    }
}

/// <summary>An IDataView that shows another one's rows under a schema with the same columns and other annotations.</summary>
internal sealed class ReannotatedDataView(IDataView source, DataViewSchema schema) : IDataView
{
    public bool CanShuffle => source.CanShuffle;

    public DataViewSchema Schema => schema;

    public long? GetRowCount() => source.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
        new ReannotatedCursor(source.GetRowCursor(columnsNeeded.Select(c => source.Schema[c.Index]), rand), schema);

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [.. source.GetRowCursorSet(columnsNeeded.Select(c => source.Schema[c.Index]), n, rand).Select(c => new ReannotatedCursor(c, schema))];

    private sealed class ReannotatedCursor(DataViewRowCursor inner, DataViewSchema schema) : DataViewRowCursor
    {
        public override DataViewSchema Schema => schema;

        public override long Position => inner.Position;

        public override long Batch => inner.Batch;

        public override bool MoveNext() => inner.MoveNext();

        public override ValueGetter<DataViewRowId> GetIdGetter() => inner.GetIdGetter();

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => inner.GetGetter<TValue>(inner.Schema[column.Index]);

        public override bool IsColumnActive(DataViewSchema.Column column) => inner.IsColumnActive(inner.Schema[column.Index]);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>A row-to-row mapper (what a PredictionEngine uses) whose output rows carry another schema's annotations.</summary>
internal sealed class ReannotatedMapper(IRowToRowMapper inner, DataViewSchema schema) : IRowToRowMapper
{
    public DataViewSchema InputSchema => inner.InputSchema;

    public DataViewSchema OutputSchema => schema;

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns) =>
        inner.GetDependencies(dependingColumns.Select(c => inner.OutputSchema[c.Index]));

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns) =>
        new ReannotatedRow(inner.GetRow(input, activeColumns.Select(c => inner.OutputSchema[c.Index])), schema);

    private sealed class ReannotatedRow(DataViewRow inner, DataViewSchema schema) : DataViewRow
    {
        public override DataViewSchema Schema => schema;

        public override long Position => inner.Position;

        public override long Batch => inner.Batch;

        public override ValueGetter<DataViewRowId> GetIdGetter() => inner.GetIdGetter();

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => inner.GetGetter<TValue>(inner.Schema[column.Index]);

        public override bool IsColumnActive(DataViewSchema.Column column) => inner.IsColumnActive(inner.Schema[column.Index]);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
