using System.Text;

namespace MLNet.Regularization.Data;

/// <summary>
/// <see cref="TextReader.ReadLine"/> with a cap: a line ends at "\n", "\r" or "\r\n" as there, but a line longer
/// than the cap is refused with an <see cref="InvalidDataException"/> after reading at most the cap (plus one
/// block), instead of growing one string as large as the file.
/// </summary>
internal sealed class BoundedLineReader(TextReader reader, int maxLength) : IDisposable
{
    private readonly char[] _block = new char[8192];
    private readonly StringBuilder _line = new();
    private int _start;
    private int _end;

    /// <summary>The next line without its terminator, or null at the end of the text.</summary>
    /// <param name="lineNumber">The one-based number of this line, for the error message.</param>
    /// <param name="source">The file, for the error message.</param>
    public string? ReadLine(int lineNumber, string source)
    {
        _line.Clear();
        bool any = false;
        while (true)
        {
            if (_start == _end)
            {
                _end = reader.Read(_block, 0, _block.Length);
                _start = 0;
                if (_end == 0)
                {
                    return any ? _line.ToString() : null;
                }
            }

            any = true;
            var span = _block.AsSpan(_start, _end - _start);
            int stop = span.IndexOfAny('\n', '\r');
            int take = stop < 0 ? span.Length : stop;
            if (_line.Length + take > maxLength)
            {
                throw ReaderLimits.Exceeded($"{source} line {lineNumber}", $"a line of more than {maxLength:N0} characters", nameof(ReaderLimits.MaxStringLength), maxLength);
            }

            _line.Append(span[..take]);
            _start += take;
            if (stop < 0)
            {
                continue;
            }

            bool carriageReturn = _block[_start] == '\r';
            _start++;
            if (carriageReturn)
            {
                SkipNewlineAfterCarriageReturn();
            }

            return _line.ToString();
        }
    }

    public void Dispose() => reader.Dispose();

    private void SkipNewlineAfterCarriageReturn()
    {
        if (_start == _end)
        {
            _end = reader.Read(_block, 0, _block.Length);
            _start = 0;
        }

        if (_start < _end && _block[_start] == '\n')
        {
            _start++;
        }
    }
}
