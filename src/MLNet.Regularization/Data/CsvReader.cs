using System.Globalization;
using System.Text;

namespace MLNet.Regularization.Data;

/// <summary>
/// Reads a delimited text file with a header row into a <see cref="Dataset"/> (one example per row, one
/// feature per numeric column) or, for prediction, into a feature matrix.
/// </summary>
/// <remarks>
/// <para>Format: the first non-blank line is the header and names every column; each further non-blank line
/// is one example with exactly as many cells. Numbers use the invariant culture ('.' as decimal point,
/// exponents allowed). Blank lines are skipped; spaces and tabs around an unquoted cell are trimmed.</para>
/// <para>Quoting follows RFC 4180 within one line: a cell may be wrapped in double quotes to hold the
/// separator, and a doubled quote inside stands for one quote. A quoted cell cannot span lines.</para>
/// <para>Errors are <see cref="InvalidDataException"/>s of the form
/// <c>data.csv line 18, column 'petal_width': 'abc' is not a number</c>. Line numbers count every physical
/// line of the file from 1, header and blank lines included, so they match what a text editor shows.</para>
/// <para>Class labels: when every label is a non-negative integer it is the class index itself (class count
/// = largest label + 1, at most <see cref="ReaderLimits.MaxClassCount"/>). When no label is such an integer, labels
/// are names, numbered in ordinal (culture-independent) sort order so that the numbering does not depend on row
/// order, and kept in <see cref="Dataset.ClassNames"/>. A mix of the two (a stray "abc" among class indices) is an
/// error, not an extra class. Give <see cref="CsvOptions.ClassNames"/> to impose a training file's numbering on a
/// test file, or to read labels as names whatever they look like.</para>
/// <para>Every size is checked against <see cref="CsvOptions.Limits"/> before it is allocated.</para>
/// </remarks>
public static class CsvReader
{
    private const int MaxNamesInMessage = 30;

    /// <summary>Reads a labelled dataset: every column except the label and the ignored ones is a feature.</summary>
    /// <param name="path">The file.</param>
    /// <param name="labelColumn">The header name of the label (or regression target) column.</param>
    /// <param name="options">Separator, task, ignored columns, class names; defaults when null.</param>
    /// <returns>A dataset with sample shape [feature count], in file order.</returns>
    /// <exception cref="ArgumentException">The label or an ignored column is not in the header, or the options are invalid.</exception>
    /// <exception cref="InvalidDataException">The file is empty, has no data rows, a row has the wrong number of
    /// cells, or a cell is not a finite number.</exception>
    public static Dataset Load(string path, string labelColumn, CsvOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(labelColumn);
        options ??= new CsvOptions();
        options.Validate();
        var values = new List<float>();
        int rows = 0;
        var (scan, x) = MemoryNeeded.Guard(
            () =>
            {
                var scan = Scan(path, labelColumn, options, streamed: false, (line, row) =>
                {
                    CheckValues(path, line, ++rows, row.Length, values.Count + (long)row.Length, options.Limits);
                    values.AddRange(row);
                });
                return (scan, values.ToArray());
            },
            $"'{path}'",
            () => $"more than the {MemoryNeeded.Bytes(values.Count * 4L)} its first {rows:N0} rows took as 32-bit floats",
            "CsvSource.Open (with a cache path) and Trainer.Fit with the source (in the CLI: train --stream)");
        int[] shape = [scan.FeatureNames.Length];
        return options.Task switch
        {
            TaskKind.Regression => Dataset.ForRegression(x, shape, scan.Targets!),
            TaskKind.Binary => Dataset.ForBinary(x, shape, scan.Labels!, scan.ClassNames),
            _ => Dataset.ForClassification(x, shape, scan.Labels!, scan.ClassCount, scan.ClassNames),
        };
    }

