using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.MLNet;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Benchmarks;

/// <summary>
/// `dotnet run -c Release --project tests/MLNet.Regularization.Benchmarks -- streaming [--data DIR] [--epochs E] [--rounds R] [--threads N]`:
/// training throughput and peak working set when the training data is streamed (issue 18) against training on it in
/// memory, on full Fashion-MNIST (60,000 images; DIR defaults to /work/shared/data/fashion-mnist). Each case runs in a
/// process of its own (so its peak working set is its own): in memory (the IDX file loaded as floats), the binary
/// cache (bytes, memory-mapped, read by index), an IDataView of rows in memory (LoadFromEnumerable) and an IDataView
/// read from an ML.NET binary file (LoadFromBinary), both read through row cursors and a shuffle buffer. The network
/// is the quick runner's 784-128-10 ReLU MLP with dropout 0.5, batch 128, standard normalization, all cores. Samples/s
/// counts the epochs' training time (what the prefetch must keep fed); the fit time adds the normalizer's passes; the
/// read pass is one cursor pass over the examples without training (what reading alone costs). The
/// cases alternate for R rounds and each reports its best round; compare ratios within one run. <c>--only a,b</c> runs
/// some of the cases; <c>--work DIR</c> keeps the prepared files there for the next run; <c>--threads N</c> trains on N
/// threads (default all cores; with one core left free the prefetch thread reads beside training instead of taking
/// turns with it).
/// </summary>
internal static class StreamingRunner
{
    private static readonly string[] Cases = ["memory", "cache", "dataview", "dataview-file"];

    public static int Run(string[] args)
    {
        string data = Value(args, "--data") ?? "/work/shared/data/fashion-mnist";
        int epochs = int.Parse(Value(args, "--epochs") ?? "3", CultureInfo.InvariantCulture);
        if (Value(args, "--case") is { } one)
        {
            return Child(one, data, epochs, Value(args, "--work")!, args);
        }

        int rounds = int.Parse(Value(args, "--rounds") ?? "2", CultureInfo.InvariantCulture);
        int threads = int.Parse(Value(args, "--threads") ?? Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        string? kept = Value(args, "--work"); // a folder kept for further runs (the cache and binary file are reused)
        string work = kept ?? Path.Combine(Path.GetTempPath(), "mlnetreg-streaming-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        var cases = Value(args, "--only") is { } only ? only.Split(',') : Cases;
        try
        {
            if (!File.Exists(Path.Combine(work, "train.idv")))
            {
                Prepare(data, work);
            }

            Console.Error.WriteLine($"streaming benchmark: {threads} training threads of {Environment.ProcessorCount} cores, GEMM path {Gemm.ActivePath}, {epochs} epochs, {rounds} rounds, load {File.ReadAllText("/proc/loadavg").Trim()}");
            var best = cases.ToDictionary(c => c, _ => (Rate: 0.0, Fit: double.MaxValue, PeakMb: 0.0, Accuracy: 0.0, ReadPass: double.MaxValue));
            for (int round = 0; round < rounds; round++)
            {
                foreach (string c in cases)
                {
                    var (rate, fit, peak, accuracy, readPass) = RunChild(c, data, epochs, work, threads);
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  round {round + 1} {c}: {rate:N0} samples/s, fit {fit:F1} s, peak {peak:N0} MB, read pass {readPass:F2} s"));
                    var b = best[c];
                    best[c] = (Math.Max(b.Rate, rate), Math.Min(b.Fit, fit), Math.Max(b.PeakMb, peak), accuracy, Math.Min(b.ReadPass, readPass));
                }
            }

            Console.WriteLine($"Streaming: 784-128-10 MLP, dropout 0.5, {threads} training threads, {epochs} epochs of 60,000 Fashion-MNIST images, best of {rounds} rounds; load after: {File.ReadAllText("/proc/loadavg").Trim()}");
            const string Row = "{0,-40} {1,12} {2,10} {3,10} {4,16} {5,10} {6,14}";
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, "source", "samples/s", "vs memory", "fit (s)", "peak working set", "test acc", "read pass (s)"));
            double memory = best.TryGetValue("memory", out var m) ? m.Rate : double.NaN;
            foreach (string c in cases)
            {
                var b = best[c];
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Row, Describe(c), b.Rate.ToString("N0", CultureInfo.InvariantCulture),
                    (b.Rate / memory).ToString("P0", CultureInfo.InvariantCulture), b.Fit.ToString("F1", CultureInfo.InvariantCulture),
                    b.PeakMb.ToString("N0", CultureInfo.InvariantCulture) + " MB", b.Accuracy.ToString("F4", CultureInfo.InvariantCulture),
                    b.ReadPass.ToString("F2", CultureInfo.InvariantCulture)));
            }

