using BenchmarkDotNet.Running;
using MLNet.Regularization.Benchmarks;

// `-- quick`: the one-table runner with the PyTorch peer; `-- profile`: a training step's time layer by layer;
// `-- gemmprobe [threads]`: GEMM GFLOP/s per CPU-second (steadier than the wall clock on a shared machine);
// `-- pruning`: inference speed and ONNX size of structurally and magnitude-pruned networks;
// `-- streaming`: training from the binary cache and from IDataViews against in memory (samples/s, peak working set);
// anything else goes to BenchmarkDotNet
// (for example `-- --filter *Gemm*`).
if (args.Length > 0 && args[0] == "quick")
{
    return QuickRunner.Run(args[1..]);
}

if (args.Length > 0 && args[0] == "gemmprobe")
{
    return GemmProbe.Run(args[1..]);
}

if (args.Length > 0 && args[0] == "pruning")
{
    return PruningRunner.Run(args[1..]);
}

if (args.Length > 0 && args[0] == "streaming")
{
    return StreamingRunner.Run(args[1..]);
}

if (args.Length > 0 && args[0] == "profile")
{
    return ProfileRunner.Run(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(QuickRunner).Assembly).Run(args, BenchmarkConfig.Create());
return 0;