    /// <summary>One pass over a labelled file: every row's features go to <paramref name="sink"/> as they are parsed
    /// (the same numbers, bit for bit, whether they end in memory, in a cache or nowhere); labels are collected, checked
    /// and numbered as <see cref="Load"/> numbers them.</summary>
    /// <param name="path">The file.</param>
    /// <param name="labelColumn">The label column.</param>
    /// <param name="options">Validated options.</param>
    /// <param name="streamed">True when the rows are not kept in memory: then the file's size is not capped by
    /// <see cref="ReaderLimits.MaxFileBytes"/> (line, row, class and one row's value limits still apply).</param>
    /// <param name="sink">Receives each row's features (valid during the call only) with its line number.</param>
    /// <param name="bytesRead">Receives the bytes read so far, now and then (progress).</param>
    internal static CsvScan Scan(string path, string labelColumn, CsvOptions options, bool streamed, CsvRowSink sink, Action<long>? bytesRead = null)
    {
        using var table = CsvTable.Open(path, options.Separator, options.Limits, streamed);
        int label = table.IndexOf(labelColumn, nameof(labelColumn), "label column");
        int[] features = table.FeatureColumns(options.IgnoreColumns, label);
        var row = new float[features.Length];
        var targets = new List<float>();
        // Labels as indices into the distinct cells (in order of first appearance), so that a long file costs 4 bytes per
        // row and one string per class, not one string per row.
        var labelIds = new List<int>();
        var distinct = new Dictionary<string, int>(StringComparer.Ordinal);
        var cells = new List<(string Cell, int Line)>();
        var occurrences = new List<int>();
        long reported = 0;
        while (table.NextRow() is { } r)
        {
            table.ParseFeatures(r, features, row);
            sink(r.Line, row);
            string cell = r.Cells[label];
            if (cell.Length == 0)
            {
                throw table.CellError(r.Line, label, "the label is empty (a missing value); fill it in or drop the row.");
            }

            if (options.Task == TaskKind.Regression)
            {
                targets.Add(table.ParseNumber(r.Line, label, cell));
            }
            else
            {
                if (!distinct.TryGetValue(cell, out int id))
                {
                    id = distinct.Count;
                    ReaderLimits.Check(id + 1L, options.Limits.MaxClassCount, $"{path} line {r.Line}, column '{table.Header[label]}'", $"{id + 1:N0} distinct labels", nameof(ReaderLimits.MaxClassCount));
                    distinct.Add(cell, id);
                    cells.Add((cell, r.Line));
                    occurrences.Add(0);
                }

                occurrences[id]++;
                labelIds.Add(id);
            }

            if (bytesRead is not null && table.BytePosition - reported >= 1 << 22)
            {
                reported = table.BytePosition;
                bytesRead(reported);
            }
        }

        table.RequireRows();
        bytesRead?.Invoke(table.BytePosition);
        string[] names = features.Select(c => table.Header[c]).ToArray();
        if (options.Task == TaskKind.Regression)
        {
            return new CsvScan(table.RowCount, names, null, targets.ToArray(), 0, null);
        }

        var (classOfCell, classCount, classNames) = MapLabels(table, label, cells, occurrences, options);
        var labels = new int[labelIds.Count];
        for (int i = 0; i < labels.Length; i++)
        {
            labels[i] = classOfCell[labelIds[i]];
        }

        return new CsvScan(table.RowCount, names, labels, null, classCount, classNames);
    }

    /// <summary>Throws when the values read into memory so far pass <see cref="ReaderLimits.MaxTensorElements"/>.</summary>
    private static void CheckValues(string path, int line, int rows, int width, long values, ReaderLimits limits) =>
        ReaderLimits.Check(values, limits.MaxTensorElements, $"{path} line {line}", $"{rows:N0} rows of {width:N0} features = {values:N0} values", nameof(ReaderLimits.MaxTensorElements));

