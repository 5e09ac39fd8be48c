using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using MLNet.Regularization.Data;

namespace MLNet.Regularization.Cli;

/// <summary>How a network reads one example, which decides the shape the data is given.</summary>
internal enum InputLayout
{
    /// <summary>A flat vector (a perceptron): images and --input-shape are flattened.</summary>
    Flat,

    /// <summary>[channels, height, width] (a convolutional spec): flat rows need --input-shape.</summary>
    Images,

    /// <summary>As --input-shape says, or flat without it (other layer lists, such as recurrent ones).</summary>
    AsGiven,
}

/// <summary>Labelled data loaded from a file or folder, with a one-line description for reports.</summary>
/// <param name="Data">The examples, shaped for the network (flat, or [C, H, W] for convolutional ones).</param>
/// <param name="Path">The file or folder.</param>
/// <param name="Description">One line: name, rows, features, classes.</param>
/// <param name="Images">True for images (IDX files, image folders, a 3-dimensional --input-shape): they get one
/// normalization per channel by default.</param>
internal sealed record LoadedData(Dataset Data, string Path, string Description, bool Images);

/// <summary>
/// The options that say how to read labelled data: a CSV with a header (label column by name), an IDX image file with
/// its label file, or a folder of images with one sub-folder per class. The format is recognized by content: a
/// folder is an image folder, IDX files start with the bytes 00 00 08 03 (or are gzip-compressed), everything else is
/// read as CSV.
/// </summary>
internal sealed partial class DataOptions
{
    /// <summary>A label column with more distinct numbers than this (and fewer than 20 rows per value on average) is
    /// probably a quantity, not a class.</summary>
    private const int ManyClasses = 20;

    public Option<string?> Label { get; } = Options.Text("--label", "CSV: name of the label column (class names or integers 0..K-1; a number to predict with --task regression).", "column");

    public Option<string?> Labels { get; } = Options.Text("--labels", "IDX: the label file that goes with the image file.", "file");

    public Option<string[]> Ignore { get; } = new("--ignore")
    {
        Description = "CSV columns that are neither label nor feature, comma-separated or repeated (ids, free text).",
        HelpName = "columns",
    };

    public Option<string?> Separator { get; } = Options.Text("--separator", "CSV cell separator: one character, or 'tab' (default ',').", "char");

    public Option<string?> Task { get; } = Options.Choice("--task", "multiclass (default; softmax over K classes), binary (one logit; labels 0/1 or two names) or regression (a numeric label; mean squared error).", "multiclass", "binary", "regression");

    public Option<string?> InputShape { get; } = Options.Text("--input-shape", "The shape of one example, such as 1,28,28 (channels, height, width) for a convolutional spec on CSV or IDX data; for an image folder, the channels and size every image is converted to.", "C,H,W");

    public void AddTo(Command command)
    {
        command.Add(Label);
        command.Add(Labels);
        command.Add(Ignore);
        command.Add(Separator);
        command.Add(Task);
        command.Add(InputShape);
    }

    /// <summary>The task the options ask for.</summary>
    public TaskKind GetTask(ParseResult r) => r.GetValue(Task) switch
    {
        "binary" => TaskKind.Binary,
        "regression" => TaskKind.Regression,
        _ => TaskKind.Multiclass,
    };

