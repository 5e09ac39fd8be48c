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
/// <c>--only GROUP</c> (only the rows whose group starts with GROUP, such as <c>LSTM</c>, on both sides),
/// <c>--path Vector256</c> (run every GEMM on that kernel path, as on a machine without the wider vectors;
/// <c>DOTNET_EnableAVX512=0</c> in the environment (.NET 10's name) goes further and hides AVX-512 from the whole
/// runtime, so the JIT also has only the 16 ymm registers of an AVX2 machine).
/// The header names the CPU, its caches and the peak FLOP/s assumed, and each GEMM row gives its share of that
/// peak; the batch-1 inference rows are also measured against ONNX Runtime in process on the same exported model.
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
        int pathOption = Array.IndexOf(args, "--path");
        if (pathOption >= 0)
        {
            if (pathOption + 1 >= args.Length || !Enum.TryParse(args[pathOption + 1], out GemmPath forced) || forced == GemmPath.Auto)
            {
                Console.Error.WriteLine("--path needs one of Vector512, Vector256, Vector128, Scalar.");
                return 2;
            }

            Gemm.ProcessPath = forced;
        }

        var rows = new List<Row>();
        PrintMachine(threads);

        foreach (var (name, ta, tb, m, n, k) in Workloads.GemmShapes.Take(args.Contains("--no-gemm") || !Wanted("GEMM") ? 0 : 99))
        {
            var a = Random(m * k, 1);
            var b = Random(k * n, 2);
            var c = new float[m * n];
            int lda = ta ? m : k, ldb = tb ? k : n;
            double perSecond = Rate(() => Gemm.Multiply(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, c, n, threads));
            rows.Add(new("GEMM", name, perSecond * 2.0 * m * n * k / 1e9, "GFLOP/s"));
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
            rows.Add(new("MLP infer", $"batch {batch}", InferenceRate(Workloads.Mlp("dropout"), [784], batch), "samples/s"));
        }

        if (Wanted("MLP") || Wanted("ORT"))
        {
            OrtComparison.Measure(threads, rows);
        }

        if (Wanted("CNN"))
        {
            rows.Add(new("CNN infer", "batch 1024", InferenceRate(Workloads.Cnn("cnn"), [1, 28, 28], 1024), "samples/s"));
        }

        if (Wanted("LSTM"))
        {
            rows.Add(new("LSTM infer", "batch 1024", InferenceRate(Workloads.Lstm("lstm"), [28, 28], 1024), "samples/s"));
        }

        if (Wanted("ML.NET"))
        {
            MlNetScoring.Measure(rows);
        }

        Dictionary<string, double>? peer = withPeer ? PeerRunner.Run(group) : null;
        Print(rows, peer);
        return 0;
    }

    private static void MeasureTraining(string group, Network network, string config, Dataset data, int threads, List<Row> rows)
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

        rows.Add(new($"{group} train", config, Rate(OneStep) * Workloads.BatchSize, "samples/s"));
        const int Steps = 200;
        long before = GC.GetTotalAllocatedBytes(precise: true);
        for (int s = 0; s < Steps; s++)
        {
            OneStep();
        }

        // Read the counter before building the row: the row's label is itself an allocation.
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        rows.Add(new($"{group} alloc", config, allocated / (double)Steps, "bytes/step"));
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

    /// <summary>Peak FLOP/s of the threads the runner uses on the active path: one core's measured peak
    /// (<see cref="FmaPeak"/>) times the threads.</summary>
    private static double PeakFlops(int threads) => FmaPeak.PerCore(Gemm.ActivePath) * threads;

    private static void PrintMachine(int threads)
    {
        var caches = MachineInfo.Caches;
        var (perCore, assumption) = MachineInfo.PeakPerCore(Gemm.ActivePath);
        string forced = Gemm.ProcessPath == GemmPath.Auto ? "automatic" : $"forced with --path {Gemm.ProcessPath}";
        Console.Error.WriteLine($"quick benchmark: {threads} threads, GEMM path {Gemm.ActivePath} ({forced}), {RuntimeInfo()}");
        Console.Error.WriteLine($"CPU: {MachineInfo.CpuModel}; caches ({caches.Source}): L1d {caches.L1 / 1024} KB, L2 {caches.L2 / 1024} KB, L3 {caches.L3 / (1024 * 1024)} MB");
        Console.Error.WriteLine($"GEMM blocking on this path: {Gemm.DescribeBlocking(Gemm.ActivePath)}");
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"peak from the nominal clock: {perCore / 1e9:F1} GFLOP/s per core = {assumption}"));
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"measured peak (register-only FMA chains, 1 thread): {FmaPeak.PerCore(Gemm.ActivePath) / 1e9:F1} GFLOP/s per core; {threads} threads: {PeakFlops(threads) / 1e9:F1} GFLOP/s = 100 % in the ours/peak column"));
    }

    private static void Print(List<Row> rows, Dictionary<string, double>? peer)
    {
        const string Format = "{0,-10} {1,-30} {2,12} {3,12} {4,7} {5,10}  {6,-10} {7}";
        double peak = PeakFlops(Environment.ProcessorCount) / 1e9;
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Format, "group", "workload", "ours", "peer", "ratio", "ours/peak", "unit", "peer is"));
        Console.WriteLine(new string('-', 112));
        foreach (var row in rows)
        {
            double? p = row.Peer;
            string peerName = row.PeerName ?? "PyTorch";
            if (p is null && peer is not null && peer.TryGetValue($"{row.Group}/{row.Name}", out double torch) && torch > 0)
            {
                p = torch;
            }

            string theirs = p is double v ? v.ToString("N1", CultureInfo.InvariantCulture) : "";
            string ratio = p is double w && w > 0 ? (row.Ours / w).ToString("F2", CultureInfo.InvariantCulture) + "x" : "";
            string share = row.Unit == "GFLOP/s" ? (row.Ours / peak).ToString("P0", CultureInfo.InvariantCulture) : "";
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Format,
                row.Group, row.Name, row.Ours.ToString("N1", CultureInfo.InvariantCulture), theirs, ratio, share, row.Unit, p is null ? "" : peerName));
        }
    }
}

/// <summary>One line of the quick table; <paramref name="Peer"/> is set for rows measured against another peer than
/// PyTorch (named by <paramref name="PeerName"/>).</summary>
internal sealed record Row(string Group, string Name, double Ours, string Unit, double? Peer = null, string? PeerName = null);

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
