using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>What a forward pass is for. Layers never read a global "is training" flag; they read this.</summary>
public enum ForwardMode
{
    /// <summary>Training: dropout masks are drawn, batch norm uses batch statistics, state for backward is kept.</summary>
    Train,

    /// <summary>Inference: every stochastic layer is the identity (or its expectation), batch norm uses running statistics.</summary>
    Inference,

    /// <summary>Monte Carlo dropout (Gal &amp; Ghahramani, 2016): dropout stays on, batch norm uses running statistics,
    /// nothing is kept for backward.</summary>
    MonteCarlo,
}

/// <summary>
/// Everything a layer needs besides its input: the mode, the random source, the thread budget and a workspace
/// of reusable buffers. One context serves one caller at a time; concurrent predictions use one context each.
/// </summary>
public sealed class ForwardContext
{
    private readonly Dictionary<(Layer Owner, int Slot), Tensor> _buffers = new();
    private readonly Dictionary<Layer, object> _scratch = new();

    /// <summary>Creates a context.</summary>
    /// <param name="mode">Train, Inference or MonteCarlo.</param>
    /// <param name="rng">The random source for stochastic layers (may be null in <see cref="ForwardMode.Inference"/>).</param>
    /// <param name="threads">How many threads kernels may use (at least 1).</param>
    public ForwardContext(ForwardMode mode, Rng? rng = null, int threads = 1)
    {
        if (threads < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be at least 1.");
        }

        if (rng is null && mode != ForwardMode.Inference)
        {
            throw new ArgumentException($"mode {mode} draws random masks and needs an Rng.", nameof(rng));
        }

        Mode = mode;
        Rng = rng ?? new Rng(0);
        Threads = threads;
    }

    /// <summary>The mode of this pass.</summary>
    public ForwardMode Mode { get; set; }

    /// <summary>The random source every stochastic layer draws from.</summary>
    public Rng Rng { get; set; }

    /// <summary>The number of threads kernels may use; results do not depend on it.</summary>
    public int Threads { get; }

    /// <summary>True in training mode: layers keep what their backward pass needs.</summary>
    public bool IsTraining => Mode == ForwardMode.Train;

    /// <summary>True when dropout-like layers draw masks (training and Monte Carlo).</summary>
    public bool IsStochastic => Mode != ForwardMode.Inference;

    /// <summary>A reusable buffer owned by <paramref name="owner"/>: the same tensor is returned for the same
    /// owner, slot and shape, so the steady state of training or prediction allocates nothing.</summary>
    public Tensor Buffer(Layer owner, int slot, ReadOnlySpan<int> shape)
    {
        var key = (owner, slot);
        if (_buffers.TryGetValue(key, out var t) && t.HasShape(shape))
        {
            return t;
        }

        t = new Tensor(shape.ToArray());
        _buffers[key] = t;
        return t;
    }

    /// <summary>A buffer of shape [batch, ..sampleShape].</summary>
    public Tensor Buffer(Layer owner, int slot, int batch, ReadOnlySpan<int> sampleShape)
    {
        Span<int> shape = stackalloc int[sampleShape.Length + 1];
        shape[0] = batch;
        sampleShape.CopyTo(shape[1..]);
        return Buffer(owner, slot, shape);
    }

    /// <summary>A reusable object owned by <paramref name="owner"/> in this context (created on first use): per-pass
    /// state that must not live in the layer itself, because several contexts may run one layer at once.</summary>
    internal T Scratch<T>(Layer owner)
        where T : class, new()
    {
        if (_scratch.TryGetValue(owner, out var value) && value is T typed)
        {
            return typed;
        }

        typed = new T();
        _scratch[owner] = typed;
        return typed;
    }
}