    /// <summary>Reads labelled data.</summary>
    /// <param name="r">The parse result.</param>
    /// <param name="path">The data: a CSV file, IDX images, or a folder of class sub-folders.</param>
    /// <param name="layout">How the network reads an example (see <see cref="LayoutFor"/>).</param>
    /// <param name="warn">Receives warnings (such as a numeric label about to become hundreds of classes).</param>
    /// <param name="labelsPath">For IDX: the label file (null: the --labels option).</param>
    /// <param name="classNames">Impose a training set's class numbering (for CSV files with named classes and image folders).</param>
    /// <param name="classCount">Impose a class count (IDX, or CSV with integer labels).</param>
    /// <param name="task">The task, when a model imposes it (null: the --task option).</param>
    /// <param name="modelShape">A trained model's example shape, used when --input-shape is not given (so that an image
    /// folder is converted to the model's channels and size).</param>
    public LoadedData Load(ParseResult r, string path, InputLayout layout, Action<string> warn, string? labelsPath = null, IReadOnlyList<string>? classNames = null, int? classCount = null, TaskKind? task = null, int[]? modelShape = null)
    {
        task ??= GetTask(r);
        int[]? shape = ParseShape(r.GetValue(InputShape)) ?? (modelShape is { Length: 3 } ? modelShape : null);
        Dataset data;
        bool images;
        if (Directory.Exists(path))
        {
            RequireClassification(task.Value, path, "an image folder");
            data = ImageFolder.LoadLabelled(path, shape, classNames);
            images = true;
        }
        else
        {
            RequireFile(path, "data file");
            if (IsIdx(path))
            {
                RequireClassification(task.Value, path, "an IDX image file");
                labelsPath ??= r.GetValue(Labels);
                if (labelsPath is null)
                {
                    throw new UsageException($"'{path}' is an IDX image file: give its label file with --labels.");
                }

                RequireFile(labelsPath, "label file");
                data = IdxReader.LoadDataset(path, labelsPath, asImages: true, classCount: classCount ?? (task == TaskKind.Binary ? 2 : null), classNames: classNames);
                if (task == TaskKind.Binary)
                {
                    data = Dataset.ForBinary(data.Features.Data, data.SampleShape, data.Labels!, data.ClassNames);
                }

                images = true;
            }
            else
            {
                string label = r.GetValue(Label) ?? throw new UsageException($"'{path}' is read as CSV: name its label column with --label.");
                var options = CsvOptions(r, task.Value, classNames);
                CheckColumns(path, options, label);
                data = WithHint(() => CsvReader.Load(path, label, options));
                if (classCount is int k && data.Task == TaskKind.Multiclass && data.ClassNames is null && data.ClassCount < k)
                {
                    data = Dataset.ForClassification(data.Features.Data, data.SampleShape, data.Labels!, k);
                }

                images = false;
                if (classNames is null && classCount is null)
                {
                    WarnAboutManyClasses(data, label, warn);
                }
            }

            // A model's own shape applies only where it fits; otherwise the caller names the mismatch in the model's terms.
            if (shape is not null && (r.GetValue(InputShape) is not null || shape.Aggregate(1L, (a, b) => a * b) == data.FeatureCount))
            {
                data = Reshape(data, shape, "--input-shape");
                images = shape.Length == 3;
            }
        }

        data = layout switch
        {
            InputLayout.Images => RequireImages(data, path),
            InputLayout.AsGiven when shape is not null => data,
            _ => Flat(data),
        };
        return new LoadedData(data, path, Describe(path, data), images);
    }

    /// <summary>How the networks of these specs read an example: as images when one is convolutional, as given when one
    /// is another layer list, flat for perceptrons.</summary>
    public static InputLayout LayoutFor(IEnumerable<Experiments.ModelSpec> specs)
    {
        var list = specs.ToList();
        return list.Any(s => s.IsConvolutional) ? InputLayout.Images : list.Any(s => s.Layers is not null) ? InputLayout.AsGiven : InputLayout.Flat;
    }

    /// <summary>CSV settings from the options, for reading features only (predict).</summary>
    public CsvOptions CsvOptions(ParseResult r, TaskKind task = TaskKind.Multiclass, IReadOnlyList<string>? classNames = null) => new()
    {
        Separator = ParseSeparator(r.GetValue(Separator)),
        IgnoreColumns = Options.List(r.GetValue(Ignore)),
        Task = task,
        ClassNames = classNames,
    };

    /// <summary>The examples as flat vectors (what dense layers read).</summary>
    public static Dataset Flat(Dataset data) => data.SampleShape.Length == 1 ? data : data.Reshape(data.FeatureCount);

