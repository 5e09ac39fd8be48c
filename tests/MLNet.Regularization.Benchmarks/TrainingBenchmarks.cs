using BenchmarkDotNet.Attributes;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Benchmarks;

/// <summary>GEMM throughput on the shapes of the MLP 784-1024-1024-10 (BenchmarkDotNet).</summary>
public class GemmBenchmarks
{
    private float[] _a = [], _b = [], _c = [];

    /// <summary>Index into <see cref="Workloads.GemmShapes"/>.</summary>
    [Params(0, 1, 2, 3, 4)]
    public int Shape { get; set; }

    /// <summary>Allocates the operands.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var (_, _, _, m, n, k) = Workloads.GemmShapes[Shape];
        _a = new float[m * k];
        _b = new float[k * n];
        _c = new float[m * n];
        new Rng(1).FillGaussian(_a);
        new Rng(2).FillGaussian(_b);
    }

    /// <summary>One product.</summary>
    [Benchmark]
    public void Multiply()
    {
        var (_, ta, tb, m, n, k) = Workloads.GemmShapes[Shape];
        Gemm.Multiply(ta, tb, m, n, k, 1f, _a, ta ? m : k, _b, tb ? k : n, 0f, _c, n, Environment.ProcessorCount);
    }
}

/// <summary>One training step of the MLP 784-1024-1024-10 at batch 128 (BenchmarkDotNet; MemoryDiagnoser shows
/// the bytes allocated per step).</summary>
public class TrainingStepBenchmarks
{
    private TrainingStep? _step;
    private (Tensor X, float[] Targets, int[] Labels)[] _batches = [];
    private int _next;

    /// <summary>Regularization setting.</summary>
    [Params("none", "dropout", "dropconnect", "batchnorm", "batchnorm+dropout")]
    public string Configuration { get; set; } = "none";

    /// <summary>Builds the network and cuts the batches.</summary>
    [GlobalSetup]
    public void Setup() => (_step, _batches) = Workloads.TrainingSetup(Workloads.Mlp(Configuration), Environment.ProcessorCount);

    /// <summary>Forward, loss, backward, Adam.</summary>
    [Benchmark]
    public void Step()
    {
        var (x, t, l) = _batches[_next++ % _batches.Length];
        _step!.Forward(x, t, l, out _);
        _step.Update(1e-3f);
    }
}
