using System.Globalization;
using System.Runtime.InteropServices;

namespace MLNet.Regularization.Data;

/// <summary>
/// A labelled CSV file streamed instead of loaded. Opening it makes one pass that parses every row (so a bad cell is
/// reported before training starts, in <see cref="CsvReader"/>'s words) and collects the labels; the features are not
/// kept. With a cache path that same first pass writes them to an <see cref="ExampleCache"/> file, which every later
/// pass — and a later run, while the CSV file and the reading options are unchanged — reads instead of parsing text
/// again. Without one, every epoch parses the file again, in order.
/// </summary>
/// <remarks>
/// Rows, labels and class numbering are exactly <see cref="CsvReader.Load"/>'s. Every <see cref="ReaderLimits"/> cap
/// applies except <see cref="ReaderLimits.MaxFileBytes"/> and the whole-file <see cref="ReaderLimits.MaxTensorElements"/>,
/// which bound what one array holds: nothing here holds more than one row of features.
/// </remarks>
public sealed class CsvSource : ExampleSource
{
    private readonly string _path;
    private readonly string _labelColumn;
    private readonly CsvOptions _options;
    private readonly string[] _featureNames;
    private readonly long _fileBytes;

    private CsvSource(string path, string labelColumn, CsvOptions options, CsvReader.CsvScan scan, long fileBytes)
        : base($"'{path}'", [scan.FeatureNames.Length], FeatureStorage.Single, options.Task, scan.Labels, scan.Targets, scan.ClassCount, options.Task == TaskKind.Regression ? 1 : 0, scan.ClassNames)
    {
        _path = path;
        _labelColumn = labelColumn;
        _options = options;
        _featureNames = scan.FeatureNames;
        _fileBytes = fileBytes;
    }

    /// <summary>The feature columns' names, in order.</summary>
    public IReadOnlyList<string> FeatureNames => _featureNames;

    /// <inheritdoc />
    public override bool SupportsRandomAccess => false;

    /// <summary>A pass parses the whole file.</summary>
    public override long ByteLength => _fileBytes;

    /// <summary>Opens a CSV file for streaming (every column except the label and the ignored ones is a feature), or the
    /// cache of it when <paramref name="cachePath"/> names one that was made from this very file with these options.</summary>
    /// <param name="path">The CSV file.</param>
    /// <param name="labelColumn">The label (or regression target) column.</param>
    /// <param name="options">Separator, task, ignored columns, class names, limits; defaults when null.</param>
    /// <param name="cachePath">Where to keep the binary cache: reused when it matches the file (its path, size and time
    /// of last change) and the options, otherwise written (atomically) during this first pass. Null: no cache, every
    /// pass parses the text.</param>
    /// <param name="progress">Receives the bytes of the CSV file parsed so far during the first pass, now and then.</param>
    /// <returns>A <see cref="CsvSource"/>, or the cache (random access) when a cache path is given.</returns>
    /// <exception cref="ArgumentException">The label or an ignored column is not in the header, or the options are invalid.</exception>
    /// <exception cref="InvalidDataException">The file is empty, has no data rows, a row has the wrong number of cells, a
    /// cell is not a finite number, or a limit is exceeded.</exception>
    public static ExampleSource Open(string path, string labelColumn, CsvOptions? options = null, string? cachePath = null, IProgress<long>? progress = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentException.ThrowIfNullOrEmpty(labelColumn);
        options ??= new CsvOptions();
        options.Validate();
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"CSV file '{path}' does not exist.", path);
        }

        long fileBytes = new FileInfo(path).Length;
        Action<long>? report = progress is null ? null : progress.Report;
        if (cachePath is null)
        {
            var scan = CsvReader.Scan(path, labelColumn, options, streamed: true, static (_, _) => { }, report);
            return new CsvSource(path, labelColumn, options, scan, fileBytes);
        }

        string identity = Identity(path, labelColumn, options);
        if (ExampleCache.TryOpen(cachePath, identity, options.Limits) is { } cached)
        {
            return cached;
        }

        ExampleCache.Write(cachePath, 0, writer =>
        {
            var scan = CsvReader.Scan(path, labelColumn, options, streamed: true, (_, row) => writer.WriteRow(MemoryMarshal.AsBytes(row)), report);
            using var described = new CsvSource(path, labelColumn, options, scan, fileBytes);
            return (ExampleCache.CacheHeader.Describe(described, identity), scan.Labels, scan.Targets);
        });
        return ExampleCache.Open(cachePath, options.Limits);
    }

    /// <inheritdoc />
    public override ExampleCursor OpenCursor() => new Cursor(this);

    /// <summary>What a cache of this file must have been made from: the file as it is now and the reading options.</summary>
    private static string Identity(string path, string labelColumn, CsvOptions options)
    {
        var file = new FileInfo(path);
        return string.Join("|",
            "csv",
            file.FullName,
            file.Length.ToString(CultureInfo.InvariantCulture),
            file.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture),
            labelColumn,
            ((int)options.Separator).ToString(CultureInfo.InvariantCulture),
            options.Task.ToString(),
            string.Join("\u001f", options.IgnoreColumns),
            options.ClassNames is null ? "-" : string.Join("\u001f", options.ClassNames));
    }

    /// <summary>Parses the file again, row by row, into floats.</summary>
    private sealed class Cursor : ExampleCursor
    {
        private readonly CsvSource _csv;
        private readonly CsvReader.CsvTable _table;
        private readonly int[] _features;
        private long _reported;
        private int _rows;

        public Cursor(CsvSource csv)
            : base(csv)
        {
            _csv = csv;
            _table = CsvReader.CsvTable.Open(csv._path, csv._options.Separator, csv._options.Limits, streamed: true);
            try
            {
                int label = _table.IndexOf(csv._labelColumn, "labelColumn", "label column");
                _features = _table.FeatureColumns(csv._options.IgnoreColumns, label);
                if (!_features.Select(c => _table.Header[c]).SequenceEqual(csv._featureNames))
                {
                    throw new InvalidDataException($"{csv.Description} changed since it was opened: its feature columns are now {CsvReader.Quote(_features.Select(c => _table.Header[c]))}.");
                }
            }
            catch
            {
                _table.Dispose();
                throw;
            }
        }

        public override bool MoveNext(Span<byte> destination)
        {
            _csv.CheckRow(destination);
            if (_rows >= _csv.Count || _table.NextRow() is not { } row)
            {
                return false;
            }

            _table.ParseFeatures(row, _features, MemoryMarshal.Cast<byte, float>(destination));
            _rows++;
            long position = _table.BytePosition;
            _csv.AddBytesRead(position - _reported);
            _reported = position;
            return true;
        }

        public override bool Skip()
        {
            if (_rows >= _csv.Count || _table.NextRow() is null)
            {
                return false;
            }

            _rows++;
            return true;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _table.Dispose();
            }
        }
    }
}
