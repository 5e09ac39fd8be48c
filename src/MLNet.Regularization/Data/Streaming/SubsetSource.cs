namespace MLNet.Regularization.Data;

/// <summary>
/// Some examples of another source, by index, without copying features (the parts of a stratified split). A pass in
/// order reads the inner source's own cursor and passes over the examples not in the view, so a pass over a file
/// streams it (a raw IDX file seeks past them) instead of reading it through its memory map, which would leave the
/// whole file resident in the process; this needs ascending indices, which a source read in order requires. A
/// random-access source also reads the view's examples by index, in any order. The inner source is shared: disposing
/// the view leaves it open.
/// </summary>
internal sealed class SubsetSource : ExampleSource
{
    private readonly ExampleSource _inner;
    private readonly int[] _rows;
    private readonly bool[]? _member;

    public SubsetSource(ExampleSource inner, int[] rows)
        : base(inner.Description, inner.SampleShape, inner.Storage, inner.Task, Pick(inner.LabelArray, rows, 1), Pick(inner.TargetArray, rows, inner.TargetSize), inner.ClassCount, inner.TargetSize, inner.ClassNames)
    {
        _inner = inner;
        _rows = rows;
        bool ascending = true;
        for (int i = 1; i < rows.Length && ascending; i++)
        {
            ascending = rows[i] > rows[i - 1];
            if (!ascending && !inner.SupportsRandomAccess)
            {
                throw new ArgumentException($"a view of {inner.Description}, which is read in order, needs ascending indices; position {i} holds {rows[i]} after {rows[i - 1]}.", nameof(rows));
            }
        }

        if (ascending)
        {
            _member = new bool[inner.Count];
            foreach (int row in rows)
            {
                _member[row] = true;
            }
        }
    }

    public override bool SupportsRandomAccess => _inner.SupportsRandomAccess;

    /// <summary>A pass over a view of a source read in order reads (parses) the whole source; a random-access source
    /// passes over the other examples without reading them.</summary>
    public override long ByteLength => _inner.SupportsRandomAccess ? base.ByteLength : _inner.ByteLength;

    public override ExampleCursor OpenCursor() => _member is null ? new IndexCursor(this) : new FilterCursor(this);

    public override void ReadFeatures(int index, Span<byte> destination)
    {
        CheckRead(index, destination);
        _inner.ReadFeatures(_rows[index], destination);
    }

    protected internal override Exception InvalidValue(string message) => _inner.InvalidValue(message);

    private static T[]? Pick<T>(T[]? values, int[] rows, int width)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (values is null)
        {
            return null;
        }

        var picked = new T[rows.Length * width];
        int count = values.Length / Math.Max(width, 1);
        for (int i = 0; i < rows.Length; i++)
        {
            if ((uint)rows[i] >= (uint)count)
            {
                throw new ArgumentOutOfRangeException(nameof(rows), $"index {rows[i]} at position {i} is outside 0..{count - 1}.");
            }

            values.AsSpan(rows[i] * width, width).CopyTo(picked.AsSpan(i * width, width));
        }

        return picked;
    }

    /// <summary>Reads the inner source in order and passes over the examples that are not in the view.</summary>
    private sealed class FilterCursor(SubsetSource view) : ExampleCursor(view)
    {
        private readonly ExampleCursor _cursor = view._inner.OpenCursor();
        private int _position;

        public override bool MoveNext(Span<byte> destination)
        {
            if (!SkipToMember())
            {
                return false;
            }

            _position++;
            return _cursor.MoveNext(destination);
        }

        public override bool Skip()
        {
            if (!SkipToMember())
            {
                return false;
            }

            _position++;
            return _cursor.Skip();
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _cursor.Dispose();
            }
        }

        private bool SkipToMember()
        {
            var member = view._member!;
            while (_position < member.Length && !member[_position])
            {
                if (!_cursor.Skip())
                {
                    return false;
                }

                _position++;
            }

            return _position < member.Length;
        }
    }
}
