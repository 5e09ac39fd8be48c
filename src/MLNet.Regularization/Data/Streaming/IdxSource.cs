namespace MLNet.Regularization.Data;

/// <summary>
/// An IDX image file and its label file (MNIST, Fashion-MNIST) streamed instead of loaded: the images stay on disk as
/// bytes (<see cref="FeatureStorage.Byte"/>, converted to <c>byte / 255f</c> a mini-batch at a time, as
/// <see cref="IdxReader.LoadDataset"/> converts them all at once), the labels are read and checked when the source is
/// opened. A raw file is memory-mapped for random access; a gzip-compressed one is read in order.
/// </summary>
/// <remarks>
/// The headers go through the same checks and <see cref="ReaderLimits"/> as <see cref="IdxReader.LoadDataset"/>, except
/// that the image file's size and total element count are not capped (<see cref="ReaderLimits.MaxFileBytes"/>,
/// <see cref="ReaderLimits.MaxTensorElements"/>): they bound what one array holds, and here one image is the largest
/// thing read at once (so <see cref="ReaderLimits.MaxTensorElements"/> applies to one image). The label file is read
/// whole and keeps every limit.
/// </remarks>
public sealed class IdxSource : ExampleSource
{
    private readonly string _path;
    private readonly long _bodyOffset;
    private readonly bool _gzip;
    private readonly ReaderLimits _limits;
    private readonly MappedFile? _map;

    private IdxSource(string path, IdxReader.IdxFile images, int[] sampleShape, TaskKind task, int[] labels, int classCount, IReadOnlyList<string>? classNames, ReaderLimits limits)
        : base($"'{path}'", sampleShape, FeatureStorage.Byte, task, labels, null, classCount, 0, classNames)
    {
        _path = path;
        _bodyOffset = images.BodyOffset;
        _gzip = images.IsGzip;
        _limits = limits;
        _map = _gzip ? null : new MappedFile(path);
    }

    /// <summary>Opens an image file and its label file for streaming, after checking both headers (same count) and
    /// every label.</summary>
    /// <param name="imagesPath">The IDX3 image file, raw or gzip.</param>
    /// <param name="labelsPath">The IDX1 label file, raw or gzip.</param>
    /// <param name="asImages">Sample shape [1, rows, cols] for convolutional networks; otherwise [rows·cols].</param>
    /// <param name="classCount">The number of classes; when null max(label)+1 (at least 2).</param>
    /// <param name="classNames">Optional class names, one per class.</param>
    /// <param name="limits">Caps on sizes (<see cref="ReaderLimits.Default"/> when null).</param>
    /// <param name="task"><see cref="TaskKind.Multiclass"/> (default) or <see cref="TaskKind.Binary"/> (labels 0 and 1).</param>
    /// <exception cref="InvalidDataException">A file is malformed or exceeds a limit, the counts differ, or a label is
    /// out of range.</exception>
    public static IdxSource Open(string imagesPath, string labelsPath, bool asImages = false, int? classCount = null, IReadOnlyList<string>? classNames = null, ReaderLimits? limits = null, TaskKind task = TaskKind.Multiclass)
    {
        if (task == TaskKind.Regression || !Enum.IsDefined(task))
        {
            throw new ArgumentException($"IDX labels are classes: the task must be multiclass or binary, not {task}.", nameof(task));
        }

        limits ??= ReaderLimits.Default;
        var (images, labels, k) = IdxReader.OpenLabelled(imagesPath, labelsPath, task == TaskKind.Binary ? 2 : classCount, null, limits, streamed: true);
        using (images)
        {
            if (!images.IsGzip)
            {
                images.CheckRawLength();
            }

            int rows = images.Dimensions[1], cols = images.Dimensions[2];
            int[] shape = asImages ? [1, rows, cols] : [rows * cols];
            return new IdxSource(imagesPath, images, shape, task, labels, k, classNames, limits);
        }
    }

    /// <inheritdoc />
    public override bool SupportsRandomAccess => !_gzip;

    /// <inheritdoc />
    public override ExampleCursor OpenCursor() => _gzip ? new GzipCursor(this) : new FileRowCursor(this, _path, _bodyOffset);

    /// <inheritdoc />
    public override void ReadFeatures(int index, Span<byte> destination)
    {
        if (_map is null)
        {
            base.ReadFeatures(index, destination);
            return;
        }

        CheckRead(index, destination);
        _map.Span(_bodyOffset + ((long)index * RowBytes), RowBytes).CopyTo(destination);
        AddBytesRead(RowBytes);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _map?.Dispose();
        }
    }

    /// <summary>Decompresses a gzip file's images in order; a body shorter or longer than its header promises is an
    /// error when the pass reaches it.</summary>
    private sealed class GzipCursor : ExampleCursor
    {
        private readonly IdxSource _idx;
        private readonly IdxReader.IdxFile _file;
        private int _next;

        public GzipCursor(IdxSource idx)
            : base(idx)
        {
            _idx = idx;
            _file = IdxReader.IdxFile.Open(idx._path, IdxReader.ImagesMagic, "image", idx._limits, streamed: true);
            if (_file.Dimensions[0] != idx.Count || _file.ItemSize != idx.RowBytes)
            {
                _file.Dispose();
                throw new InvalidDataException($"'{idx._path}' changed since it was opened: its header now announces {_file.Dimensions[0]:N0} images of {_file.ItemSize:N0} bytes.");
            }
        }

        public override bool MoveNext(Span<byte> destination)
        {
            _idx.CheckRow(destination);
            if (_next >= _idx.Count)
            {
                return false;
            }

            long offset = _idx._bodyOffset + ((long)_next * _idx.RowBytes);
            int read = _file.Fill(destination, offset);
            if (read < destination.Length)
            {
                throw _file.Truncated(_idx.Count, ((long)_next * _idx.RowBytes) + read);
            }

            if (++_next == _idx.Count && _file.Fill(new byte[1], offset + read) != 0)
            {
                throw _file.ExtraData();
            }

            _idx.AddBytesRead(read);
            return true;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _file.Dispose();
            }
        }
    }
}
