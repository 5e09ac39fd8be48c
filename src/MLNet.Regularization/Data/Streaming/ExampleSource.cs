using System.Runtime.InteropServices;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MLNet.Regularization.Data;

/// <summary>How an <see cref="ExampleSource"/> stores one feature value.</summary>
public enum FeatureStorage
{
    /// <summary>A 32-bit float, used as it is (4 bytes per value).</summary>
    Single,

    /// <summary>One unsigned byte, read as <c>byte / 255f</c> (IDX images): a quarter of the memory and disk of floats,
    /// converted one mini-batch at a time.</summary>
    Byte,
}

/// <summary>
/// Labelled examples that the trainer reads one mini-batch at a time instead of holding them all as 32-bit floats:
/// the streaming source behind <see cref="Training.Trainer.Fit(Layers.Network, ExampleSource, ExampleSource?, IProgress{Training.EpochRecord}?, CancellationToken)"/>.
/// An in-memory <see cref="Dataset"/> (<see cref="DatasetSource"/>), IDX files (<see cref="IdxSource"/>), CSV files
/// (<see cref="CsvSource"/>), the binary cache (<see cref="ExampleCache"/>) and, in the ML.NET adapter, an IDataView
/// all implement it.
/// </summary>
/// <remarks>
/// <para>What a source holds in memory is its labels (or regression targets): 4 bytes per example and target, needed
/// up front for the class count, stratified splits and checks. The features stay where they are (a file, a cache, an
/// ML.NET pipeline) and are read in <see cref="Storage"/> form, converted to floats per batch.</para>
/// <para>Every source reads its examples in order through <see cref="OpenCursor"/>; a source with
/// <see cref="SupportsRandomAccess"/> also reads any example by index (<see cref="ReadFeatures"/>), which lets the
/// trainer draw a full random permutation each epoch. A source read in order is shuffled through a bounded buffer
/// instead (<see cref="Training.TrainerOptions.ShuffleBufferSize"/>). Both kinds of reading may happen from several
/// threads at once (a prefetch thread, a validation pass, a checkpoint's fingerprint), each cursor on one thread.</para>
/// </remarks>
public abstract class ExampleSource : IDisposable
{
    private readonly int[] _sampleShape;
    private readonly int[]? _labels;
    private readonly float[]? _targets;
    private long _bytesRead;

