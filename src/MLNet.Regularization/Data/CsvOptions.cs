namespace MLNet.Regularization.Data;

/// <summary>How <see cref="CsvReader"/> reads a delimited text file.</summary>
public sealed class CsvOptions
{
    /// <summary>The cell separator. Default ','; use ';' or '\t' for other dialects.</summary>
    public char Separator { get; init; } = ',';

    /// <summary>What the label column means. Default <see cref="TaskKind.Multiclass"/>.</summary>
    public TaskKind Task { get; init; } = TaskKind.Multiclass;

    /// <summary>Columns that are neither label nor feature (identifiers, free text, leaked targets).
    /// Every name must exist in the header. Default: none.</summary>
    public IReadOnlyList<string> IgnoreColumns { get; init; } = [];

    /// <summary>
    /// The classes, in index order, for a classification task whose labels are strings. When null they are the
    /// distinct labels of the file in ordinal order. Set it to read a test file with a training file's class
    /// indices: a test file that lacks a class would otherwise number the others differently. A label outside
    /// this list is an error.
    /// </summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <summary>Caps on file size, line length, rows, values and classes, checked before allocating
    /// (default <see cref="ReaderLimits.Default"/>).</summary>
    public ReaderLimits Limits { get; init; } = ReaderLimits.Default;

    /// <summary>Checks the options; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    internal void Validate()
    {
        if (Separator is '"' or '\r' or '\n')
        {
            throw new ArgumentException("the separator cannot be a double quote or a line break.", nameof(Separator));
        }

        if (!Enum.IsDefined(Task))
        {
            throw new ArgumentException($"unknown task {(int)Task}.", nameof(Task));
        }

        ArgumentNullException.ThrowIfNull(IgnoreColumns);
        ArgumentNullException.ThrowIfNull(Limits);
        Limits.Validate();
        if (ClassNames is not null)
        {
            if (Task == TaskKind.Regression)
            {
                throw new ArgumentException("class names make no sense for a regression task.", nameof(ClassNames));
            }

            int expected = Task == TaskKind.Binary ? 2 : Math.Max(2, ClassNames.Count);
            if (ClassNames.Count != expected || ClassNames.Distinct(StringComparer.Ordinal).Count() != ClassNames.Count)
            {
                throw new ArgumentException(
                    $"class names must be {(Task == TaskKind.Binary ? "exactly 2" : "at least 2")} distinct strings, got {ClassNames.Count}: {CsvReader.Quote(ClassNames)}.",
                    nameof(ClassNames));
            }
        }
    }
}
