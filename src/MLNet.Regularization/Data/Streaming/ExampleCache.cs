using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using MLNet.Regularization.Reporting;

namespace MLNet.Regularization.Data;

/// <summary>
/// The binary cache: an <see cref="ExampleSource"/>'s examples written once, in their compact <see cref="FeatureStorage"/>
/// form, to a file that later passes read memory-mapped instead of parsing text again (a CSV file is parsed into one on
/// its first pass: <see cref="CsvSource.Open"/> with a cache path). A cache has random access whatever it was made from,
/// so the trainer draws a full permutation per epoch from it.
/// </summary>
/// <remarks>
/// <para>Layout, little-endian: a 64-byte preamble (the 8 bytes <c>MLNRCACH</c>, format version int32, header length
/// int32, then the offsets of the features, the labels and the header as int64), the features (Count × RowBytes, from
/// offset 64), the labels (Count int32) or regression targets (Count × TargetSize float32), and the UTF-8 JSON header
/// (count, shape, storage, task, classes, and what the cache was made from). The header comes last because a cache is
/// written in one pass, before the count is known; the preamble is written when the pass ends.</para>
/// <para>A cache is written through <see cref="AtomicFile"/>: whole or not at all, so a crash or a bad row halfway leaves
/// no cache that looks complete. On opening, the preamble, the header and every label are checked against
/// <see cref="ReaderLimits"/> and against the file's length before anything is mapped; features are checked for finite
/// values as they are read.</para>
/// </remarks>
public static class ExampleCache
{
    /// <summary>The version of the cache format this library writes and reads.</summary>
    public const int FormatVersion = 1;

    internal const int PreambleSize = 64;
    private static readonly byte[] Magic = "MLNRCACH"u8.ToArray();

    /// <summary>Reads every example of <paramref name="source"/> once and writes them to a cache file at
    /// <paramref name="path"/> (atomically); returns the cache opened as a source.</summary>
    /// <param name="source">The examples.</param>
    /// <param name="path">The cache file; its folder must exist. An existing file is replaced.</param>
    /// <param name="progress">Receives the bytes read from <paramref name="source"/> so far, now and then.</param>
    /// <exception cref="IOException">The file could not be written.</exception>
    public static ExampleSource Create(ExampleSource source, string path, IProgress<long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Write(path, source.RowBytes, writer =>
        {
            using var cursor = source.OpenCursor();
            var row = new byte[source.RowBytes];
            long reported = 0;
            for (int i = 0; i < source.Count; i++)
            {
                if (!cursor.MoveNext(row))
                {
                    throw source.EndedEarly(i);
                }

                writer.WriteRow(row);
                if (progress is not null && source.BytesRead - reported >= 1 << 22)
                {
                    reported = source.BytesRead;
                    progress.Report(reported);
                }
            }

            return (CacheHeader.Describe(source, identity: source.Description), source.LabelArray, source.TargetArray);
        });
        return Open(path);
    }

