using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MLNet.Regularization.Data;
using MLNet.Regularization.Reporting;

namespace MLNet.Regularization.Training;

/// <summary>Where a run stands and what it must match, the JSON header of a checkpoint.</summary>
internal sealed record CheckpointHeader
{
    /// <summary>Every training setting that changes the weights (not thread counts or checkpoint settings).</summary>
    public required string Options { get; init; }

    /// <summary>The network's layers and parameter shapes.</summary>
    public required string Network { get; init; }

    /// <summary>A hash of the training and validation data as passed to the trainer.</summary>
    public required string Data { get; init; }

    /// <summary>Zero-based epoch the run continues in.</summary>
    public int Epoch { get; init; }

    /// <summary>Zero-based batch of that epoch the run continues with (0: the epoch has not started).</summary>
    public int Batch { get; init; }

    /// <summary>The first example (in the epoch's order) of that batch.</summary>
    public int Start { get; init; }

    /// <summary>Optimizer steps taken.</summary>
    public int Steps { get; init; }

    /// <summary>The epoch's loss sum so far (for its record).</summary>
    public double LossSum { get; init; }

    /// <summary>The epoch's correct predictions so far.</summary>
    public long Correct { get; init; }

    /// <summary>The epoch's examples so far.</summary>
    public long Seen { get; init; }

    /// <summary>The epoch's seconds so far (for its record only).</summary>
    public double Seconds { get; init; }

    /// <summary>Counter of the shuffling stream.</summary>
    public ulong ShufflePosition { get; init; }

    /// <summary>Counter of the mask stream.</summary>
    public ulong MaskPosition { get; init; }

    /// <summary>Early stopping: the best epoch so far (0: none).</summary>
    public int BestEpoch { get; init; }

    /// <summary>Early stopping: its validation loss.</summary>
    public double BestLoss { get; init; }

    /// <summary>Divergence detection: the first batch's loss (NaN before the first batch).</summary>
    public double ReferenceLoss { get; init; }

    /// <summary>Learning-rate back-off: the factor applied so far (1: none).</summary>
    public float LearningRateScale { get; init; } = 1f;

    /// <summary>Learning-rate back-off: how often it was applied.</summary>
    public int Backoffs { get; init; }

    /// <summary>The finished epochs, as the ONNX metadata writes a history.</summary>
    public required string History { get; init; }

    /// <summary>What the caller stored with the checkpoint (the CLI keeps its command line here).</summary>
    public Dictionary<string, string> Metadata { get; init; } = [];
}

/// <summary>
/// A training run frozen between two mini-batches: a <see cref="CheckpointHeader"/> and named tensors (the network's
/// parameters and state, the optimizer's moments, the snapshots of the last finished and the best epoch, the epoch's
/// example order). Sections are named generically (<c>net/3/weight</c>, <c>net/3/state0</c>, <c>optimizer/m0</c>), so a
/// layer or optimizer that keeps more between batches (pruning masks, say) adds sections without a new format.
/// </summary>
/// <remarks>
/// File layout, little-endian: the 8 bytes <c>MLNRCKPT</c>, format version (int32), header length (int32) and the
/// UTF-8 JSON header, section count (int32), then per section its name length (int32), UTF-8 name, kind (byte: 1 =
/// float32, 2 = int32), element count (int64) and the values; last, the SHA-256 of everything before it. Files are
/// written through <see cref="AtomicFile"/> (whole or not at all) and read under <see cref="ReaderLimits"/>: every
/// length is checked against the limits and against the bytes that remain before anything is allocated, and the
/// content hash is verified before anything is parsed.
/// </remarks>
internal sealed class TrainingCheckpoint
{
    public const int FormatVersion = 1;
    private const int HashSize = 32;
    private const byte FloatKind = 1;
    private const byte IntKind = 2;
    private static readonly byte[] Magic = "MLNRCKPT"u8.ToArray();

    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public TrainingCheckpoint(CheckpointHeader header)
    {
        Header = header;
    }