    /// <summary>Reads unlabelled rows for prediction: every column not in <see cref="CsvOptions.IgnoreColumns"/>
    /// is a feature (ignore the label column if the file has one).</summary>
    /// <param name="path">The file.</param>
    /// <param name="options">Separator and ignored columns; the task and class names are not used.</param>
    /// <returns>Row-major features (RowCount × ColumnNames.Count) and the feature columns' names in order.</returns>
    /// <exception cref="InvalidDataException">As for <see cref="Load"/>.</exception>
    public static (float[] Features, int RowCount, IReadOnlyList<string> ColumnNames) ReadFeatures(string path, CsvOptions? options = null)
    {
        options ??= new CsvOptions();
        options.Validate();
        using var table = CsvTable.Open(path, options.Separator, options.Limits);
        int[] features = table.FeatureColumns(options.IgnoreColumns, label: -1);
        var values = new List<float>();
        var parsed = new float[features.Length];
        while (table.NextRow() is { } row)
        {
            CheckValues(path, row.Line, table.RowCount, features.Length, values.Count + (long)features.Length, options.Limits);
            table.ParseFeatures(row, features, parsed);
            values.AddRange(parsed);
        }

        table.RequireRows();
        return (values.ToArray(), table.RowCount, features.Select(c => table.Header[c]).ToArray());
    }

    /// <summary>The cells of some columns as text, row by row (for identifiers that prediction passes through).</summary>
    /// <param name="path">The file.</param>
    /// <param name="columns">Header names of the columns to read.</param>
    /// <param name="options">Only the separator is used.</param>
    /// <returns>One array per data row, with the cells in the order of <paramref name="columns"/>.</returns>
    /// <exception cref="ArgumentException">A column is not in the header.</exception>
    public static IReadOnlyList<string[]> ReadColumns(string path, IReadOnlyList<string> columns, CsvOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(columns);
        options ??= new CsvOptions();
        options.Validate();
        using var table = CsvTable.Open(path, options.Separator, options.Limits);
        int[] indices = columns.Select(c => table.IndexOf(c, nameof(columns), "column to pass through")).ToArray();
        var rows = new List<string[]>();
        while (table.NextRow() is { } row)
        {
            rows.Add(indices.Select(i => row.Cells[i]).ToArray());
        }

        return rows;
    }

    /// <summary>The column names of the header row, in file order.</summary>
    /// <param name="path">The file.</param>
    /// <param name="options">Only the separator is used.</param>
    public static IReadOnlyList<string> ReadHeader(string path, CsvOptions? options = null)
    {
        options ??= new CsvOptions();
        options.Validate();
        using var table = CsvTable.Open(path, options.Separator, options.Limits);
        return table.Header;
    }

    /// <summary>Formats names as <c>'a', 'b', 'c'</c>, shortening very long lists.</summary>
    internal static string Quote(IEnumerable<string> names)
    {
        var list = names.ToList();
        string shown = string.Join(", ", list.Take(MaxNamesInMessage).Select(n => $"'{ReaderLimits.Shorten(n)}'"));
        return list.Count > MaxNamesInMessage ? $"{shown}, ... ({list.Count - MaxNamesInMessage} more)" : shown;
    }

    /// <summary>The class of each distinct label cell (given with the line of its first appearance and how many rows
    /// hold it), the class count and the class names.</summary>
    private static (int[] Labels, int ClassCount, IReadOnlyList<string>? Names) MapLabels(
        CsvTable table, int column, List<(string Cell, int Line)> cells, List<int> occurrences, CsvOptions options)
    {
        var labels = new int[cells.Count];
        IReadOnlyList<string>? names = options.ClassNames;
        if (names is null && TryIntegerLabels(table, column, cells, occurrences, labels, options.Limits, out int max) && (options.Task != TaskKind.Binary || max <= 1))
        {
            if (options.Task == TaskKind.Multiclass && max < 1)
            {
                throw new InvalidDataException(
                    $"{table.Path}: every label in column '{table.Header[column]}' is {max}; a classifier needs at least 2 classes.");
            }

            return (labels, options.Task == TaskKind.Binary ? 2 : max + 1, null);
        }

        if (names is null)
        {
            var distinct = cells.Select(c => c.Cell).Order(StringComparer.Ordinal).ToArray();
            ReaderLimits.Check(distinct.Length, options.Limits.MaxClassCount, $"{table.Path}, column '{table.Header[column]}'", $"{distinct.Length:N0} distinct labels", nameof(ReaderLimits.MaxClassCount));
            if (options.Task == TaskKind.Binary && distinct.Length != 2)
            {
                throw new InvalidDataException(
                    $"{table.Path}: a binary task needs exactly 2 distinct labels in column '{table.Header[column]}', found {distinct.Length}: {Quote(distinct)}."
                    + (distinct.Length == 1 ? " Give CsvOptions.ClassNames to name the missing class." : string.Empty));
            }

            if (distinct.Length < 2)
            {
                throw new InvalidDataException(
                    $"{table.Path}: every label in column '{table.Header[column]}' is '{distinct[0]}'; a classifier needs at least 2 classes.");
            }

            names = distinct;
        }

        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int k = 0; k < names.Count; k++)
        {
            index[names[k]] = k;
        }