    /// <summary>Opens a cache file written by <see cref="Create"/> or <see cref="CsvSource.Open"/>.</summary>
    /// <param name="path">The cache file.</param>
    /// <param name="limits">Caps checked before anything is allocated (<see cref="ReaderLimits.Default"/> when null).</param>
    /// <exception cref="InvalidDataException">The file is not a cache, is truncated or corrupt, or exceeds a limit.</exception>
    public static ExampleSource Open(string path, ReaderLimits? limits = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        limits ??= ReaderLimits.Default;
        limits.Validate();
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"cache file '{path}' does not exist.", path);
        }

        return CachedSource.Open(path, limits);
    }

    /// <summary>The cache at <paramref name="path"/> when it exists, is sound and was made from
    /// <paramref name="identity"/>; otherwise null (it is then rebuilt).</summary>
    internal static ExampleSource? TryOpen(string path, string identity, ReaderLimits limits)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            var cache = CachedSource.Open(path, limits);
            if (cache.Identity == identity)
            {
                return cache;
            }

            cache.Dispose();
        }
        catch (InvalidDataException)
        {
            // A damaged or foreign file in the cache's place: write a new one over it.
        }

        return null;
    }

    /// <summary>Writes a cache atomically: <paramref name="rows"/> writes every example through the writer and returns the
    /// header with the labels or targets, which follow the rows, then the header and the preamble.</summary>
    internal static void Write(string path, int rowBytes, Func<CacheWriter, (CacheHeader Header, int[]? Labels, float[]? Targets)> rows) =>
        AtomicFile.Write(path, stream =>
        {
            var writer = new CacheWriter(stream, rowBytes);
            var (header, labels, targets) = rows(writer);
            writer.Finish(header, labels, targets);
        });

    /// <summary>Appends rows to a cache file being written, then its labels, header and preamble.</summary>
    internal sealed class CacheWriter
    {
        private readonly Stream _file;
        private readonly BufferedStream _buffered;
        private int _rowBytes;

        /// <summary>Starts a cache in <paramref name="file"/> for rows of <paramref name="rowBytes"/> bytes (0: as many as
        /// the first row has).</summary>
        public CacheWriter(Stream file, int rowBytes)
        {
            _file = file;
            _rowBytes = rowBytes;
            _buffered = new BufferedStream(file, 1 << 20);
            _buffered.Write(new byte[PreambleSize]); // filled in by Finish
        }

        /// <summary>Rows written so far.</summary>
        public long Rows { get; private set; }

        public void WriteRow(ReadOnlySpan<byte> row)
        {
            if (_rowBytes == 0)
            {
                _rowBytes = row.Length;
            }

            if (row.Length != _rowBytes)
            {
                throw new ArgumentException($"a cache row takes {_rowBytes:N0} bytes, got {row.Length:N0}.", nameof(row));
            }

            _buffered.Write(row);
            Rows++;
        }

        public void Finish(CacheHeader header, int[]? labels, float[]? targets)
        {
            if (header.Count != Rows)
            {
                throw new InvalidOperationException($"the cache holds {Rows:N0} rows but its header says {header.Count:N0}.");
            }

            long labelsOffset = PreambleSize + (Rows * _rowBytes);
            _buffered.Write(labels is not null ? MemoryMarshal.AsBytes(labels.AsSpan()) : MemoryMarshal.AsBytes((targets ?? []).AsSpan()));
            long headerOffset = labelsOffset + (labels is not null ? 4L * labels.Length : 4L * (targets?.Length ?? 0));
            byte[] json = JsonSerializer.SerializeToUtf8Bytes(header);
            _buffered.Write(json);
            _buffered.Flush();

            Span<byte> preamble = stackalloc byte[PreambleSize];
            preamble.Clear();
            Magic.CopyTo(preamble);
            BinaryPrimitives.WriteInt32LittleEndian(preamble[8..], FormatVersion);
            BinaryPrimitives.WriteInt32LittleEndian(preamble[12..], json.Length);
            BinaryPrimitives.WriteInt64LittleEndian(preamble[16..], PreambleSize);
            BinaryPrimitives.WriteInt64LittleEndian(preamble[24..], labelsOffset);
            BinaryPrimitives.WriteInt64LittleEndian(preamble[32..], headerOffset);
            _file.Position = 0;
            _file.Write(preamble);
            _file.Flush();
        }
    }

    /// <summary>What a cache holds: the JSON header.</summary>
    internal sealed record CacheHeader
    {
        public required int Count { get; init; }

        public required int[] SampleShape { get; init; }

        public required FeatureStorage Storage { get; init; }

        public required TaskKind Task { get; init; }

        public int ClassCount { get; init; }

        public int TargetSize { get; init; }

        public string[]? ClassNames { get; init; }

        /// <summary>What the cache was made from (a CSV file's path, size, time and reading options), to tell a stale cache.</summary>
        public required string Identity { get; init; }

        /// <summary>The source's description, for messages.</summary>
        public required string Description { get; init; }

        public static CacheHeader Describe(ExampleSource source, string identity) => new()
        {
            Count = source.Count,
            SampleShape = source.SampleShape,
            Storage = source.Storage,
            Task = source.Task,
            ClassCount = source.ClassCount,
            TargetSize = source.TargetSize,
            ClassNames = source.ClassNames?.ToArray(),
            Identity = identity,
            Description = source.Description,
        };
    }

    /// <summary>A cache file opened as a source: random reads from the memory-mapped file, passes in order through a
    /// buffered file stream (so a pass over a cache larger than memory does not fill the process's mapped pages).</summary>
    private sealed class CachedSource : ExampleSource
    {
        private readonly string _path;
        private readonly MappedFile _map;

        private CachedSource(string path, MappedFile map, CacheHeader header, int[]? labels, float[]? targets)
            : base($"cache '{path}' of {header.Description}", header.SampleShape, header.Storage, header.Task, labels, targets, header.ClassCount, header.TargetSize, header.ClassNames)
        {
            _path = path;
            _map = map;
            Identity = header.Identity;
        }

        public string Identity { get; }

        public override bool SupportsRandomAccess => true;

        public static CachedSource Open(string path, ReaderLimits limits)
        {
            string source = $"cache '{path}'";
            var map = new MappedFile(path);
            try
            {
                var (header, labels, targets) = ReadHeader(map, source, limits);
                return new CachedSource(path, map, header, labels, targets);
            }
            catch (ArgumentException e)
            {
                map.Dispose();
                throw new InvalidDataException($"{source}: {e.Message}", e);
            }
            catch
            {
                map.Dispose();
                throw;
            }
        }

        public override ExampleCursor OpenCursor() => new FileCursor(this);

        public override void ReadFeatures(int index, Span<byte> destination)
        {
            CheckRead(index, destination);
            _map.Span(PreambleSize + ((long)index * RowBytes), RowBytes).CopyTo(destination);
            CheckValues(destination, index);
            AddBytesRead(RowBytes);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _map.Dispose();
            }
        }

        private void CheckValues(Span<byte> row, long index)
        {
            if (Storage == FeatureStorage.Single)
            {
                CheckFinite(MemoryMarshal.Cast<byte, float>(row), index);
            }
        }

        private static (CacheHeader Header, int[]? Labels, float[]? Targets) ReadHeader(MappedFile map, string source, ReaderLimits limits)
        {
            if (map.Length < PreambleSize || !map.Span(0, Magic.Length).SequenceEqual(Magic))
            {
                throw new InvalidDataException($"{source} is not a cache file of MLNet.Regularization (it does not start with 'MLNRCACH' or is shorter than {PreambleSize} bytes).");
            }

            var preamble = map.Span(0, PreambleSize);
            int version = BinaryPrimitives.ReadInt32LittleEndian(preamble[8..]);
            if (version != FormatVersion)
            {
                throw new InvalidDataException($"{source} has format version {version}; this version of MLNet.Regularization reads version {FormatVersion}. Delete it to have it written again.");
            }

            int headerLength = BinaryPrimitives.ReadInt32LittleEndian(preamble[12..]);
            long featuresOffset = BinaryPrimitives.ReadInt64LittleEndian(preamble[16..]);
            long labelsOffset = BinaryPrimitives.ReadInt64LittleEndian(preamble[24..]);
            long headerOffset = BinaryPrimitives.ReadInt64LittleEndian(preamble[32..]);
            ReaderLimits.Check(headerLength, limits.MaxStringLength, source, $"a header of {headerLength:N0} bytes", nameof(ReaderLimits.MaxStringLength));
            if (headerLength < 2 || featuresOffset != PreambleSize || headerOffset < labelsOffset || labelsOffset < featuresOffset || headerOffset + headerLength != map.Length)
            {
                throw new InvalidDataException($"{source} is truncated or corrupt: its preamble (header of {headerLength:N0} bytes at offset {headerOffset:N0}, labels at {labelsOffset:N0}) does not fit its {map.Length:N0} bytes.");
            }

            CacheHeader header;
            try
            {
                header = JsonSerializer.Deserialize<CacheHeader>(map.Span(headerOffset, headerLength))
                    ?? throw new InvalidDataException($"{source}: the header is empty.");
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{source}: the header is not valid: {e.Message}", e);
            }

            if (header.SampleShape is null || header.SampleShape.Length == 0 || header.SampleShape.Any(s => s <= 0) || !Enum.IsDefined(header.Storage) || !Enum.IsDefined(header.Task) || header.Count <= 0)
            {
                throw new InvalidDataException($"{source}: the header describes no valid examples (count {header.Count}, shape [{string.Join(", ", header.SampleShape ?? [])}]).");
            }

            ReaderLimits.Check(header.Count, limits.MaxSampleCount, source, $"{header.Count:N0} examples", nameof(ReaderLimits.MaxSampleCount));
            long values = header.SampleShape.Aggregate(1L, (a, b) => Math.Min(a * b, long.MaxValue / int.MaxValue));
            ReaderLimits.Check(values, limits.MaxTensorElements, source, $"one example of {values:N0} values", nameof(ReaderLimits.MaxTensorElements));
            ReaderLimits.Check(header.ClassCount, limits.MaxClassCount, source, $"{header.ClassCount:N0} classes", nameof(ReaderLimits.MaxClassCount));
            ReaderLimits.Check(header.TargetSize, limits.MaxTensorElements, source, $"{header.TargetSize:N0} targets per example", nameof(ReaderLimits.MaxTensorElements));
            long rowBytes = values * (header.Storage == FeatureStorage.Byte ? 1 : 4);
            int width = header.Task == TaskKind.Regression ? header.TargetSize : 1;
            if (width <= 0 || labelsOffset != PreambleSize + (header.Count * rowBytes) || headerOffset != labelsOffset + (4L * header.Count * width))
            {
                throw new InvalidDataException($"{source} is truncated or corrupt: {header.Count:N0} examples of {rowBytes:N0} bytes with {width} label value(s) each do not fill the {headerOffset - PreambleSize:N0} bytes before its header.");
            }

            if (headerOffset - labelsOffset > Array.MaxLength)
            {
                throw new InvalidDataException($"{source}: its labels take {headerOffset - labelsOffset:N0} bytes, more than one array can hold.");
            }

            var section = map.Span(labelsOffset, (int)(headerOffset - labelsOffset));
            if (header.Task == TaskKind.Regression)
            {
                var targets = MemoryMarshal.Cast<byte, float>(section).ToArray();
                int bad = Array.FindIndex(targets, t => !float.IsFinite(t));
                return bad < 0 ? (header, null, targets) : throw new InvalidDataException($"{source}: target {targets[bad].ToString(CultureInfo.InvariantCulture)} of example {bad / width} is not a finite number.");
            }

            var labels = MemoryMarshal.Cast<byte, int>(section).ToArray();
            int outside = Array.FindIndex(labels, l => (uint)l >= (uint)header.ClassCount);
            return outside < 0 ? (header, labels, null) : throw new InvalidDataException($"{source}: label {labels[outside]} of example {outside} is outside 0..{header.ClassCount - 1}.");
        }

        /// <summary>Reads the features in order through a buffered stream, checking each row as
        /// <see cref="ReadFeatures"/> does.</summary>
        private sealed class FileCursor(CachedSource cache) : FileRowCursor(cache, cache._path, PreambleSize)
        {
            protected override void CheckValues(Span<byte> row, long index) => cache.CheckValues(row, index);
        }
    }
}