    public static void RequireFile(string path, string what)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(Directory.Exists(path) ? $"{what} '{path}' is a folder, not a file." : $"{what} '{path}' does not exist.", path);
        }
    }

    public static string Describe(string path, Dataset data) => Describe(path, data.Count, data.FeatureCount, data.SampleShape, data.Task, data.ClassCount);

    /// <summary>Parses --input-shape: 1 to 3 positive sizes separated by commas or x.</summary>
    public static int[]? ParseShape(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var parts = text.Split([',', 'x', 'X'], StringSplitOptions.TrimEntries);
        var shape = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out shape[i]) || shape[i] < 1)
            {
                throw new UsageException($"--input-shape: '{text}' is not a list of positive sizes such as 1,28,28 (channels, height, width).");
            }
        }

        if (shape.Length > 3)
        {
            throw new UsageException($"--input-shape: '{text}' has {shape.Length} sizes; give at most 3 (channels, height, width).");
        }

        return shape;
    }

    /// <summary>The data with examples of the given shape, which must hold as many values.</summary>
    public static Dataset Reshape(Dataset data, int[] shape, string source)
    {
        long size = shape.Aggregate(1L, (a, b) => a * b);
        if (size != data.FeatureCount)
        {
            throw new UsageException($"{source} {string.Join(",", shape)} holds {size:N0} values but the data has {data.FeatureCount:N0} features per example.");
        }

        return data.Reshape(shape);
    }

    private static Dataset RequireImages(Dataset data, string path) => data.SampleShape.Length == 3
        ? data
        : throw new UsageException($"the spec is convolutional, so it reads images of shape [channels, height, width], but '{path}' holds flat rows of {data.FeatureCount} features: give their shape with --input-shape (such as 1,28,28).");

    private static void RequireClassification(TaskKind task, string path, string what)
    {
        if (task == TaskKind.Regression)
        {
            throw new UsageException($"'{path}' is {what}, which holds class labels: --task regression needs a CSV file with a numeric label column.");
        }
    }

    /// <summary>Names a label or ignored column that is not in the header with the column it probably meant, and a
    /// file whose single header cell shows another separator.</summary>
    internal static void CheckColumns(string path, CsvOptions options, string label)
    {
        var header = CsvReader.ReadHeader(path, options);
        foreach (var (name, what, option) in options.IgnoreColumns.Select(c => (c, "ignored column", "--ignore")).Prepend((label, "label column", "--label")))
        {
            if (header.Contains(name))
            {
                continue;
            }

            CheckSeparator(path, header, options.Separator);
            string? near = Suggestions.Nearest(name, header);
            throw new UsageException($"{option}: {path} has no column '{name}' (the {what})" +
                (near is null ? $"; its columns are {string.Join(", ", header.Take(30).Select(h => $"'{h}'"))}{(header.Count > 30 ? ", ..." : "")}." : $"; did you mean '{near}'? (column names are case-sensitive)"));
        }
    }

    /// <summary>Throws when the header is one cell that another separator would split: the file needs --separator.</summary>
    public static void CheckSeparator(string path, IReadOnlyList<string> header, char separator)
    {
        if (header.Count == 1 && OtherSeparator(header[0], separator) is char other)
        {
            throw new UsageException($"{path} has one column '{Shorten(header[0])}' when read with the separator '{Printable(separator)}'; its header looks separated by '{Printable(other)}': add --separator {(other == '\t' ? "tab" : $"'{other}'")}.");
        }
    }

    /// <summary>Runs a CSV read, adding to a "not a number" error the option that leaves a text column out.</summary>
    public static T WithHint<T>(Func<T> read, string alternatives = "leave it out with --ignore")
    {
        try
        {
            return read();
        }
        catch (InvalidDataException e) when (NotANumber().Match(e.Message) is { Success: true } m && !m.Groups["cell"].Value.Contains(','))
        {
            string column = m.Groups["column"].Value;
            throw new InvalidDataException($"{e.Message} If '{column}' is not a feature (an id, a name, free text), {alternatives.Replace("--ignore", $"--ignore {column}", StringComparison.Ordinal).Replace("--id", $"--id {column}", StringComparison.Ordinal)}.", e);
        }
    }

    /// <summary>Warns when a numeric label has so many distinct values that it is more likely a quantity than a class.</summary>
    private static void WarnAboutManyClasses(Dataset data, string label, Action<string> warn)
    {
        if (data.Task != TaskKind.Multiclass || data.Labels is null)
        {
            return;
        }

        bool numeric = data.ClassNames is null
            || data.ClassNames.All(n => double.TryParse(n, NumberStyles.Float, CultureInfo.InvariantCulture, out _));
        int distinct = data.Labels.Distinct().Count();
        if (numeric && distinct > ManyClasses && distinct * ManyClasses > data.Count)
        {
            warn($"label column '{label}' holds {distinct} distinct numbers in {data.Count} rows, so it becomes {data.ClassCount} classes " +
                 $"(fewer than {ManyClasses} rows each); if it is a quantity to predict, use --task regression.");
        }
    }

    private static char? OtherSeparator(string cell, char separator) =>
        new[] { ';', '\t', '|', ',' }.Where(c => c != separator).Select(c => ((char?)c, cell.Count(x => x == c))).Where(p => p.Item2 > 0).OrderByDescending(p => p.Item2).Select(p => p.Item1).FirstOrDefault();

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..37] + "...";

    private static string Printable(char c) => c == '\t' ? "\\t" : c.ToString();

    [GeneratedRegex(@"column '(?<column>[^']*)': '(?<cell>[^']*)' is not a number")]
    private static partial Regex NotANumber();

    /// <summary>The one-line description of streamed examples, in the words of <see cref="Describe(string, Dataset)"/>.</summary>
    public static string Describe(string path, ExampleSource data) => Describe(path, data.Count, data.FeatureCount, data.SampleShape, data.Task, data.ClassCount);

    private static string Describe(string path, int count, int features, int[] shape, TaskKind task, int classes) => task == TaskKind.Regression
        ? $"{System.IO.Path.GetFileName(path)}: {count:N0} rows, {features:N0} features, regression"
        : $"{System.IO.Path.GetFileName(path)}: {count:N0} {(shape.Length == 3 ? "images" : "rows")}, {features:N0} features" +
          $"{(shape.Length == 3 ? $" [{string.Join(", ", shape)}]" : "")}, {classes} classes";

    /// <summary>True for an IDX file (or any gzip file), recognized by its first bytes.</summary>
    internal static bool IsIdx(string path)
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
