using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Benchmarks;

/// <summary>
/// `dotnet run -c Release --project tests/MLNet.Regularization.Benchmarks -- quick`: one table of GEMM GFLOP/s,
/// MLP training and inference samples/s and bytes allocated per training step, next to the PyTorch peer measured in
/// the same run when Debian's python3-torch is installed. Every rate is the best of five timed rounds after a
/// warm-up, on both sides. Options: <c>--no-peer</c> (ours only), <c>--no-gemm</c> (skip the GEMM rows),
/// <c>--only GROUP</c> (only the rows whose group starts with GROUP, such as <c>LSTM</c>, on both sides).
/// </summary>
internal static class QuickRunner
{
    private const int Rounds = 5;
    private const double RoundSeconds = 0.4;

    public static int Run(string[] args)
    {
        int threads = Environment.ProcessorCount;
        bool withPeer = !args.Contains("--no-peer");
        int only = Array.IndexOf(args, "--only");
        string? group = only >= 0 && only + 1 < args.Length ? args[only + 1] : null;
        bool Wanted(string g) => group is null || g.StartsWith(group, StringComparison.OrdinalIgnoreCase);
        var rows = new List<(string Group, string Name, double Ours, string Unit)>();
        Console.Error.WriteLine($"quick benchmark: {threads} threads, GEMM path {Gemm.ActivePath}, {RuntimeInfo()}");

        foreach (var (name, ta, tb, m, n, k) in Workloads.GemmShapes.Take(args.Contains("--no-gemm") || !Wanted("GEMM") ? 0 : 99))
        {
            var a = Random(m * k, 1);
            var b = Random(k * n, 2);
            var c = new float[m * n];
            int lda = ta ? m : k, ldb = tb ? k : n;
            double perSecond = Rate(() => Gemm.Multiply(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, c, n, threads));
            rows.Add(("GEMM", name, perSecond * 2.0 * m * n * k / 1e9, "GFLOP/s"));
        }

        foreach (string config in Workloads.MlpConfigurations.Where(_ => Wanted("MLP")))
        {
            MeasureTraining("MLP", Workloads.Mlp(config), config, Workloads.Train, threads, rows);
        }

        foreach (string config in Workloads.CnnConfigurations.Where(_ => Wanted("CNN")))
        {
            MeasureTraining("CNN", Workloads.Cnn(config), config, Workloads.Images, threads, rows);
        }

        foreach (string config in Workloads.LstmConfigurations.Where(_ => Wanted("LSTM")))
        {
            MeasureTraining("LSTM", Workloads.Lstm(config), config, Workloads.Rows, threads, rows);
        }

        foreach (int batch in Wanted("MLP") ? new[] { 1, 1024 } : [])
        {
            rows.Add(("MLP infer", $"batch {batch}", InferenceRate(Workloads.Mlp("dropout"), [784], batch), "samples/s"));
        }

        if (Wanted("CNN"))
        {
            rows.Add(("CNN infer", "batch 1024", InferenceRate(Workloads.Cnn("cnn"), [1, 28, 28], 1024), "samples/s"));
        }

        if (Wanted("LSTM"))
        {
            rows.Add(("LSTM infer", "batch 1024", InferenceRate(Workloads.Lstm("lstm"), [28, 28], 1024), "samples/s"));
        }

        Dictionary<string, double>? peer = withPeer ? PeerRunner.Run(group) : null;
        Print(rows, peer);
        return 0;
    }

    private static void MeasureTraining(string group, Network network, string config, Dataset data, int threads, List<(string, string, double, string)> rows)
    {
        var (step, batches) = Workloads.TrainingSetup(network, threads, data);
        int i = 0;
        void OneStep()
        {
            var (x, t, l) = batches[i++ % batches.Length];
            step.Forward(x, t, l, out _);
            step.Update(1e-3f);
        }

        if (group == "LSTM")
        {
            // A step takes long enough that the first measured round can still run code the tiered JIT has not
            // optimized yet; one throwaway measurement first (it made the first LSTM row read a third of the second).
            Rate(OneStep);
        }

        rows.Add(($"{group} train", config, Rate(OneStep) * Workloads.BatchSize, "samples/s"));
        const int Steps = 200;
        long before = GC.GetTotalAllocatedBytes(precise: true);
        for (int s = 0; s < Steps; s++)
        {
            OneStep();
        }

        // Read the counter before building the row: the row's label is itself an allocation.
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        rows.Add(($"{group} alloc", config, allocated / (double)Steps, "bytes/step"));
    }