    /// <summary>Describes the examples; labels (classification) or targets (regression) are given in full.</summary>
    /// <param name="description">Names the source in messages, such as <c>'train.csv'</c>.</param>
    /// <param name="sampleShape">The shape of one example, such as [784] or [1, 28, 28].</param>
    /// <param name="storage">How a feature value is stored.</param>
    /// <param name="task">The task the labels are for.</param>
    /// <param name="labels">One class index per example (multiclass and binary), otherwise null.</param>
    /// <param name="targets">TargetSize values per example (regression), otherwise null.</param>
    /// <param name="classCount">The number of classes (2 for binary, 0 for regression).</param>
    /// <param name="targetSize">Regression targets per example (0 for classification).</param>
    /// <param name="classNames">Optional class names, indexed by label.</param>
    /// <exception cref="ArgumentException">The description is inconsistent (no examples, a label out of range, a
    /// non-finite target, a bad shape).</exception>
    protected ExampleSource(string description, int[] sampleShape, FeatureStorage storage, TaskKind task, int[]? labels, float[]? targets, int classCount, int targetSize, IReadOnlyList<string>? classNames)
    {
        ArgumentException.ThrowIfNullOrEmpty(description);
        ArgumentNullException.ThrowIfNull(sampleShape);
        if (sampleShape.Length == 0 || sampleShape.Any(s => s <= 0) || sampleShape.Aggregate(1L, (a, b) => a * b) > Array.MaxLength)
        {
            throw new ArgumentException($"sample shape {Tensor.FormatShape(sampleShape)} must have positive dimensions that fit one array.", nameof(sampleShape));
        }

        if (!Enum.IsDefined(storage) || !Enum.IsDefined(task))
        {
            throw new ArgumentException($"unknown storage {storage} or task {task}.", nameof(storage));
        }

        if (task == TaskKind.Regression)
        {
            ArgumentNullException.ThrowIfNull(targets);
            if (targetSize <= 0 || targets.Length % targetSize != 0 || labels is not null)
            {
                throw new ArgumentException($"a regression source needs targets in whole rows of targetSize {targetSize} and no labels.", nameof(targets));
            }

            Dataset.CheckTargets(targets, targetSize);
            Count = targets.Length / targetSize;
        }
        else
        {
            ArgumentNullException.ThrowIfNull(labels);
            if (targets is not null || (task == TaskKind.Binary && classCount != 2) || classCount < 2)
            {
                throw new ArgumentException($"a {task} source needs labels of at least 2 classes (exactly 2 for binary) and no targets, got {classCount} classes.", nameof(classCount));
            }

            Dataset.CheckLabels(labels, classCount);
            Count = labels.Length;
            targetSize = 0;
        }

        if (Count == 0)
        {
            throw new ArgumentException($"{description} is empty: it has no examples.", nameof(labels));
        }

        if (classNames is not null && classNames.Count != classCount)
        {
            throw new ArgumentException($"{classNames.Count} class names given for {classCount} classes.", nameof(classNames));
        }

        Description = description;
        _sampleShape = (int[])sampleShape.Clone();
        FeatureCount = (int)sampleShape.Aggregate(1L, (a, b) => a * b);
        Storage = storage;
        Task = task;
        _labels = labels;
        _targets = targets;
        ClassCount = task == TaskKind.Regression ? 0 : classCount;
        TargetSize = targetSize;
        ClassNames = classNames;
    }

    /// <summary>Names the source in messages and progress, such as <c>'train.csv'</c>.</summary>
    public string Description { get; }

    /// <summary>The number of examples.</summary>
    public int Count { get; }

    /// <summary>The per-example feature shape, such as [784] or [1, 28, 28] (a copy).</summary>
    public int[] SampleShape => (int[])_sampleShape.Clone();

    /// <summary>The per-example shape without a copy.</summary>
    internal ReadOnlySpan<int> Shape => _sampleShape;

    /// <summary>Values per example.</summary>
    public int FeatureCount { get; }

    /// <summary>How a feature value is stored (and read by <see cref="OpenCursor"/> and <see cref="ReadFeatures"/>).</summary>
    public FeatureStorage Storage { get; }

    /// <summary>Bytes of one example's features in <see cref="Storage"/> form.</summary>
    public int RowBytes => FeatureCount * (Storage == FeatureStorage.Byte ? 1 : sizeof(float));

    /// <summary>The task the labels are for.</summary>
    public TaskKind Task { get; }

    /// <summary>The number of classes (2 for binary, 0 for regression).</summary>
    public int ClassCount { get; }

    /// <summary>Regression targets per example (0 for classification).</summary>
    public int TargetSize { get; }

    /// <summary>Optional class names, indexed by label.</summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>One class index per example (empty for regression).</summary>
    public ReadOnlySpan<int> Labels => _labels;

    /// <summary><see cref="TargetSize"/> values per example (empty for classification).</summary>
    public ReadOnlySpan<float> Targets => _targets;

    /// <summary>The labels array itself (null for regression), for views that share it.</summary>
    internal int[]? LabelArray => _labels;

    /// <summary>The targets array itself (null for classification).</summary>
    internal float[]? TargetArray => _targets;

    /// <summary>True when <see cref="ReadFeatures"/> reads any example by index.</summary>
    public abstract bool SupportsRandomAccess { get; }

    /// <summary>The bytes one pass over every example reads from the underlying file or memory (for progress).</summary>
    public virtual long ByteLength => (long)Count * RowBytes;

