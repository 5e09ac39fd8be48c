using System.Buffers.Binary;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using MLNet.Regularization.Data;

namespace MLNet.Regularization.Cli;

/// <summary>Training data as the trainer reads it: a file loaded whole (an in-memory dataset) or streamed a
/// mini-batch at a time.</summary>
/// <param name="Source">The examples.</param>
/// <param name="Path">The data file.</param>
/// <param name="Description">One line: name, rows, features, classes, and how it is read.</param>
/// <param name="Streamed">True when the features stay on disk.</param>
/// <param name="Images">True for images (as <see cref="LoadedData.Images"/>): they get one normalization per channel by default.</param>
internal sealed record TrainingInput(ExampleSource Source, string Path, string Description, bool Streamed, bool Images) : IDisposable
{
    public void Dispose() => Source.Dispose();
}

/// <summary>
/// The options that decide whether train streams its data: <c>--stream</c> (or automatically, when the features as
/// 32-bit floats would take more than a quarter of the memory the process may use), <c>--in-memory</c>, the CSV cache
/// and the shuffle buffer; with the progress of a streamed pass in bytes, and a message that says how much the data
/// needs and which option streams it when loading it whole runs out of memory.
/// </summary>
internal sealed class StreamingOptions
{
    /// <summary>Stream when the features as floats would take more than this share of the memory available.</summary>
    private const double AutomaticShare = 0.25;

    /// <summary>The reader limits that bound one array holding a whole file: streamed data is not held so.</summary>
    private static readonly string[] WholeFileLimits = [nameof(ReaderLimits.MaxTensorElements), nameof(ReaderLimits.MaxFileBytes)];

    public Option<bool> Stream { get; } = Options.Flag("--stream", "Read the data a mini-batch at a time instead of loading it (for data larger than memory; automatic when its features as floats would take more than a quarter of the memory available). A CSV file is parsed once into a binary cache (--cache).");

    public Option<bool> InMemory { get; } = Options.Flag("--in-memory", "Load the data whole even when it is large (the opposite of --stream).");

    public Option<string?> Cache { get; } = Options.Text("--cache", "Streamed CSV: the binary cache written on the first pass and reused while the CSV file is unchanged (default: the CSV path with .cache; 'none' parses the text every epoch).", "file");

    public Option<int?> ShuffleBuffer { get; } = Options.Int("--shuffle-buffer", "Streamed data: examples held by the shuffle buffer, which reads the file in order (default: a full random permutation when the data can be read by index and is smaller than half the memory; otherwise as many as fit in 64 MiB).");

    public void AddTo(Command command)
    {
        command.Add(Stream);
        command.Add(InMemory);
        command.Add(Cache);
        command.Add(ShuffleBuffer);
    }