    private static double InferenceRate(Network network, int[] sampleShape, int batch)
    {
        network.Build(sampleShape, 1);
        var model = new TrainedModel(network, null, new TrainingHistory([], 0, StopReason.Completed), TaskKind.Multiclass, 10, 0, null, 1, "");
        var x = new Tensor(Random(batch * sampleShape.Aggregate(1, (a, b) => a * b), 3), [batch, .. sampleShape]);
        return Rate(() => model.PredictProbabilities(x)) * batch;
    }

    /// <summary>Calls per second: best of five rounds of about 0.4 s each, after a warm-up of at least a second (so tiered JIT has promoted the hot methods).</summary>
    public static double Rate(Action action)
    {
        var clock = Stopwatch.StartNew();
        int warm = 0;
        while (warm < 3 || clock.Elapsed.TotalSeconds < 1.0)
        {
            action();
            warm++;
        }

        double perCall = clock.Elapsed.TotalSeconds / warm;
        int calls = Math.Max(1, (int)(RoundSeconds / perCall));
        double best = 0;
        for (int r = 0; r < Rounds; r++)
        {
            clock.Restart();
            for (int c = 0; c < calls; c++)
            {
                action();
            }

            best = Math.Max(best, calls / clock.Elapsed.TotalSeconds);
        }

        return best;
    }

    private static float[] Random(int length, int seed)
    {
        var values = new float[length];
        new Rng(seed).FillGaussian(values);
        return values;
    }

    private static string RuntimeInfo() =>
        $".NET {Environment.Version}, Vector512 {(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "yes" : "no")}";

    private static void Print(List<(string Group, string Name, double Ours, string Unit)> rows, Dictionary<string, double>? peer)
    {
        const string Format = "{0,-10} {1,-24} {2,14} {3,14} {4,8}  {5}";
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Format, "group", "workload", "ours", "PyTorch", "ratio", "unit"));
        Console.WriteLine(new string('-', 90));
        foreach (var (group, name, ours, unit) in rows)
        {
            string key = $"{group}/{name}";
            string theirs = "", ratio = "";
            if (peer is not null && peer.TryGetValue(key, out double p) && p > 0)
            {
                theirs = p.ToString("N1", CultureInfo.InvariantCulture);
                ratio = (ours / p).ToString("F2", CultureInfo.InvariantCulture) + "x";
            }

            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Format, group, name, ours.ToString("N1", CultureInfo.InvariantCulture), theirs, ratio, unit));
        }
    }
}

/// <summary>Runs peer/torch_peer.py (Debian python3-torch with OpenBLAS' OpenMP build) and reads its JSON.</summary>
internal static class PeerRunner
{
    public const string Python = "/usr/bin/python3";
    public const string OpenBlasOpenMp = "/usr/lib/x86_64-linux-gnu/openblas-openmp";

    public static Dictionary<string, double>? Run(string? group = null)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "peer", "torch_peer.py");
        if (!File.Exists(Python) || !File.Exists(script))
        {
            Console.Error.WriteLine("PyTorch peer: skipped (no /usr/bin/python3 or peer script).");
            return null;
        }

        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(SampleData.FindFashionMnistSmall());
        if (group is not null)
        {
            start.ArgumentList.Add(group);
        }
        if (Directory.Exists(OpenBlasOpenMp))
        {
            start.Environment["LD_LIBRARY_PATH"] = OpenBlasOpenMp;
        }

        start.Environment["OMP_NUM_THREADS"] = Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture);

        // glibc malloc keeps freed memory instead of unmapping PyTorch's large buffers after every step and
        // faulting them in again (which cost the plain MLP two thirds of its speed); see the peer script.
        start.Environment["MALLOC_MMAP_THRESHOLD_"] = "4294967296";
        start.Environment["MALLOC_TRIM_THRESHOLD_"] = "4294967296";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            Console.Error.WriteLine($"PyTorch peer failed (exit {process.ExitCode}): {stderr.Result.Trim()}");
            return null;
        }

        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Console.Error.WriteLine($"PyTorch peer: torch {root.GetProperty("torch").GetString()}, {root.GetProperty("threads").GetInt32()} threads, BLAS loaded: {string.Join(", ", root.GetProperty("blas").EnumerateArray().Select(e => e.GetString()))}; malloc: {string.Join(", ", root.GetProperty("malloc").EnumerateObject().Select(e => $"{e.Name}={e.Value.GetString()}"))}");
        var result = new Dictionary<string, double>();
        foreach (var entry in root.GetProperty("results").EnumerateObject())
        {
            result[entry.Name] = entry.Value.GetDouble();
        }

        return result;
    }
}
