using System.Diagnostics;
using System.Globalization;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Benchmarks;

/// <summary>
/// `dotnet run -c Release --project tests/MLNet.Regularization.Benchmarks -- profile [--inference] [workload ...]`: where one
/// training step's time and heap allocation go, layer by layer (forward and backward), plus the loss and the optimizer. Workloads
/// are the quick runner's MLP and CNN configurations (default: every one). The step is cut the same way as
/// <see cref="TrainingStep"/> runs it, so the parts add up to the step the quick runner times. With
/// <c>--inference</c>: an inference-mode forward pass of 1,024 examples instead. <c>--threads N</c> runs on N threads
/// (default: every core); <c>--cpu</c> (with <c>--threads 1</c>, Linux) times each piece by the thread's CPU time instead
/// of the wall clock, which on a shared machine compares two builds far more steadily.
/// </summary>
internal static class ProfileRunner
{
    private const int Steps = 200;

    private static int s_threads = Environment.ProcessorCount;
    private static bool s_cpuClock;

    public static int Run(string[] args)
    {
        bool inference = args.Contains("--inference");
        s_cpuClock = args.Contains("--cpu");
        int threadsOption = Array.IndexOf(args, "--threads");
        if (threadsOption >= 0)
        {
            if (threadsOption + 1 >= args.Length || !int.TryParse(args[threadsOption + 1], out s_threads) || s_threads < 1)
            {
                Console.Error.WriteLine("--threads needs a positive number.");
                return 2;
            }
        }

        if (s_cpuClock && (s_threads != 1 || !OperatingSystem.IsLinux()))
        {
            Console.Error.WriteLine("--cpu times the calling thread's CPU time: it needs --threads 1, on Linux.");
            return 2;
        }

        var names = args.Where((a, i) => a is not ("--inference" or "--cpu" or "--threads") && (threadsOption < 0 || i != threadsOption + 1)).ToArray();
        if (names.Length == 0)
        {
            names = [.. Workloads.MlpConfigurations, .. Workloads.CnnConfigurations, .. Workloads.LstmConfigurations];
        }

        foreach (string name in names)
        {
            bool cnn = Workloads.CnnConfigurations.Contains(name), lstm = Workloads.LstmConfigurations.Contains(name);
            if (!cnn && !lstm && !Workloads.MlpConfigurations.Contains(name))
            {
                Console.Error.WriteLine($"unknown workload '{name}'; known: {string.Join(", ", Workloads.MlpConfigurations.Concat(Workloads.CnnConfigurations).Concat(Workloads.LstmConfigurations))}.");
                return 2;
            }

            var network = cnn ? Workloads.Cnn(name) : lstm ? Workloads.Lstm(name) : Workloads.Mlp(name);
            if (inference)
            {
                ProfileInference(name, network, cnn ? [1, 28, 28] : lstm ? [28, 28] : [784]);
            }
            else
            {
                Profile(name, network, cnn ? Workloads.Images : lstm ? Workloads.Rows : Workloads.Train);
            }
        }

        return 0;
    }