    /// <summary>Opens labelled data: loaded whole, or streamed when asked to or when it is large.</summary>
    /// <param name="r">The parse result.</param>
    /// <param name="data">The data options (label, labels file, separator, task).</param>
    /// <param name="display">Where the choice and the first pass's progress are reported.</param>
    /// <param name="layout">How the network reads an example.</param>
    /// <param name="warn">Receives the loader's warnings.</param>
    /// <param name="path">The data file.</param>
    /// <param name="labelsPath">IDX: the label file (null: --labels).</param>
    /// <param name="classNames">Impose a training file's class numbering (test data).</param>
    /// <param name="classCount">Impose a class count (test data).</param>
    /// <param name="test">True for test data, which is never cached.</param>
    public TrainingInput Open(ParseResult r, DataOptions data, Display display, InputLayout layout, Action<string> warn, string path, string? labelsPath = null, IReadOnlyList<string>? classNames = null, int? classCount = null, bool test = false)
    {
        bool stream = r.GetValue(Stream), inMemory = r.GetValue(InMemory);
        if (stream && inMemory)
        {
            throw new UsageException("--stream and --in-memory exclude each other: give one.");
        }

        if (Directory.Exists(path))
        {
            // Image folders are decoded and resized whole; streaming reads files of fixed-size rows.
            return stream
                ? throw new UsageException($"--stream reads CSV and IDX files; '{path}' is an image folder, which is loaded whole: leave --stream out.")
                : Loaded(data.Load(r, path, layout, warn, labelsPath, classNames, classCount));
        }

        DataOptions.RequireFile(path, "data file");
        long needed = EstimateFloatBytes(path);
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        long readerCap = ReaderLimits.Default.MaxTensorElements * sizeof(float);
        if (!stream && !inMemory && (needed > AutomaticShare * available || needed > readerCap))
        {
            stream = true;
            display.Info(needed > AutomaticShare * available
                ? $"Streaming {System.IO.Path.GetFileName(path)}: its features need about {MemoryText(needed)} as 32-bit floats, more than a quarter of the {MemoryText(available)} this process may use (--in-memory loads it anyway)"
                : $"Streaming {System.IO.Path.GetFileName(path)}: its features need about {MemoryText(needed)} as 32-bit floats, more than the {MemoryText(readerCap)} the readers load whole");
        }

        if (!stream)
        {
            try
            {
                return Loaded(data.Load(r, path, layout, warn, labelsPath, classNames, classCount));
            }
            catch (OutOfMemoryException e)
            {
                // The library's InsufficientMemoryException names its API; here the way to stream is an option.
                throw OutOfMemory(path, needed, e);
            }
            catch (InvalidDataException e) when (WholeFileLimits.Any(limit => e.Message.Contains($"ReaderLimits.{limit}", StringComparison.Ordinal)))
            {
                // The caps on one array holding the whole file do not apply to streamed data, which holds one example.
                throw new InvalidDataException($"{e.Message} Streamed, it needs no such array: train with --stream to read it a mini-batch at a time.", e);
            }
        }

        if (r.GetValue(data.InputShape) is not null)
        {
            throw new UsageException("--input-shape reshapes data loaded whole; streamed data keeps its file's shape (IDX images [1, height, width], CSV rows flat): leave --input-shape out, or leave out --stream.");
        }

        var task = data.GetTask(r);
        ExampleSource source;
        bool images = DataOptions.IsIdx(path);
        if (images)
        {
            if (task == TaskKind.Regression)
            {
                throw new UsageException($"'{path}' is an IDX image file, which holds class labels: --task regression needs a CSV file with a numeric label column.");
            }

            labelsPath ??= r.GetValue(data.Labels) ?? throw new UsageException($"'{path}' is an IDX image file: give its label file with --labels.");
            DataOptions.RequireFile(labelsPath, "label file");
            source = IdxSource.Open(path, labelsPath, asImages: layout == InputLayout.Images, classCount: classCount, classNames: classNames, task: task);
        }
        else
        {
            if (layout == InputLayout.Images)
            {
                throw new UsageException($"the spec is convolutional, so it reads images of shape [channels, height, width], but streamed '{path}' holds flat rows: stream IDX images, or load the CSV file whole with --input-shape.");
            }

            string label = r.GetValue(data.Label) ?? throw new UsageException($"'{path}' is read as CSV: name its label column with --label.");
            string? cache = test ? null : r.GetValue(Cache) switch
            {
                null => path + ".cache",
                "none" => null,
                { } given => given,
            };
            Options.RequireFolder(cache, "--cache");
            var meter = new PassMeter(display, $"parsing {System.IO.Path.GetFileName(path)}{(cache is null ? "" : $" into {System.IO.Path.GetFileName(cache)}")}", new FileInfo(path).Length);
            var options = data.CsvOptions(r, task, classNames);
            DataOptions.CheckColumns(path, options, label);
            source = DataOptions.WithHint(() => CsvSource.Open(path, label, options, cache, meter));
        }

        string how = source.SupportsRandomAccess ? "streamed, random access" : "streamed in order";
        return new TrainingInput(source, path, $"{DataOptions.Describe(path, source)} ({how}, {MemoryText(source.ByteLength)} per pass)", Streamed: true, images);
    }

    private static TrainingInput Loaded(LoadedData loaded) => new(new DatasetSource(loaded.Data), loaded.Path, loaded.Description, Streamed: false, loaded.Images);

    /// <summary>The shuffle buffer the trainer uses: --shuffle-buffer, or for streamed data larger than half the machine's
    /// memory the default buffer (read in file order), since a random permutation of it would read from disk at random.</summary>
    public int? ShuffleBufferSize(ParseResult r, TrainingInput input, Display display)
    {
        if (r.GetValue(ShuffleBuffer) is int given)
        {
            return given >= 1 ? given : throw new UsageException($"--shuffle-buffer must be at least 1, got {given}.");
        }

        var source = input.Source;
        if (!input.Streamed || !source.SupportsRandomAccess || source.ByteLength <= PhysicalMemory() / 2)
        {
            return null;
        }

        int buffer = (int)Math.Clamp((64L << 20) / source.RowBytes, 1, source.Count);
        display.Info($"Reading {System.IO.Path.GetFileName(input.Path)} in file order through a shuffle buffer of {buffer:N0} examples: at {MemoryText(source.ByteLength)} it is larger than half the memory, where a random permutation would read the disk at random (--shuffle-buffer sets the size)");
        return buffer;
    }

