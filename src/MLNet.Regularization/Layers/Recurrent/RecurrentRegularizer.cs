using MLNet.Regularization.Onnx;

namespace MLNet.Regularization.Layers;

/// <summary>Where inside a recurrent layer a regularizer's mask acts (see <see cref="RecurrentLayer"/> for the
/// equations each site enters).</summary>
internal enum RecurrentSite
{
    /// <summary>The layer's input x_t, before the input projection (a mask of width D).</summary>
    Input,

    /// <summary>The layer's output: every step's h_t, or the last one (width H).</summary>
    Output,

    /// <summary>The previous hidden state as it enters the recurrent product, h_{t−1} · Rᵀ (width H).</summary>
    RecurrentState,

    /// <summary>The recurrent (hidden-to-hidden) weight matrix R itself.</summary>
    RecurrentWeights,

    /// <summary>The candidate update: the LSTM's g_t or the GRU's h̃_t (width H).</summary>
    Candidate,

    /// <summary>The LSTM memory cell: c_t = keep ⊙ c_{t−1} + scale ⊙ c̃_t (width H).</summary>
    Cell,

    /// <summary>The hidden state: h_t = keep ⊙ h_{t−1} + scale ⊙ h̃_t (width H).</summary>
    Hidden,
}

/// <summary>How often a recurrent regularizer draws a fresh mask.</summary>
public enum RecurrentMaskSampling
{
    /// <summary>A fresh mask at every time step (and for every example).</summary>
    PerStep,

    /// <summary>One mask per sequence (per example), reused at every time step.</summary>
    PerSequence,
}

/// <summary>
/// A dropout-family regularizer that works inside a recurrent layer (<see cref="LSTM"/>, <see cref="GRU"/>): it
/// decides where masks go, how often they are drawn and what inference does instead. Regularizers are immutable
/// settings; the layer applies their masks (forward and backward) at the sites they fill in
/// <see cref="RecurrentMasks"/>. Several regularizers can share a layer as long as they use different sites.
/// </summary>
public abstract class RecurrentRegularizer
{
    /// <summary>The regularizer's name as shown in summaries and model metadata, such as <c>Zoneout</c>.</summary>
    public virtual string Name => GetType().Name;

    /// <summary>True when training-mode masks are random (some rate is positive).</summary>
    public abstract bool IsStochastic { get; }

    /// <summary>The settings as text, such as <c>cell=0.5, hidden=0.05</c>.</summary>
    public abstract string Describe();

    /// <summary>The sites this regularizer fills (two regularizers of one layer may not share a site).</summary>
    internal abstract IReadOnlyList<RecurrentSite> Sites { get; }

    /// <summary>Throws <see cref="ArgumentException"/> when the regularizer does not fit <paramref name="layer"/>
    /// (for example RNNDrop on a GRU, which has no memory cell).</summary>
    internal virtual void CheckFits(RecurrentLayer layer)
    {
    }

    /// <summary>Draws the training / Monte Carlo masks of one forward pass into <paramref name="masks"/>.</summary>
    internal abstract void Draw(RecurrentMasks masks, int slot);

    /// <summary>Sets what inference uses instead of masks; nothing (the identity) by default.</summary>
    internal virtual void SetInference(RecurrentMasks masks, int slot)
    {
    }

    /// <summary>True when inference is not the plain cell (zoneout blends with the previous state), so the layer
    /// is not an ONNX LSTM / GRU operator at inference.</summary>
    internal virtual bool ChangesInference => false;

    /// <summary>Writes the Monte Carlo form of this regularizer around the layer's ONNX operator, or throws
    /// <see cref="NotSupportedException"/> naming why it cannot be written.</summary>
    internal virtual RecurrentOnnxMonteCarlo MonteCarloOnnx(RecurrentLayer layer) =>
        throw new NotSupportedException($"{layer.Name} with {Name}: its masks act inside the recurrence (on {string.Join(", ", Sites)}), which the ONNX {layer.OnnxOperator} operator cannot express, so there is no Monte Carlo ONNX form. Export without MonteCarlo (the regularizer vanishes at inference), or run Monte Carlo prediction in C# (TrainedModel.PredictWithUncertainty).");

    /// <summary>The description used in layer summaries: <c>Name(settings)</c>.</summary>
    internal string Summary => $"{Name}({Describe()})";
}

/// <summary>What a regularizer's Monte Carlo ONNX form adds around the ONNX recurrent operator: active Dropout
/// nodes on the input and output (a fresh mask per element) and a mask on the recurrent weights.</summary>
internal readonly record struct RecurrentOnnxMonteCarlo(float InputRate, float OutputRate, float WeightRate);
