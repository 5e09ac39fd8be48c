using System.IO.Compression;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Microsoft.FSharp.Core;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.Tests.Hostile;

/// <summary>
/// Fuzzing as tests (issue 15): FsCheck draws mutations (bit flips, bytes, big- and little-endian integers chosen to
/// hit limits and overflows, truncation, insertion, deletion, duplicated blocks, CSV tokens) of valid files and feeds
/// them to each loader. The property: every case ends in a loaded result or an <see cref="InvalidDataException"/>,
/// never another exception, and allocates at most 256 MB. 3,000 cases per loader per run with a fixed seed; set
/// <c>MLNET_REG_FUZZ_CASES</c> (for example to 100000) for the long run, and <c>MLNET_REG_FUZZ_SEED</c> for another
/// seed. Each test prints its counts by outcome, the largest allocation and the slowest case.
/// </summary>
public sealed class LoaderFuzzTests(ITestOutputHelper output) : IDisposable
{
    private const long MaxCaseBytes = 256L << 20;
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static int Cases => int.TryParse(Environment.GetEnvironmentVariable("MLNET_REG_FUZZ_CASES"), out int n) && n > 0 ? n : 3000;

    private static ulong Seed => ulong.TryParse(Environment.GetEnvironmentVariable("MLNET_REG_FUZZ_SEED"), out ulong s) ? s : 15;

    [Fact]
    public void Idx_loader_gives_a_dataset_or_a_named_error_within_bounded_memory()
    {
        string images = _folder.File("images.idx"), labels = _folder.File("labels.idx");
        var pixels = new byte[12 * 5 * 4];
        new Random(1).NextBytes(pixels);
        byte[] labelBytes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1];
        IdxWriter.WriteImages(images, pixels, 5, 4, gzip: false);
        IdxWriter.WriteLabels(labels, labelBytes, gzip: false);
        byte[] imagesRaw = File.ReadAllBytes(images), labelsRaw = File.ReadAllBytes(labels);