    /// <summary>About how many bytes the file's features take as 32-bit floats: from an IDX header, or for CSV from the
    /// cells per byte of its first megabyte. Zero when it cannot be told (the readers then give the real error).</summary>
    internal static long EstimateFloatBytes(string path)
    {
        try
        {
            if (DataOptions.IsIdx(path))
            {
                using var file = File.OpenRead(path);
                Stream stream = file;
                Span<byte> two = stackalloc byte[2];
                if (file.Read(two) == 2 && two[0] == 0x1F && two[1] == 0x8B)
                {
                    file.Position = 0;
                    stream = new GZipStream(file, CompressionMode.Decompress);
                }
                else
                {
                    file.Position = 0;
                }

                Span<byte> header = stackalloc byte[16];
                if (stream.ReadAtLeast(header, 16, throwOnEndOfStream: false) < 16 || header[3] != 3)
                {
                    return 0;
                }

                long count = BinaryPrimitives.ReadUInt32BigEndian(header[4..]), rows = BinaryPrimitives.ReadUInt32BigEndian(header[8..]), cols = BinaryPrimitives.ReadUInt32BigEndian(header[12..]);
                return count * rows * cols * sizeof(float);
            }

            long length = new FileInfo(path).Length;
            var sample = new byte[(int)Math.Min(length, 1 << 20)];
            using (var file = File.OpenRead(path))
            {
                file.ReadAtLeast(sample, sample.Length, throwOnEndOfStream: false);
            }

            long cells = sample.Count(b => b is (byte)',' or (byte)';' or (byte)'\t' or (byte)'\n');
            return sample.Length == 0 ? 0 : (long)(cells * sizeof(float) * ((double)length / sample.Length));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return 0;
        }
    }

    /// <summary>The error for loading data whole that did not fit: how much it needs and which option streams it.</summary>
    internal static InsufficientMemoryException OutOfMemory(string path, long needed, Exception inner) =>
        new($"'{path}' ran out of memory while it was loaded whole: {(needed > 0 ? $"its features need about {MemoryText(needed)} as 32-bit floats" : "its size could not be told from its first bytes")}, and this process may use {MemoryText(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes)}. Train with --stream to read it a mini-batch at a time.", inner);

    internal static string MemoryText(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):F1} GB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):F0} MB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F0} KB"),
    };

    /// <summary>The machine's memory (Linux: MemTotal), or what the GC may use where it cannot be read.</summary>
    private static long PhysicalMemory()
    {
        try
        {
            string? line = File.Exists("/proc/meminfo") ? File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)) : null;
            if (line is not null && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], NumberStyles.None, CultureInfo.InvariantCulture, out long kb))
            {
                return kb * 1024;
            }
        }
        catch (IOException)
        {
        }

        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }
}

/// <summary>Reports a pass over a file by bytes, as a line every few seconds (and one at the end).</summary>
internal sealed class PassMeter(Display display, string what, long total) : IProgress<long>
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _last;

    public void Report(long value)
    {
        if (_clock.Elapsed - _last < TimeSpan.FromSeconds(5) && value < total)
        {
            return;
        }

        _last = _clock.Elapsed;
        display.Info(Text(what, value, total, _clock.Elapsed));
    }

    private static string Text(string what, long done, long total, TimeSpan elapsed) => string.Create(
        CultureInfo.InvariantCulture,
        $"{what}: {StreamingOptions.MemoryText(done)} of {StreamingOptions.MemoryText(total)} ({100.0 * done / Math.Max(total, 1):F0}%), {StreamingOptions.MemoryText((long)(done / Math.Max(elapsed.TotalSeconds, 1e-3)))}/s");
}

/// <summary>The bytes streamed training has read from its file, counted in passes over it. Training reads the file in
/// passes — the normalizer's (one or two before the first epoch), then one per epoch (with the validation rows) — so the
/// pass count tells where a long run is without the trainer reporting anything within an epoch.</summary>
internal sealed class ByteMeter(ExampleSource root, string name)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    /// <summary>The bytes of one pass over the whole file.</summary>
    public long PassBytes { get; } = Math.Max(1, root.ByteLength);

    /// <summary>Bytes read so far.</summary>
    public long Read => root.BytesRead;

    /// <summary>Bytes read in the current pass (for a bar that fills once per pass).</summary>
    public long InPass => Read % PassBytes;

    /// <summary>Writes "<paramref name="what"/>: <see cref="Line"/>" every 10 seconds until disposed, for a pass that has
    /// no progress of its own (scoring after training).</summary>
    public Timer Lines(Display display, string what) =>
        new(_ => display.Info($"{what}: {Line}"), null, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10));

    public string Line => string.Create(
        CultureInfo.InvariantCulture,
        $"reading {name}: {StreamingOptions.MemoryText(Read)} read, {Read / (double)PassBytes:F2} passes of {StreamingOptions.MemoryText(PassBytes)}, {StreamingOptions.MemoryText((long)(Read / Math.Max(_clock.Elapsed.TotalSeconds, 1e-3)))}/s");
}