    /// <summary>The bytes read so far by every cursor and random read of this source, summed over passes (for progress;
    /// safe to read from any thread).</summary>
    public long BytesRead => Interlocked.Read(ref _bytesRead);

    /// <summary>A short description of what is streamed: <c>'train.csv': 60,000 examples of 784 values (byte)</c>.</summary>
    public override string ToString() => $"{Description}: {Count:N0} examples of {Tensor.FormatShape(_sampleShape)} ({Storage.ToString().ToLowerInvariant()})";

    /// <summary>Opens a cursor that reads every example in order, from the first.</summary>
    public abstract ExampleCursor OpenCursor();

    /// <summary>Reads the features of example <paramref name="index"/> into <paramref name="destination"/>
    /// (<see cref="RowBytes"/> bytes); only when <see cref="SupportsRandomAccess"/>.</summary>
    /// <exception cref="NotSupportedException">The source is read in order only.</exception>
    public virtual void ReadFeatures(int index, Span<byte> destination) =>
        throw new NotSupportedException($"{Description} is read in order only: it has no random access.");

    /// <summary>Releases the files or cursors the source holds.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases resources; called once by <see cref="Dispose()"/>.</summary>
    /// <param name="disposing">True when called from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>Adds to <see cref="BytesRead"/> (cursors and random reads call it).</summary>
    /// <param name="bytes">Bytes just read.</param>
    protected internal void AddBytesRead(long bytes) => Interlocked.Add(ref _bytesRead, bytes);

    /// <summary>Throws unless <paramref name="index"/> is an example and <paramref name="destination"/> holds one row.</summary>
    protected void CheckRead(int index, Span<byte> destination)
    {
        if ((uint)index >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Description} has examples 0..{Count - 1}.");
        }

