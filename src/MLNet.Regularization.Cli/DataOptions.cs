using System.CommandLine;
using MLNet.Regularization.Data;

namespace MLNet.Regularization.Cli;

/// <summary>Labelled data loaded from a file, with a one-line description for reports.</summary>
internal sealed record LoadedData(Dataset Data, string Path, string Description);

/// <summary>
/// The options that say how to read a labelled file: a CSV with a header (label column by name) or an IDX image
/// file with its label file. The format is recognized by content: IDX files start with the bytes 00 00 08 03
/// (or are gzip-compressed), everything else is read as CSV.
/// </summary>
internal sealed class DataOptions
{
    public Option<string?> Label { get; } = Options.Text("--label", "CSV: name of the label column (class names or integers 0..K-1).", "column");

    public Option<string?> Labels { get; } = Options.Text("--labels", "IDX: the label file that goes with the image file.", "file");

    public Option<string[]> Ignore { get; } = new("--ignore")
    {
        Description = "CSV columns that are neither label nor feature, comma-separated or repeated (ids, free text).",
        HelpName = "columns",
    };

    public Option<string?> Separator { get; } = Options.Text("--separator", "CSV cell separator: one character, or 'tab' (default ',').", "char");

    public Option<string?> Task { get; } = Options.Choice("--task", "multiclass (default; softmax over K classes) or binary (one logit; labels 0/1 or two names).", "multiclass", "binary");

    public void AddTo(Command command)
    {
        command.Add(Label);
        command.Add(Labels);
        command.Add(Ignore);
        command.Add(Separator);
        command.Add(Task);
    }

    /// <summary>Reads a labelled file.</summary>
    /// <param name="r">The parse result.</param>
    /// <param name="path">The data file (CSV, or IDX images).</param>
    /// <param name="labelsPath">For IDX: the label file (null: the --labels option).</param>
    /// <param name="classNames">Impose a training file's class numbering (for CSV files with named classes).</param>
    /// <param name="classCount">Impose a class count (IDX, or CSV with integer labels).</param>
    public LoadedData Load(ParseResult r, string path, string? labelsPath = null, IReadOnlyList<string>? classNames = null, int? classCount = null)
    {
        RequireFile(path, "data file");
        var task = r.GetValue(Task) == "binary" ? TaskKind.Binary : TaskKind.Multiclass;
        Dataset data;
        if (IsIdx(path))
        {
            labelsPath ??= r.GetValue(Labels);
            if (labelsPath is null)
            {
                throw new UsageException($"'{path}' is an IDX image file: give its label file with --labels.");
            }

            RequireFile(labelsPath, "label file");
            data = IdxReader.LoadDataset(path, labelsPath, classCount: classCount ?? (task == TaskKind.Binary ? 2 : null), classNames: classNames);
            if (task == TaskKind.Binary)
            {
                data = Dataset.ForBinary(data.Features.Data, data.SampleShape, data.Labels!, data.ClassNames);
            }
        }
        else
        {
            string label = r.GetValue(Label) ?? throw new UsageException($"'{path}' is read as CSV: name its label column with --label.");
            data = CsvReader.Load(path, label, CsvOptions(r, task, classNames));
            if (classCount is int k && data.Task == TaskKind.Multiclass && data.ClassNames is null && data.ClassCount < k)
            {
                data = Dataset.ForClassification(data.Features.Data, data.SampleShape, data.Labels!, k);
            }
        }

        return new LoadedData(data, path, Describe(path, data));
    }

    /// <summary>CSV settings from the options, for reading features only (predict).</summary>
    public CsvOptions CsvOptions(ParseResult r, TaskKind task = TaskKind.Multiclass, IReadOnlyList<string>? classNames = null) => new()
    {
        Separator = ParseSeparator(r.GetValue(Separator)),
        IgnoreColumns = Options.List(r.GetValue(Ignore)),
        Task = task,
        ClassNames = classNames,
    };

    public static void RequireFile(string path, string what)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(Directory.Exists(path) ? $"{what} '{path}' is a folder, not a file." : $"{what} '{path}' does not exist.", path);
        }
    }

    public static string Describe(string path, Dataset data) =>
        $"{System.IO.Path.GetFileName(path)}: {data.Count:N0} rows, {data.FeatureCount:N0} features, {data.ClassCount} classes";

    private static bool IsIdx(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using var stream = File.OpenRead(path);
        int read = stream.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        return read >= 2 && ((head[0] == 0x1F && head[1] == 0x8B) || (read == 4 && head[0] == 0 && head[1] == 0 && head[2] == 0x08 && head[3] is 0x01 or 0x03));
    }

    private static char ParseSeparator(string? text) => text switch
    {
        null => ',',
        "tab" or "\\t" or "\t" => '\t',
        { Length: 1 } => text[0],
        _ => throw new UsageException($"--separator: '{text}' is not one character (use 'tab' for a tab)."),
    };
}