    public CheckpointHeader Header { get; }

    /// <summary>Float tensors by name, in the order they were added.</summary>
    public List<(string Name, float[] Values)> Floats { get; } = [];

    /// <summary>Integer tensors by name.</summary>
    public List<(string Name, int[] Values)> Ints { get; } = [];

    /// <summary>The float section called <paramref name="name"/>, of exactly <paramref name="length"/> values.</summary>
    public float[] Float(string name, int length, string source)
    {
        foreach (var (n, v) in Floats)
        {
            if (n == name)
            {
                return v.Length == length ? v : throw new InvalidDataException($"{source}: section '{name}' holds {v.Length:N0} values, the run needs {length:N0}; the checkpoint belongs to another network.");
            }
        }

        throw new InvalidDataException($"{source}: the checkpoint has no section '{name}'; it belongs to another network or optimizer.");
    }

    /// <summary>The float section called <paramref name="name"/>, or null when the checkpoint has none.</summary>
    public float[]? OptionalFloat(string name) => Floats.FirstOrDefault(s => s.Name == name).Values;

    /// <summary>The integer section called <paramref name="name"/>.</summary>
    public int[] Int(string name, string source) =>
        Ints.FirstOrDefault(s => s.Name == name).Values ?? throw new InvalidDataException($"{source}: the checkpoint has no section '{name}'.");

    /// <summary>Writes the checkpoint atomically. <paramref name="wrap"/> (tests only) wraps the file stream, to
    /// simulate a crash in the middle of a write.</summary>
    public void Write(string path, Func<Stream, Stream>? wrap = null) =>
        AtomicFile.Write(path, stream =>
        {
            var target = wrap?.Invoke(stream) ?? stream;
            target.Write(ToBytes());
            target.Flush();
        });

    /// <summary>The file's bytes, hash included.</summary>
    public byte[] ToBytes()
    {
        using var buffer = new MemoryStream();
        var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true);
        writer.Write(Magic);
        writer.Write(FormatVersion);
        byte[] header = JsonSerializer.SerializeToUtf8Bytes(Header, Json);
        writer.Write(header.Length);
        writer.Write(header);
        writer.Write(Floats.Count + Ints.Count);
        foreach (var (name, values) in Floats)
        {
            WriteName(writer, name);
            writer.Write(FloatKind);
            writer.Write((long)values.Length);
            writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        }

        foreach (var (name, values) in Ints)
        {
            WriteName(writer, name);
            writer.Write(IntKind);
            writer.Write((long)values.Length);
            writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        }