        CheckRow(destination);
    }

    /// <summary>Throws unless <paramref name="destination"/> holds exactly one row of <see cref="RowBytes"/> bytes.</summary>
    protected internal void CheckRow(Span<byte> destination)
    {
        if (destination.Length != RowBytes)
        {
            throw new ArgumentException($"one example of {Description} takes {RowBytes:N0} bytes, the destination holds {destination.Length:N0}.", nameof(destination));
        }
    }

    /// <summary>The error for a feature value that is NaN or infinite (an <see cref="InvalidDataException"/> for files;
    /// sources of in-memory or pipeline data return an <see cref="ArgumentException"/>).</summary>
    /// <param name="message">Names the example, column and value.</param>
    protected internal virtual Exception InvalidValue(string message) => new InvalidDataException($"{Description}: {message}");

    /// <summary>Throws <see cref="InvalidValue"/> naming the first non-finite value of one example's features.</summary>
    /// <param name="features">The example's values.</param>
    /// <param name="row">Its index, for the message.</param>
    protected internal void CheckFinite(ReadOnlySpan<float> features, long row)
    {
        // One vectorized pass (NaN and infinity both make the largest magnitude non-finite), the scalar search only on failure.
        if (float.IsFinite(TensorPrimitives.MaxMagnitude(features)))
        {
            return;
        }

        for (int j = 0; j < features.Length; j++)
        {
            if (!float.IsFinite(features[j]))
            {
                throw InvalidValue($"feature value {features[j]} in row {row}, column {j} is not a finite number.");
            }
        }
    }

    /// <summary>The error for a source that held fewer examples on this pass than when it was opened.</summary>
    internal InvalidDataException EndedEarly(long read) =>
        new($"{Description} ended after {read:N0} examples, but it held {Count:N0} when it was opened; was the file changed while training read it?");

    /// <summary>Converts one or more rows in <paramref name="storage"/> form to floats: a copy, or byte / 255 (the same
    /// division, value by value, as the in-memory IDX reader, so both give the same bits).</summary>
    internal static void ToSingles(FeatureStorage storage, ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (storage == FeatureStorage.Single)
        {
            MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
            return;
        }

        TensorPrimitives.ConvertChecked(source, destination);
        TensorPrimitives.Divide(destination, 255f, destination);
    }

    /// <summary>Calls <paramref name="action"/> with every example's features as floats, in order (one cursor pass).</summary>
    internal void ForEachRow(RowAction action)
    {
        using var cursor = OpenCursor();
        var bytes = new byte[RowBytes];
        var floats = new float[FeatureCount];
        for (int i = 0; i < Count; i++)
        {
            if (!cursor.MoveNext(bytes))
            {
                throw EndedEarly(i);
            }

            ToSingles(Storage, bytes, floats);
            action(i, floats);
        }
    }

    /// <summary>What <see cref="ForEachRow"/> calls for each example.</summary>
    internal delegate void RowAction(int row, ReadOnlySpan<float> features);

    /// <summary>
    /// A cursor over a file whose examples are rows of <see cref="RowBytes"/> bytes one after another from an offset:
    /// read in order through a buffered stream (not a memory mapping, so that a pass over a file larger than memory does
    /// not fill the process's mapped pages), skipped by seeking. A file shorter than <see cref="Count"/> rows is an
    /// error when the pass reaches its end.
    /// </summary>
    private protected class FileRowCursor : ExampleCursor
    {
        private readonly FileStream _stream;
        private long _next;

        public FileRowCursor(ExampleSource source, string path, long offset)
            : base(source)
        {
            _stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
            _stream.Position = offset;
        }

        public override bool MoveNext(Span<byte> destination)
        {
            Source.CheckRow(destination);
            if (_next >= Source.Count)
            {
                return false;
            }

            if (_stream.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false) < destination.Length)
            {
                throw Source.EndedEarly(_next);
            }

            CheckValues(destination, _next++);
            Source.AddBytesRead(destination.Length);
            return true;
        }

        public override bool Skip()
        {
            if (_next >= Source.Count)
            {
                return false;
            }

            _stream.Seek(Source.RowBytes, SeekOrigin.Current);
            _next++;
            return true;
        }

        /// <summary>Checks the row just read, example <paramref name="index"/>; accepts any by default.</summary>
        protected virtual void CheckValues(Span<byte> row, long index)
        {
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _stream.Dispose();
            }
        }
    }

    /// <summary>A cursor over a random-access source that reads examples 0, 1, 2, ... by index.</summary>
    private protected sealed class IndexCursor(ExampleSource source) : ExampleCursor(source)
    {
        private int _next;

        public override bool MoveNext(Span<byte> destination)
        {
            if (_next >= Source.Count)
            {
                return false;
            }

            Source.ReadFeatures(_next++, destination);
            return true;
        }

        public override bool Skip()
        {
            if (_next >= Source.Count)
            {
                return false;
            }

            _next++;
            return true;
        }
    }
}

/// <summary>Reads the examples of an <see cref="ExampleSource"/> in order, one at a time, on one thread.</summary>
public abstract class ExampleCursor : IDisposable
{
    private byte[]? _scratch;

    /// <summary>A cursor over <paramref name="source"/>'s examples.</summary>
    protected ExampleCursor(ExampleSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        Source = source;
    }

    /// <summary>The source read.</summary>
    protected ExampleSource Source { get; }

    /// <summary>Reads the next example's features into <paramref name="destination"/> (<see cref="ExampleSource.RowBytes"/>
    /// bytes in <see cref="ExampleSource.Storage"/> form); false at the end.</summary>
    public abstract bool MoveNext(Span<byte> destination);

    /// <summary>Passes over the next example without keeping it (a resumed epoch passes over what it already used);
    /// false at the end. Sources that can skip cheaply override it.</summary>
    public virtual bool Skip() => MoveNext(_scratch ??= new byte[Source.RowBytes]);

    /// <summary>Releases the cursor's file handles.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases resources; called once by <see cref="Dispose()"/>.</summary>
    /// <param name="disposing">True when called from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing)
    {
    }
}
