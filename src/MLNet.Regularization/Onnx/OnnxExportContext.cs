namespace MLNet.Regularization.Onnx;

/// <summary>What a layer needs to know, besides the graph builder, to write its ONNX form.</summary>
internal sealed class OnnxExportContext
{
    private readonly int? _seed;
    private int _randomNodes;

    /// <summary>Creates a context.</summary>
    /// <param name="monteCarlo">Whether stochastic layers stay active (Monte Carlo export).</param>
    /// <param name="seed">Base seed for the random nodes, or null to let the runtime seed them.</param>
    public OnnxExportContext(bool monteCarlo, int? seed)
    {
        MonteCarlo = monteCarlo;
        _seed = seed;
    }

    /// <summary>True for a Monte Carlo export: dropout layers become active ONNX <c>Dropout</c> nodes
    /// (<c>training_mode</c> = true) and Gaussian dropout draws its noise with <c>RandomNormalLike</c>. False for the
    /// deterministic inference graph, where they become nothing (or classic dropout's scaling).</summary>
    public bool MonteCarlo { get; }

    /// <summary>The <c>seed</c> attribute for the next random node: distinct per node (so that layers draw
    /// independent masks), below 2^24 so that RandomNormalLike's float seed holds it exactly; null when unseeded.</summary>
    public int? NextSeed()
    {
        if (_seed is not int seed)
        {
            return null;
        }

        ulong z = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL + (ulong)++_randomNodes * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 31)) * 0x94D049BB133111EBUL;
        return (int)((z ^ (z >> 29)) & 0xFFFFFF);
    }
}
