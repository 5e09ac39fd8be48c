using System.Globalization;

namespace MLNet.Regularization.Data;

/// <summary>
/// Caps that every reader of outside files checks <em>before</em> it allocates: the IDX and CSV readers, the ONNX
/// importer and the checkpoint reader. Model and data files come from strangers; a header that claims two billion
/// labels, a 64 MB node name or an endless stream must end in a clear <see cref="InvalidDataException"/>, not in an
/// <see cref="OutOfMemoryException"/> minutes later. The defaults are far above what the datasets and models of this
/// library need (full Fashion-MNIST is 60,000 samples of 784 values); raise a limit when a real file exceeds it.
/// </summary>
/// <remarks>
/// <para>Besides these caps, the readers allocate only in proportion to the bytes they have actually read (a truncated
/// file that promises a gigabyte costs what it holds, not what it promises): at most a small constant multiple of
/// the input, such as 4 bytes of float per byte of an IDX pixel.</para>
/// <para>Streamed files (<see cref="IdxSource"/>, <see cref="CsvSource"/>, <see cref="ExampleCache"/>) keep every cap
/// that bounds what is held — examples, classes, line and header lengths, the labels — but
/// <see cref="MaxFileBytes"/> and <see cref="MaxTensorElements"/>, which bound one array holding the whole file, apply
/// to one example there: the features are never held all at once, so a file larger than memory streams without
/// raising a limit.</para>
/// </remarks>
public sealed record ReaderLimits
{
    /// <summary>The limits every reader uses unless it is given others.</summary>
    public static ReaderLimits Default { get; } = new();

    /// <summary>The largest file or stream, in bytes (default 2 GiB, the most one array can hold).</summary>
    public long MaxFileBytes { get; init; } = 2L * 1024 * 1024 * 1024;

    /// <summary>The most values one tensor may hold: a dataset's feature matrix, a weight, one example's activations
    /// in a model (default 2^28 = 268,435,456 floats, 1 GiB).</summary>
    public long MaxTensorElements { get; init; } = 1L << 28;

    /// <summary>The most nodes (ONNX) or sections (checkpoint) a model may have (default 1,000,000).</summary>
    public int MaxNodeCount { get; init; } = 1_000_000;

    /// <summary>The longest string: a name, a metadata value, a CSV line (default 16,777,216 characters).</summary>
    public int MaxStringLength { get; init; } = 1 << 24;

    /// <summary>The most classes a classification dataset or model may have (default 100,000).</summary>
    public int MaxClassCount { get; init; } = 100_000;

    /// <summary>The most examples a dataset may have (default 100,000,000).</summary>
    public int MaxSampleCount { get; init; } = 100_000_000;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first limit that is not positive.</summary>
    public void Validate()
    {
        Positive(MaxFileBytes, nameof(MaxFileBytes));
        Positive(MaxTensorElements, nameof(MaxTensorElements));
        Positive(MaxNodeCount, nameof(MaxNodeCount));
        Positive(MaxStringLength, nameof(MaxStringLength));
        Positive(MaxClassCount, nameof(MaxClassCount));
        Positive(MaxSampleCount, nameof(MaxSampleCount));
    }

    /// <summary>The error for a value over a limit: which limit, its value, and how to raise it.</summary>
    /// <param name="where">The file and place, such as <c>'labels.idx': the header</c>.</param>
    /// <param name="what">What is too large, such as <c>2,000,000,000 labels</c>.</param>
    /// <param name="limit">The property name, such as <c>nameof(MaxSampleCount)</c>.</param>
    /// <param name="value">The limit's current value.</param>
    internal static InvalidDataException Exceeded(string where, string what, string limit, long value) =>
        new(string.Create(CultureInfo.InvariantCulture,
            $"{where}: {what} exceeds ReaderLimits.{limit} ({value:N0}); if the file is genuine, raise it: pass new ReaderLimits {{ {limit} = ... }} to the reader."));

    /// <summary>Checks a count against a limit.</summary>
    internal static void Check(long actual, long limit, string where, string what, string name)
    {
        if (actual > limit)
        {
            throw Exceeded(where, what, name, limit);
        }
    }

    /// <summary>A string for an error message: at most <paramref name="max"/> characters, control characters
    /// escaped, so that a hostile 64 MB name does not become a 64 MB message.</summary>
    internal static string Shorten(string? text, int max = 80)
    {
        if (text is null)
        {
            return "(null)";
        }

        var span = text.AsSpan(0, Math.Min(text.Length, max));
        var builder = new System.Text.StringBuilder(span.Length + 32);
        foreach (char c in span)
        {
            builder.Append(char.IsControl(c) ? '?' : c);
        }

        if (text.Length > max)
        {
            builder.Append(CultureInfo.InvariantCulture, $"... ({text.Length:N0} characters)");
        }

        return builder.ToString();
    }

    /// <summary>Reads a stream to its end in growing chunks, refusing it as soon as it passes
    /// <see cref="ReaderLimits.MaxFileBytes"/> (an endless stream such as /dev/zero ends there).</summary>
    internal byte[] ReadAll(Stream stream, string source)
    {
        // A file says how long it is: one buffer of that size (plus the byte that shows the end). A stream that does not
        // starts at 64 KiB and doubles, so what is allocated stays within a few times what was read.
        int first = 64 * 1024;
        if (stream.CanSeek)
        {
            long remaining = stream.Length - stream.Position;
            Check(remaining, MaxFileBytes, source, $"{remaining:N0} bytes", nameof(MaxFileBytes));
            first = (int)Math.Min(Array.MaxLength, remaining + 1);
        }

        var buffer = new byte[first];
        int length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                Check(length + 1L, MaxFileBytes, source, $"more than {MaxFileBytes:N0} bytes", nameof(MaxFileBytes));
                long grown = Math.Min(Array.MaxLength, Math.Min(2L * buffer.Length, MaxFileBytes + 1));
                if (grown == length)
                {
                    throw new InvalidDataException($"{source}: more than {Array.MaxLength:N0} bytes, more than one array can hold.");
                }

                Array.Resize(ref buffer, (int)grown);
            }

            int read = stream.Read(buffer, length, buffer.Length - length);
            if (read == 0)
            {
                return length == buffer.Length ? buffer : buffer.AsSpan(0, length).ToArray();
            }

            length += read;
            Check(length, MaxFileBytes, source, $"more than {MaxFileBytes:N0} bytes", nameof(MaxFileBytes));
        }
    }

    private static void Positive(long value, string name)
    {
        if (value <= 0)
        {
            throw new ArgumentOutOfRangeException(name, value, $"ReaderLimits.{name} must be positive.");
        }
    }
}