    /// <summary>Inference-mode forward of a batch of 1,024, layer by layer (the network as built, not folded).</summary>
    private static void ProfileInference(string name, Network network, int[] sampleShape)
    {
        const int Batch = 1024, Passes = 20;
        network.Build(sampleShape, 1);
        var x = new Tensors.Tensor([Batch, .. sampleShape]);
        new Tensors.Rng(3).FillGaussian(x.Span);
        var ctx = new ForwardContext(ForwardMode.Inference, null, s_threads);
        var layers = network.Layers;
        var forward = new long[layers.Count];
        for (int pass = -5; pass < Passes; pass++)
        {
            var h = x;
            for (int i = 0; i < layers.Count; i++)
            {
                long start = Now();
                h = layers[i].Forward(h, ctx);
                if (pass >= 0)
                {
                    forward[i] += Now() - start;
                }
            }
        }

        double total = forward.Sum() * 1000.0 / Frequency / Passes;
        Console.WriteLine($"{name}, inference: {total:F3} ms per batch of {Batch} ({Batch / total * 1000:N0} samples/s)");
        for (int i = 0; i < layers.Count; i++)
        {
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "  {0,-28} {1,10:F3}", $"{i}:{layers[i].Name}", forward[i] * 1000.0 / Frequency / Passes));
        }
    }

    private static long Allocated() => GC.GetTotalAllocatedBytes(precise: true);

    /// <summary>Ticks per second of <see cref="Now"/>.</summary>
    private static double Frequency => s_cpuClock ? 1e9 : Stopwatch.Frequency;

    /// <summary>The wall clock, or with <c>--cpu</c> this thread's CPU time in nanoseconds.</summary>
    private static long Now() => s_cpuClock ? ThreadCpu.Nanoseconds() : Stopwatch.GetTimestamp();

    private static void Profile(string name, Network network, Data.Dataset data)
    {
        var (step, batches) = Workloads.TrainingSetup(network, s_threads, data);
        var layers = network.Layers;
        var forward = new long[layers.Count];
        var backward = new long[layers.Count];
        long loss = 0, update = 0;
        var ctx = step.Context;
        long clock = 0;

        var forwardBytes = new long[layers.Count];
        var backwardBytes = new long[layers.Count];
        long lossBytes = 0, updateBytes = 0;

        // Warm-up through the real step (tiered JIT), then time the same work piece by piece.
        for (int s = 0; s < 30; s++)
        {
            var (x, t, l) = batches[s % batches.Length];
            step.Forward(x, t, l, out _);
            step.Update(1e-3f);
        }

        long totalStart = Now();
        for (int s = 0; s < Steps; s++)
        {
            var (x, t, l) = batches[s % batches.Length];
            var h = x;
            for (int i = 0; i < layers.Count; i++)
            {
                long bytes = Allocated();
                clock = Now();
                h = layers[i].Forward(h, ctx);
                forward[i] += Now() - clock;
                forwardBytes[i] += Allocated() - bytes;
            }

            long lossStart = Allocated();
            clock = Now();
            step.Loss(h, t, l, out _);
            var dy = step.OutputGradient;
            loss += Now() - clock;
            lossBytes += Allocated() - lossStart;
            for (int i = layers.Count - 1; i >= network.FirstLearningLayer; i--)
            {
                long bytes = Allocated();
                clock = Now();
                dy = layers[i].Backward(dy, ctx);
                backward[i] += Now() - clock;
                backwardBytes[i] += Allocated() - bytes;
            }

            long updateStart = Allocated();
            clock = Now();
            step.ApplyGradients(1e-3f);
            update += Now() - clock;
            updateBytes += Allocated() - updateStart;
        }

        double Ms(long ticks) => ticks * 1000.0 / Frequency / Steps;
        double perStep = Ms(Now() - totalStart); // includes the allocation probes (about a microsecond each)
        Console.WriteLine($"{name}: {perStep:F3} {(s_cpuClock ? "CPU " : "")}ms per step of {Workloads.BatchSize} ({Workloads.BatchSize / perStep * 1000:N0} samples/s)");
        const string Format = "  {0,-28} {1,10:F3} {2,10:F3} {3,12:F1} {4,12:F1}";
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "  {0,-28} {1,10} {2,10} {3,12} {4,12}", "layer", "fwd ms", "bwd ms", "fwd B/step", "bwd B/step"));
        for (int i = 0; i < layers.Count; i++)
        {
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Format, $"{i}:{layers[i].Name}", Ms(forward[i]), Ms(backward[i]), forwardBytes[i] / (double)Steps, backwardBytes[i] / (double)Steps));
        }

        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Format, "loss", Ms(loss), 0.0, lossBytes / (double)Steps, 0.0));
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, Format, "optimizer", Ms(update), 0.0, updateBytes / (double)Steps, 0.0));
    }
}

/// <summary>The calling thread's CPU time (Linux <c>clock_gettime(CLOCK_THREAD_CPUTIME_ID)</c>).</summary>
internal static partial class ThreadCpu
{
    private const int ClockThreadCpuTime = 3;

    public static long Nanoseconds()
    {
        if (ClockGetTime(ClockThreadCpuTime, out var time) != 0)
        {
            throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed.");
        }

        return time.Seconds * 1_000_000_000L + time.Nanoseconds;
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