        writer.Flush();
        writer.Write(SHA256.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)));
        writer.Flush();
        return buffer.ToArray();
    }

    /// <summary>Reads a checkpoint file under <paramref name="limits"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a checkpoint, is corrupt (hash mismatch), or exceeds a limit.</exception>
    public static TrainingCheckpoint Read(string path, ReaderLimits? limits = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        limits ??= ReaderLimits.Default;
        limits.Validate();
        string source = $"checkpoint '{path}'";
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        return FromBytes(limits.ReadAll(stream, source), source, limits);
    }

    /// <summary>Parses checkpoint bytes under <paramref name="limits"/>.</summary>
    public static TrainingCheckpoint FromBytes(byte[] bytes, string source, ReaderLimits limits)
    {
        if (bytes.Length < Magic.Length + 12 + HashSize || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            throw new InvalidDataException($"{source} is not a training checkpoint of MLNet.Regularization (it does not start with 'MLNRCKPT' or is too short: {bytes.Length:N0} bytes).");
        }

        var body = bytes.AsSpan(0, bytes.Length - HashSize);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - HashSize)))
        {
            throw new InvalidDataException($"{source} is corrupt: its content hash (SHA-256) does not match; it was damaged after it was written. Resume from an older checkpoint or start again.");
        }

        var cursor = new Cursor(body, source);
        cursor.Skip(Magic.Length);
        int version = cursor.Int32("format version");
        if (version != FormatVersion)
        {
            throw new InvalidDataException($"{source} has format version {version}; this version of MLNet.Regularization reads version {FormatVersion}.");
        }

        int headerLength = cursor.Length("header", limits.MaxStringLength, nameof(ReaderLimits.MaxStringLength), 1);
        CheckpointHeader header;
        try
        {
            header = JsonSerializer.Deserialize<CheckpointHeader>(cursor.Bytes(headerLength), Json)
                ?? throw new InvalidDataException($"{source}: the header is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: the header is not valid: {e.Message}", e);
        }

        var checkpoint = new TrainingCheckpoint(header);
        int sections = cursor.Length("section count", limits.MaxNodeCount, nameof(ReaderLimits.MaxNodeCount), 0);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < sections; i++)
        {
            int nameLength = cursor.Length($"the name length of section {i}", limits.MaxStringLength, nameof(ReaderLimits.MaxStringLength), 1);
            string name = Encoding.UTF8.GetString(cursor.Bytes(nameLength));
            if (!names.Add(name))
            {
                throw new InvalidDataException($"{source}: section '{ReaderLimits.Shorten(name)}' appears twice.");
            }

            byte kind = cursor.Byte();
            if (kind is not (FloatKind or IntKind))
            {
                throw new InvalidDataException($"{source}: section '{ReaderLimits.Shorten(name)}' has unknown kind {kind}.");
            }

            long count = cursor.Int64($"the length of section '{ReaderLimits.Shorten(name)}'");
            if (count < 0)
            {
                throw new InvalidDataException($"{source}: section '{ReaderLimits.Shorten(name)}' has a negative length {count}.");
            }

            ReaderLimits.Check(count, limits.MaxTensorElements, source, $"section '{ReaderLimits.Shorten(name)}' of {count:N0} values", nameof(ReaderLimits.MaxTensorElements));
            var data = cursor.Bytes(count * 4, $"section '{ReaderLimits.Shorten(name)}'");
            if (kind == FloatKind)
            {
                var values = new float[count];
                data.CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
                checkpoint.Floats.Add((name, values));
            }
            else
            {
                var values = new int[count];
                data.CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
                checkpoint.Ints.Add((name, values));
            }
        }

        if (cursor.Remaining != 0)
        {
            throw new InvalidDataException($"{source}: {cursor.Remaining:N0} bytes follow the last section.");
        }

        return checkpoint;
    }

    private static void WriteName(BinaryWriter writer, string name)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(name);
        writer.Write(bytes.Length);
        writer.Write(bytes);
    }

    /// <summary>Reads the body front to back; every length is checked against what remains before it is used.</summary>
    private ref struct Cursor(ReadOnlySpan<byte> body, string source)
    {
        private readonly ReadOnlySpan<byte> _body = body;
        private int _at;

        public readonly int Remaining => _body.Length - _at;

        public void Skip(int count) => Bytes(count);

        public byte Byte() => Bytes(1)[0];

        public int Int32(string what) => BinaryPrimitives.ReadInt32LittleEndian(Bytes(4, what));

        public long Int64(string what) => BinaryPrimitives.ReadInt64LittleEndian(Bytes(8, what));

        /// <summary>A non-negative length at least <paramref name="minimum"/> and within a named limit.</summary>
        public int Length(string what, long limit, string limitName, int minimum)
        {
            int value = Int32(what);
            if (value < minimum)
            {
                throw new InvalidDataException($"{source}: {what} is {value}.");
            }

            ReaderLimits.Check(value, limit, source, string.Create(CultureInfo.InvariantCulture, $"{what} of {value:N0}"), limitName);
            return value;
        }

        public ReadOnlySpan<byte> Bytes(long count, string? what = null)
        {
            if (count > Remaining)
            {
                throw new InvalidDataException($"{source} is truncated: {what ?? "a field"} needs {count:N0} bytes at offset {_at:N0}, {Remaining:N0} remain.");
            }

            var span = _body.Slice(_at, (int)count);
            _at += (int)count;
            return span;
        }
    }
}