        // Seeds 0, 1: the image file (raw, gzip); 2, 3: the label file. The other file stays valid.
        byte[][] seeds = [imagesRaw, Gzip(imagesRaw), labelsRaw, Gzip(labelsRaw)];
        string mutatedImages = _folder.File("fuzz-images.idx"), mutatedLabels = _folder.File("fuzz-labels.idx");
        File.WriteAllBytes(mutatedImages, imagesRaw);
        File.WriteAllBytes(mutatedLabels, labelsRaw);
        Fuzz("IDX", seeds, (input, seed) =>
        {
            File.WriteAllBytes(seed < 2 ? mutatedImages : mutatedLabels, input);
            File.WriteAllBytes(seed < 2 ? mutatedLabels : mutatedImages, seed < 2 ? labelsRaw : imagesRaw);
            var data = IdxReader.LoadDataset(mutatedImages, mutatedLabels, asImages: seed % 2 == 0);
            Assert.True(data.Count > 0);
        });
    }

    [Fact]
    public void Csv_loader_gives_a_dataset_or_a_named_error_within_bounded_memory()
    {
        var integers = new StringBuilder("a,b,c,label\n");
        var names = new StringBuilder("id;x;y;label\n");
        for (int i = 0; i < 12; i++)
        {
            integers.Append(FormattableString.Invariant($"{i * 0.5},{-i},{i * 1e-3},{i % 3}\n"));
            names.Append(FormattableString.Invariant($"\"r{i}\";{i}.25;\"{i}e1\";{(i % 2 == 0 ? "cat" : "\"dog; \"\"big\"\"\"")}\n"));
        }

        byte[][] seeds = [Encoding.UTF8.GetBytes(integers.ToString()), Encoding.UTF8.GetBytes(names.ToString())];
        string path = _folder.File("fuzz.csv");
        Fuzz("CSV", seeds, (input, seed) =>
        {
            File.WriteAllBytes(path, input);
            var data = CsvReader.Load(path, "label", seed == 0 ? null : new CsvOptions { Separator = ';', IgnoreColumns = ["id"] });
            Assert.True(data.Count > 0);
        }, allowed: e => e is InvalidDataException or ArgumentException { ParamName: "labelColumn" or "IgnoreColumns" }); // a mutated header lost a column the caller named
    }

    [Fact]
    public void Onnx_importer_gives_a_working_model_or_a_named_error_within_bounded_memory()
    {
        var blobs = TestData.Blobs(24, 6, 3, 1);
        var images = TestData.Blobs(12, 36, 3, 2).Reshape(1, 6, 6);
        var binary = Dataset.ForBinary(blobs.Features.Data, [6], blobs.Labels!.Select(l => l % 2).ToArray());
        var quick = new TrainerOptions { Epochs = 1, BatchSize = 8, Normalization = NormalizationKind.Standard };
        byte[][] seeds =
        [
            OnnxExporter.ExportToBytes(new Trainer(quick).Fit(Network.Sequential(new Dense(5), new ReLU(), new Dropout(0.2f), new Dense(3)), blobs)),
            OnnxExporter.ExportToBytes(new Trainer(quick).Fit(Network.Sequential(new Dense(5), new BatchNorm(), new Tanh(), new Dense(3)), blobs), new OnnxExportOptions { FoldBatchNorm = false }),
            OnnxExporter.ExportToBytes(new Trainer(quick).Fit(Network.Sequential(new Dense(4), new GELU(), new DropConnectDense(3, 0.3f)), blobs), new OnnxExportOptions { MonteCarlo = true }),
            OnnxExporter.ExportToBytes(new Trainer(new TrainerOptions { Epochs = 1, BatchSize = 6 }).Fit(
                Network.Sequential(new Conv2D(2, 3, padding: Padding2D.Same), new ReLU(), new MaxPool2D(2), new Flatten(), new Dense(3)), images)),
            OnnxExporter.ExportToBytes(new Trainer(quick).Fit(Network.Sequential(new Dense(4), new LeakyReLU(0.1f), new Dense(1)), binary)),
        ];
        Fuzz("ONNX", seeds, (input, _) =>
        {
            var model = OnnxImporter.Load(input);
            // A model that loads must predict: run one example through it when its activations are small (a mutated
            // but valid model may legitimately be large; its size is checked against ReaderLimits, not run here).
            var layers = model.InferenceNetwork.Layers;
            if (layers.All(l => l.OutputShape.ToArray().Aggregate(1L, (a, b) => a * b) <= 100_000) && model.InputShape.Aggregate(1L, (a, b) => a * b) <= 100_000)
            {
                model.PredictRaw(new Tensor([1, .. model.InputShape]));
            }
        });
    }

    [Fact]
    public void Checkpoint_reader_resumes_or_gives_a_named_error_within_bounded_memory()
    {
        var data = TestData.Blobs(30, 4, 3, 3);
        Network Net() => Network.Sequential(new Dense(6), new BatchNorm(), new ReLU(), new Dropout(0.2f), new Dense(3));
        string checkpoint = _folder.File("seed.ckpt");
        TrainerOptions Options() => new() { Epochs = 2, BatchSize = 10, CheckpointPath = checkpoint };
        using (var cancel = new CancellationTokenSource())
        {
            new Trainer(Options()) { AfterBatch = (_, batch, _) => { if (batch == 2) cancel.Cancel(); } }.Fit(Net(), data, cancellationToken: cancel.Token);
        }

        byte[] valid = File.ReadAllBytes(checkpoint);

        // Seed 0: as written (most mutations break the content hash); seed 1: the same bytes, but each mutated file is
        // sealed again with a fresh hash, so the mutation reaches the parser and the run's checks.
        byte[][] seeds = [valid, valid];
        string path = _folder.File("fuzz.ckpt");
        Fuzz("checkpoint", seeds, (input, seed) =>
        {
            File.WriteAllBytes(path, seed == 1 ? Reseal(input) : input);
            new Trainer(Options()).Resume(path, Net(), data);
        }, allowed: e => e is InvalidDataException or TrainingDivergedException // resealed extreme (finite) weights may diverge
            || (e is ArgumentException { ParamName: null } && e.Message.Contains("was written for other", StringComparison.Ordinal))); // a checkpoint of another run
    }

    /// <summary>Runs the property over <see cref="Cases"/> mutated inputs and prints the statistics.</summary>
    private void Fuzz(string loader, byte[][] seeds, Action<byte[], int> load, Func<Exception, bool>? allowed = null)
    {
        allowed ??= e => e is InvalidDataException;
        var stats = new FuzzStatistics(loader);
        var cases =
            from seed in Gen.Choose(0, seeds.Length - 1)
            from count in Gen.Choose(1, 6)
            from mutations in Gen.ArrayOf(Mutation.Generator, count)
            select new FuzzCase(seed, mutations);
        var property = Prop.ForAll(Arb.From(cases), c => stats.Run(c, Mutation.Apply(seeds[c.Seed], c.Mutations), load, allowed));
        var config = Config.QuickThrowOnFailure.WithMaxTest(Cases).WithQuietOnSuccess(true)
            .WithReplay(FSharpOption<Replay>.Some(new Replay(new Rnd(Seed, 0x9E3779B97F4A7C15UL), FSharpOption<int>.None)));
        try
        {
            Check.One(config, property);
        }
        finally
        {
            string report = stats.Report();
            output.WriteLine(report);
            if (Environment.GetEnvironmentVariable("MLNET_REG_FUZZ_REPORT") is { Length: > 0 } file)
            {
                lock (ReportLock)
                {
                    File.AppendAllText(file, report + Environment.NewLine);
                }
            }
        }

        Assert.Equal(Cases, stats.Total);
    }

    private static readonly object ReportLock = new();

    private static byte[] Gzip(byte[] bytes)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest))
        {
            gzip.Write(bytes);
        }

        return buffer.ToArray();
    }

    /// <summary>Replaces the last 32 bytes with the SHA-256 of the rest (what the checkpoint writer appends).</summary>
    private static byte[] Reseal(byte[] bytes)
    {
        if (bytes.Length < 32)
        {
            return bytes;
        }

        var copy = (byte[])bytes.Clone();
        System.Security.Cryptography.SHA256.HashData(copy.AsSpan(0, copy.Length - 32)).CopyTo(copy, copy.Length - 32);
        return copy;
    }

    /// <summary>Which seed file, and what to do to it.</summary>
    public sealed record FuzzCase(int Seed, Mutation[] Mutations)
    {
        public override string ToString() => $"seed {Seed}: {string.Join("; ", Mutations.Select(m => m.ToString()))}";
    }

    /// <summary>One edit of a file. Positions are fractions of the current length, so one mutation fits every seed.</summary>
    public sealed record Mutation(int Kind, double Position, int Value, int Length)
    {
        private static readonly int[] Integers = [0, 1, -1, 2, 127, 128, 255, 256, 65535, 65536, 1 << 20, (1 << 28) - 1, 1 << 28, (1 << 28) + 1, 100_000_000, 2_000_000_000, int.MaxValue, int.MinValue, int.MaxValue - 7];

        private static readonly string[] Tokens = [",", ";", "\n", "\r\n", "\"", "\"\"", "abc", "NaN", "-Infinity", "1e39", "-0", "999999999", "2147483647", "-1", " ", "\t", "0.5", "1,5", "\u00e9", "\0"];

        public static Gen<Mutation> Generator { get; } =
            from kind in Gen.Choose(0, 8)
            from position in Gen.Choose(0, 1_000_000)
            from value in Gen.Choose(0, int.MaxValue)
            from length in Gen.Frequency((4, Gen.Choose(1, 16)), (1, Gen.Choose(17, 4096)))
            select new Mutation(kind, position / 1_000_000.0, value, length);

        public static byte[] Apply(byte[] seed, Mutation[] mutations)
        {
            var bytes = new List<byte>(seed);
            foreach (var m in mutations)
            {
                m.ApplyTo(bytes);
            }

            return bytes.ToArray();
        }

        public override string ToString() => Kind switch
        {
            0 => $"flip bit {Value & 7} at {Position:P1}",
            1 => $"byte 0x{Value & 0xFF:X2} at {Position:P1}",
            2 => $"int32 BE {Integers[Value % Integers.Length]} at {Position:P1}",
            3 => $"int32 LE {Integers[Value % Integers.Length]} at {Position:P1}",
            4 => $"truncate at {Position:P1}",
            5 => $"insert {Length} bytes at {Position:P1}",
            6 => $"delete {Length} bytes at {Position:P1}",
            7 => $"duplicate {Length} bytes at {Position:P1}",
            _ => $"insert token {Tokens[Value % Tokens.Length].Replace("\n", "\\n", StringComparison.Ordinal)} at {Position:P1}",
        };

        private void ApplyTo(List<byte> bytes)
        {
            int at = (int)(Position * bytes.Count);
            bool inside = at < bytes.Count;
            switch (Kind)
            {
                case 0 when inside:
                    bytes[at] ^= (byte)(1 << (Value & 7));
                    break;
                case 1 when inside:
                    bytes[at] = (byte)Value;
                    break;
                case 2 or 3:
                    int v = Integers[Value % Integers.Length];
                    var four = BitConverter.GetBytes(v);
                    if (Kind == 2)
                    {
                        Array.Reverse(four);
                    }

                    for (int i = 0; i < 4 && at + i < bytes.Count; i++)
                    {
                        bytes[at + i] = four[i];
                    }

                    break;
                case 4:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                case 5:
                    var random = new byte[Length];
                    new Random(Value).NextBytes(random);
                    bytes.InsertRange(at, random);
                    break;
                case 6:
                    bytes.RemoveRange(at, Math.Min(Length, bytes.Count - at));
                    break;
                case 7:
                    bytes.InsertRange(at, bytes.GetRange(at, Math.Min(Length, bytes.Count - at)));
                    break;
                case 8:
                    bytes.InsertRange(at, Encoding.UTF8.GetBytes(Tokens[Value % Tokens.Length]));
                    break;
            }
        }
    }

    /// <summary>Outcomes by type, the largest allocation and the slowest case of one loader's run.</summary>
    private sealed class FuzzStatistics(string loader)
    {
        private readonly SortedDictionary<string, int> _outcomes = new(StringComparer.Ordinal);
        private long _largestAllocation;
        private string _largestCase = "";
        private double _slowestMs;
        private string _slowestCase = "";
        private string? _firstUnexpected;

        public int Total { get; private set; }

        public bool Run(FuzzCase c, byte[] input, Action<byte[], int> load, Func<Exception, bool> allowed)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            string outcome;
            bool ok;
            try
            {
                load(input, c.Seed);
                (outcome, ok) = ("loaded", true);
            }
            catch (Exception e)
            {
                (outcome, ok) = (e.GetType().Name, allowed(e));
                if (!ok)
                {
                    _firstUnexpected ??= $"{c} ({input.Length} bytes): {e}";
                }
            }

            double ms = clock.Elapsed.TotalMilliseconds;
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Total++;
            _outcomes[outcome] = _outcomes.GetValueOrDefault(outcome) + 1;
            if (allocated > _largestAllocation)
            {
                (_largestAllocation, _largestCase) = (allocated, $"{c} ({input.Length} bytes) -> {outcome}");
            }

            if (ms > _slowestMs)
            {
                (_slowestMs, _slowestCase) = (ms, $"{c} ({input.Length} bytes) -> {outcome}");
            }

            return ok && allocated <= MaxCaseBytes;
        }

        public string Report()
        {
            var process = System.Diagnostics.Process.GetCurrentProcess();
            return $"{loader}: {Total:N0} cases: {string.Join(", ", _outcomes.Select(o => $"{o.Key} {o.Value:N0}"))}\n"
                + $"  largest allocation {_largestAllocation / 1048576.0:F2} MB ({_largestCase})\n"
                + $"  slowest {_slowestMs:F1} ms ({_slowestCase})\n"
                + $"  process peak working set {process.PeakWorkingSet64 / 1048576.0:F0} MB"
                + (_firstUnexpected is null ? "" : $"\n  first unexpected exception: {_firstUnexpected}");
        }
    }
}