        for (int i = 0; i < cells.Count; i++)
        {
            if (!index.TryGetValue(cells[i].Cell, out labels[i]))
            {
                throw table.CellError(cells[i].Line, column, $"label '{ReaderLimits.Shorten(cells[i].Cell)}' is not one of the classes {Quote(names)}.");
            }
        }

        return (labels, names.Count, names);
    }

    /// <summary>True when every label is a non-negative integer below the class limit; fills <paramref name="labels"/>
    /// then. False when none is (labels are names). Throws for a mix, and for an index at or above the limit.</summary>
    private static bool TryIntegerLabels(CsvTable table, int column, List<(string Cell, int Line)> cells, List<int> occurrences, int[] labels, ReaderLimits limits, out int max)
    {
        max = 0;
        int integers = 0, firstName = -1;
        for (int i = 0; i < cells.Count; i++)
        {
            // Digits only (no sign, no spaces): "007" is class 7, "-1" and "1.0" are names.
            bool digits = cells[i].Cell.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0;
            if (!digits)
            {
                firstName = firstName < 0 ? i : firstName;
                continue;
            }

            integers += occurrences[i];
            if (!int.TryParse(cells[i].Cell, NumberStyles.None, CultureInfo.InvariantCulture, out labels[i]) || labels[i] >= limits.MaxClassCount)
            {
                throw ReaderLimits.Exceeded(
                    $"{table.Path} line {cells[i].Line}, column '{table.Header[column]}'",
                    $"label {ReaderLimits.Shorten(cells[i].Cell)} (integer labels are class indices 0..K-1, so this means {ReaderLimits.Shorten(cells[i].Cell)}+1 classes)",
                    nameof(ReaderLimits.MaxClassCount),
                    limits.MaxClassCount);
            }

            max = Math.Max(max, labels[i]);
        }

        if (integers > 0 && firstName >= 0)
        {
            var (cell, line) = cells[firstName];
            throw table.CellError(line, column,
                $"label '{ReaderLimits.Shorten(cell)}' is not a class index, but {integers:N0} other labels are (integers 0..{max}); fix or drop the row, or give CsvOptions.ClassNames to read every label as a name.");
        }

        return integers > 0;
    }

    /// <summary>One data row: its line number and cells.</summary>
    internal sealed record CsvRow(int Line, string[] Cells);

    /// <summary>What <see cref="Scan"/> found: the row count, the feature columns' names and the numbered labels (or
    /// regression targets).</summary>
    internal sealed record CsvScan(int Rows, string[] FeatureNames, int[]? Labels, float[]? Targets, int ClassCount, IReadOnlyList<string>? ClassNames);

    /// <summary>Receives one parsed row's features (valid only during the call) and its line number.</summary>
    internal delegate void CsvRowSink(int line, ReadOnlySpan<float> features);

    /// <summary>An open file whose header has been read; rows are read one at a time.</summary>
    internal sealed class CsvTable : IDisposable
    {
        private readonly BoundedLineReader _reader;
        private readonly StreamReader _text;
        private readonly char _separator;
        private readonly ReaderLimits _limits;
        private int _line;

        private CsvTable(string path, StreamReader reader, char separator, ReaderLimits limits)
        {
            Path = path;
            _text = reader;
            _reader = new BoundedLineReader(reader, limits.MaxStringLength);
            _separator = separator;
            _limits = limits;
        }

        /// <summary>How far into the file the reader is, in bytes (read ahead by up to one buffer; for progress).</summary>
        public long BytePosition => _text.BaseStream.Position;

        public string Path { get; }

        public string[] Header { get; private set; } = [];

        public int RowCount { get; private set; }

        /// <summary>Opens a file and reads its header; <paramref name="streamed"/> files (whose rows are not kept in
        /// memory) are not capped by <see cref="ReaderLimits.MaxFileBytes"/>.</summary>
        public static CsvTable Open(string path, char separator, ReaderLimits limits, bool streamed = false)
        {
            ArgumentException.ThrowIfNullOrEmpty(path);
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"CSV file '{path}' does not exist.", path);
            }

            long length = new FileInfo(path).Length;
            if (!streamed)
            {
                ReaderLimits.Check(length, limits.MaxFileBytes, path, $"the file size of {length:N0} bytes", nameof(ReaderLimits.MaxFileBytes));
            }

            var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            var table = new CsvTable(path, new StreamReader(stream), separator, limits);
            try
            {
                table.ReadHeader();
                return table;
            }
            catch
            {
                table.Dispose();
                throw;
            }
        }

        public void Dispose() => _reader.Dispose();

        public int IndexOf(string name, string parameter, string role)
        {
            int index = Array.IndexOf(Header, name);
            if (index < 0)
            {
                throw new ArgumentException($"{Path} has no column '{ReaderLimits.Shorten(name)}' (the {role}); its columns are {Quote(Header)}.", parameter);
            }

            return index;
        }

        public int[] FeatureColumns(IReadOnlyList<string> ignore, int label)
        {
            var skip = new HashSet<int>();
            if (label >= 0)
            {
                skip.Add(label);
            }

            foreach (string name in ignore)
            {
                int index = IndexOf(name, nameof(CsvOptions.IgnoreColumns), "ignored column");
                if (index == label)
                {
                    throw new ArgumentException($"column '{name}' is the label column; it cannot also be ignored.", nameof(CsvOptions.IgnoreColumns));
                }

                skip.Add(index);
            }

            int[] features = Enumerable.Range(0, Header.Length).Where(c => !skip.Contains(c)).ToArray();
            if (features.Length == 0)
            {
                throw new InvalidDataException($"{Path} has no feature columns: its columns are {Quote(Header)}, all used as label or ignored.");
            }

            return features;
        }

        /// <summary>The next non-blank row, checked for its cell count, or null at the end of the file.</summary>
        public CsvRow? NextRow()
        {
            while (ReadLine() is { } text)
            {
                if (string.IsNullOrWhiteSpace(text))
                {
                    continue;
                }

                string[] cells = Split(text);
                if (cells.Length != Header.Length)
                {
                    throw new InvalidDataException(
                        $"{Path} line {_line}: {cells.Length} cells, expected {Header.Length} as in the header (separator '{Printable(_separator)}'; quote cells that contain it).");
                }

                RowCount++;
                ReaderLimits.Check(RowCount, _limits.MaxSampleCount, $"{Path} line {_line}", $"{RowCount:N0} rows", nameof(ReaderLimits.MaxSampleCount));
                return new CsvRow(_line, cells);
            }

            return null;
        }

        public void RequireRows()
        {
            if (RowCount == 0)
            {
                throw new InvalidDataException($"{Path} has a header but no data rows.");
            }
        }

        /// <summary>Parses the feature cells of a row into <paramref name="destination"/> (one value per column).</summary>
        public void ParseFeatures(CsvRow row, int[] columns, Span<float> destination)
        {
            for (int i = 0; i < columns.Length; i++)
            {
                destination[i] = ParseNumber(row.Line, columns[i], row.Cells[columns[i]]);
            }
        }

        public float ParseNumber(int line, int column, string cell)
        {
            if (cell.Length == 0)
            {
                throw CellError(line, column, "the cell is empty (a missing value); fill it in or drop the row.");
            }

            if (!float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out float value))
            {
                string hint = cell.Contains(',') ? " (the decimal separator must be '.')" : string.Empty;
                throw CellError(line, column, $"'{ReaderLimits.Shorten(cell)}' is not a number{hint}.");
            }

            if (!float.IsFinite(value))
            {
                throw CellError(line, column, $"'{ReaderLimits.Shorten(cell)}' is not a finite number (NaN and infinity are not allowed; values must lie within ±3.4e38).");
            }

            return value;
        }

        public InvalidDataException CellError(int line, int column, string message) =>
            new($"{Path} line {line}, column '{ReaderLimits.Shorten(Header[column])}': {message}");

        private static string Printable(char c) => c == '\t' ? "\\t" : c.ToString();

        private string? ReadLine()
        {
            string? text = _reader.ReadLine(_line + 1, Path);
            if (text is not null)
            {
                _line++;
            }

            return text;
        }

        private void ReadHeader()
        {
            string? text;
            do
            {
                text = ReadLine();
            }
            while (text is not null && string.IsNullOrWhiteSpace(text));

            if (text is null)
            {
                throw new InvalidDataException($"{Path} is empty: expected a header row naming the columns.");
            }

            Header = Split(text);
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int c = 0; c < Header.Length; c++)
            {
                if (Header[c].Length == 0)
                {
                    throw new InvalidDataException($"{Path} line {_line}: header cell {c + 1} is empty; every column needs a name.");
                }

                if (!seen.TryAdd(Header[c], c))
                {
                    throw new InvalidDataException(
                        $"{Path} line {_line}: column name '{ReaderLimits.Shorten(Header[c])}' appears twice (cells {seen[Header[c]] + 1} and {c + 1}).");
                }
            }
        }

        /// <summary>Splits one line into cells (RFC 4180 quoting within the line).</summary>
        private string[] Split(string text)
        {
            var cells = new List<string>();
            int i = 0;
            while (true)
            {
                int start = i;
                i = SkipBlanks(text, i);
                if (i < text.Length && text[i] == '"')
                {
                    cells.Add(ReadQuoted(text, ref i));
                    i = SkipBlanks(text, i);
                    if (i < text.Length && text[i] != _separator)
                    {
                        throw new InvalidDataException(
                            $"{Path} line {_line}, character {i + 1}: '{text[i]}' after a closing quote; expected the separator '{Printable(_separator)}' or the end of the line.");
                    }
                }
                else
                {
                    int end = text.IndexOf(_separator, start);
                    i = end < 0 ? text.Length : end;
                    cells.Add(Trim(text.AsSpan(start, i - start)));
                }

                if (i >= text.Length)
                {
                    return cells.ToArray();
                }

                i++; // past the separator
            }
        }

        private string ReadQuoted(string text, ref int i)
        {
            int open = i++;
            var cell = new StringBuilder();
            while (true)
            {
                if (i >= text.Length)
                {
                    throw new InvalidDataException(
                        $"{Path} line {_line}, character {open + 1}: the quoted cell is not closed on this line (quoted cells cannot contain line breaks).");
                }

                char c = text[i++];
                if (c != '"')
                {
                    cell.Append(c);
                }
                else if (i < text.Length && text[i] == '"')
                {
                    cell.Append('"');
                    i++;
                }
                else
                {
                    return cell.ToString();
                }
            }
        }

        private int SkipBlanks(string text, int i)
        {
            while (i < text.Length && IsBlank(text[i]))
            {
                i++;
            }

            return i;
        }

        private string Trim(ReadOnlySpan<char> cell)
        {
            int a = 0, b = cell.Length;
            while (a < b && IsBlank(cell[a]))
            {
                a++;
            }

            while (b > a && IsBlank(cell[b - 1]))
            {
                b--;
            }

            return cell[a..b].ToString();
        }

        private bool IsBlank(char c) => (c == ' ' || c == '\t') && c != _separator;
    }
}
