using System.Runtime.InteropServices;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.Regularization.Data;

namespace MLNet.Regularization.MLNet;

/// <summary>
/// An IDataView streamed to the engine's trainer: the label column is read once when the source is made (the labels,
/// 4 bytes a row, are all the trainer holds), and every pass opens a row cursor over the features column, so a pipeline
/// over data larger than memory trains without being copied. Sources of IDataViews are read in order: the trainer
/// shuffles them through its bounded shuffle buffer, and resumes an interrupted pass by cursoring again from the first
/// row (ML.NET's cursors repeat their rows in the same order).
/// </summary>
internal sealed class DataViewSource : ExampleSource
{
    private readonly IDataView _data;
    private readonly DataViewSchema.Column _features;

    private DataViewSource(IDataView data, DataViewSchema.Column features, string what, int[] sampleShape, TaskKind task, int[]? labels, float[]? targets, int classCount, IReadOnlyList<string>? classNames)
        : base(what, sampleShape, FeatureStorage.Single, task, labels, targets, classCount, task == TaskKind.Regression ? 1 : 0, classNames)
    {
        _data = data;
        _features = features;
    }

    public override bool SupportsRandomAccess => false;

    /// <summary>Checks the columns, reads the labels (one cursor over the label column) and returns the source.</summary>
    /// <param name="data">The rows.</param>
    /// <param name="featureColumnName">A fixed-size vector of Single.</param>
    /// <param name="labelColumnName">A key (multiclass), Boolean (binary) or Single (regression).</param>
    /// <param name="task">The task.</param>
    /// <param name="sampleShape">The shape of one example; its product is the features column's width.</param>
    /// <param name="what">Names the data in messages ("training data").</param>
    public static DataViewSource Create(IDataView data, string featureColumnName, string labelColumnName, TaskKind task, int[] sampleShape, string what = "training data")
    {
        var (featureColumn, width) = DataViewReader.FeatureColumn(data.Schema, featureColumnName, what);
        var labelColumn = DataViewReader.LabelColumn(data.Schema, labelColumnName, task, what);
        if (sampleShape.Aggregate(1L, (a, b) => a * b) != width)
        {
            throw new ArgumentException($"example shape [{string.Join(", ", sampleShape)}] does not hold the {width} values of column '{featureColumn.Name}'.", nameof(sampleShape));
        }

        var classLabels = new List<int>();
        var targets = new List<float>();
        using (var cursor = data.GetRowCursor([labelColumn]))
        {
            ValueGetter<uint>? getKey = task == TaskKind.Multiclass ? cursor.GetGetter<uint>(labelColumn) : null;
            ValueGetter<bool>? getBool = task == TaskKind.Binary ? cursor.GetGetter<bool>(labelColumn) : null;
            ValueGetter<float>? getFloat = task == TaskKind.Regression ? cursor.GetGetter<float>(labelColumn) : null;
            long index = 0;
            while (cursor.MoveNext())
            {
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
        }

        // Class k of the network is key k + 1 of the label, whatever order the keys were made in (ByValue, ByOccurrence
        // or a key type of the user's own), so Score's slot k and PredictedLabel's key k + 1 agree with the label column.
        return task switch
        {
            TaskKind.Multiclass => new DataViewSource(data, featureColumn, what, sampleShape, task, [.. classLabels], null, (int)((KeyDataViewType)labelColumn.Type).Count, DataViewReader.KeyNames(labelColumn)),
            TaskKind.Binary => new DataViewSource(data, featureColumn, what, sampleShape, task, [.. classLabels], null, 2, ["false", "true"]),
            _ => new DataViewSource(data, featureColumn, what, sampleShape, task, null, [.. targets], 0, null),
        };
    }

    public override ExampleCursor OpenCursor() => new Cursor(this);

    /// <summary>A bad value in the caller's data is an argument error, as ML.NET's trainers report it.</summary>
    protected internal override Exception InvalidValue(string message) => new ArgumentException($"{Description}: {message}");

    /// <summary>One row cursor over the features column; the VBuffer is reused, so reading allocates nothing per row.</summary>
    private sealed class Cursor : ExampleCursor
    {
        private readonly DataViewSource _view;
        private readonly DataViewRowCursor _cursor;
        private readonly ValueGetter<VBuffer<float>> _getter;
        private VBuffer<float> _row;
        private long _index;

        public Cursor(DataViewSource view)
            : base(view)
        {
            _view = view;
            _cursor = view._data.GetRowCursor([view._features]);
            _getter = _cursor.GetGetter<VBuffer<float>>(view._features);
        }

        public override bool MoveNext(Span<byte> destination)
        {
            _view.CheckRow(destination);
            if (!_cursor.MoveNext())
            {
                return false;
            }

            _getter(ref _row);
            if (_row.Length != _view.FeatureCount)
            {
                throw new ArgumentException($"column '{_view._features.Name}' has {_row.Length} values in row {_index}, expected {_view.FeatureCount}.");
            }

            var values = MemoryMarshal.Cast<byte, float>(destination);
            _row.CopyTo(values);
            _view.CheckFinite(values, _index++);
            _view.AddBytesRead(destination.Length);
            return true;
        }

        public override bool Skip()
        {
            _index++;
            return _cursor.MoveNext();
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _cursor.Dispose();
            }
        }
    }
}