            return 0;
        }
        finally
        {
            if (kept is null)
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    private static string Describe(string c) => c switch
    {
        "memory" => "in memory (floats)",
        "cache" => "binary cache (bytes, mapped, by index)",
        "dataview" => "IDataView (LoadFromEnumerable)",
        _ => "IDataView (LoadFromBinary file)",
    };

    /// <summary>The cache and the ML.NET binary file, written once before the timed runs.</summary>
    private static void Prepare(string data, string work)
    {
        using (var idx = IdxSource.Open(Path.Combine(data, "train-images-idx3-ubyte.gz"), Path.Combine(data, "train-labels-idx1-ubyte.gz")))
        {
            ExampleCache.Create(idx, Path.Combine(work, "train.cache")).Dispose();
        }

        var ml = new MLContext(seed: 1);
        using var file = File.Create(Path.Combine(work, "train.idv"));
        ml.Data.SaveAsBinary(Keyed(ml, ml.Data.LoadFromEnumerable(Rows(Train(data)))), file, keepHidden: false);
    }

    private static Dataset Train(string data) =>
        IdxReader.LoadDataset(Path.Combine(data, "train-images-idx3-ubyte.gz"), Path.Combine(data, "train-labels-idx1-ubyte.gz"));

    /// <summary>A row of the IDataView cases: 784 pixels and the class.</summary>
    private sealed class ImageRow
    {
        [VectorType(784)] public float[] Features { get; set; } = [];

        public uint Label { get; set; }
    }

    private static IEnumerable<ImageRow> Rows(Dataset data)
    {
        var x = data.Features.Data;
        for (int i = 0; i < data.Count; i++)
        {
            yield return new ImageRow { Features = x.AsSpan(i * 784, 784).ToArray(), Label = (uint)data.Labels![i] };
        }
    }

    private static IDataView Keyed(MLContext ml, IDataView view) =>
        ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: Microsoft.ML.Transforms.ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(view).Transform(view);

    private static (double Rate, double Fit, double PeakMb, double Accuracy, double ReadPass) RunChild(string c, string data, int epochs, string work, int threads)
    {
        var info = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            info.ArgumentList.Add(typeof(StreamingRunner).Assembly.Location);
        }

        foreach (string a in new[] { "streaming", "--case", c, "--data", data, "--epochs", epochs.ToString(CultureInfo.InvariantCulture), "--work", work, "--threads", threads.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(a);
        }

        using var child = Process.Start(info)!;
        string output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        if (child.ExitCode != 0)
        {
            throw new InvalidOperationException($"case {c} failed with exit code {child.ExitCode}: {output}");
        }

        var parts = output.Trim().Split(' ').Select(p => double.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        return (parts[0], parts[1], parts[2], parts[3], parts[4]);
    }

    /// <summary>One case in this process: prints samples/s, fit seconds, peak working set (MB) and test accuracy.</summary>
    private static int Child(string c, string data, int epochs, string work, string[] args)
    {
        int threads = int.Parse(Value(args, "--threads") ?? Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var options = new TrainerOptions { MaxThreads = threads, Epochs = epochs, BatchSize = 128, Seed = 1, Normalization = NormalizationKind.Standard, Optimizer = new Adam { LearningRate = 0.001f } };
        var network = Network.Sequential(new Dense(128), new ReLU(), new Dropout(0.5f), new Dense(10));
        var ml = new MLContext(seed: 1);
        var clock = Stopwatch.StartNew();
        TrainedModel model;
        double readPass;
        switch (c)
        {
            case "memory":
                var train = Train(data);
                using (var memory = new DatasetSource(train))
                {
                    readPass = ReadPass(memory);
                }

                clock.Restart();
                model = new Trainer(options).Fit(network, train);
                break;
            case "cache":
                using (var cache = ExampleCache.Open(Path.Combine(work, "train.cache")))
                {
                    readPass = ReadPass(cache);
                    clock.Restart();
                    model = new Trainer(options).Fit(network, cache);
                }

                break;
            default:
                IDataView view = c == "dataview"
                    ? Keyed(ml, ml.Data.LoadFromEnumerable(Rows(Train(data)).ToList()))
                    : ml.Data.LoadFromBinary(Path.Combine(work, "train.idv"));
                clock.Restart();
                using (var source = DataViewSource.Create(view, "Features", "Label", TaskKind.Multiclass, [784]))
                {
                    readPass = ReadPass(source);
                    clock.Restart();
                    model = new Trainer(options).Fit(network, source);
                }

                break;
        }

        double fit = clock.Elapsed.TotalSeconds;
        double trainSeconds = model.History.Epochs.Sum(e => e.Seconds);
        double rate = (double)epochs * 60_000 / trainSeconds;
        double peak = Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
        var test = IdxReader.LoadDataset(Path.Combine(data, "t10k-images-idx3-ubyte.gz"), Path.Combine(data, "t10k-labels-idx1-ubyte.gz"));
        double accuracy = Metrics.Evaluate(model, test).Accuracy;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{rate:F1} {fit:F3} {peak:F1} {accuracy:F4} {readPass:F3}"));
        return 0;
    }

    /// <summary>Seconds of one pass that only reads every example through a cursor (what a pass costs without training).</summary>
    private static double ReadPass(ExampleSource source)
    {
        var row = new byte[source.RowBytes];
        var clock = Stopwatch.StartNew();
        using var cursor = source.OpenCursor();
        while (cursor.MoveNext(row))
        {
        }

        return clock.Elapsed.TotalSeconds;
    }

    private static string? Value(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
