using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>One site's masks for one pass: the new value is multiplied by <see cref="Scale"/> and the previous
/// value (blend sites only) by <see cref="Keep"/>; null means 1 for Scale and 0 for Keep. A mask is [T, B, W] when
/// drawn per step, [B, W] when drawn per sequence (then every step reads the same row).</summary>
internal sealed class SiteMask
{
    /// <summary>Multiplies the new value (null: 1).</summary>
    public Tensor? Scale;

    /// <summary>Multiplies the previous value (null: 0).</summary>
    public Tensor? Keep;

    /// <summary>True for [T, B, W] masks, false for [B, W] masks shared by every step.</summary>
    public bool PerStep;

    /// <summary>True when the site does anything in this pass.</summary>
    public bool IsActive => Scale is not null || Keep is not null;

    /// <summary>Where the row of example <paramref name="b"/> at step <paramref name="t"/> starts.</summary>
    public int Offset(int t, int b, int batch, int width) => ((PerStep ? t * batch : 0) + b) * width;

    /// <summary>The scale row of (t, b), or an empty span when there is no scale.</summary>
    public ReadOnlySpan<float> ScaleRow(int t, int b, int batch, int width) =>
        Scale is null ? default : Scale.Data.AsSpan(Offset(t, b, batch, width), width);

    /// <summary>The keep row of (t, b), or an empty span when there is none.</summary>
    public ReadOnlySpan<float> KeepRow(int t, int b, int batch, int width) =>
        Keep is null ? default : Keep.Data.AsSpan(Offset(t, b, batch, width), width);

    /// <summary>Forgets the masks of the previous pass.</summary>
    public void Clear()
    {
        Scale = null;
        Keep = null;
        PerStep = false;
    }
}

/// <summary>
/// The masks of one forward pass of a recurrent layer, filled by its <see cref="RecurrentRegularizer"/>s and read
/// by the layer's forward and backward passes. Buffers come from the forward context, so a steady state of training
/// allocates nothing; every draw comes from the context's counter-based generator, in a fixed order, so masks do not
/// depend on the thread count.
/// </summary>
internal sealed class RecurrentMasks
{
    private const int SlotBase = 100;
    private const int SlotsPerRegularizer = 8;
    private ForwardContext? _ctx;
    private RecurrentLayer? _owner;

    /// <summary>The batch size B of this pass.</summary>
    public int Batch { get; private set; }

    /// <summary>The number of time steps T.</summary>
    public int Steps { get; private set; }

    /// <summary>The number of output steps: T for sequence output, 1 for the last step only.</summary>
    public int OutputSteps { get; private set; }

    /// <summary>The input width D.</summary>
    public int InputSize { get; private set; }

    /// <summary>The hidden width H.</summary>
    public int Units { get; private set; }

    /// <summary>Mask on the layer's input x_t (width D).</summary>
    public SiteMask Input { get; } = new();

    /// <summary>Mask on the layer's output (width H; OutputSteps rows per example when drawn per step).</summary>
    public SiteMask Output { get; } = new();

    /// <summary>Mask on h_{t−1} where it enters the recurrent product (width H).</summary>
    public SiteMask RecurrentState { get; } = new();

    /// <summary>Mask on the candidate g_t / h̃_t (width H).</summary>
    public SiteMask Candidate { get; } = new();

    /// <summary>Blend of the LSTM cell (width H).</summary>
    public SiteMask Cell { get; } = new();

    /// <summary>Blend of the hidden state (width H).</summary>
    public SiteMask Hidden { get; } = new();

    /// <summary>The mask on the recurrent weights R (kept entries hold their scale), or null.</summary>
    public Tensor? WeightMask { get; private set; }

    /// <summary>R ⊙ <see cref="WeightMask"/>, the recurrent weights this pass uses, or null for R itself.</summary>
    public Tensor? MaskedWeights { get; private set; }

    /// <summary>The random source of this pass.</summary>
    public Rng Rng => Context.Rng;

    private ForwardContext Context => _ctx ?? throw new InvalidOperationException("masks used outside a pass.");

    /// <summary>Starts a pass: forgets every mask of the previous one.</summary>
    public void Begin(RecurrentLayer owner, ForwardContext ctx, int batch, int steps, int outputSteps)
    {
        _owner = owner;
        _ctx = ctx;
        Batch = batch;
        Steps = steps;
        OutputSteps = outputSteps;
        InputSize = owner.InputShape[1];
        Units = owner.Units;
        Input.Clear();
        Output.Clear();
        RecurrentState.Clear();
        Candidate.Clear();
        Cell.Clear();
        Hidden.Clear();
        WeightMask = null;
        MaskedWeights = null;
    }

    /// <summary>A reusable mask buffer for regularizer <paramref name="slot"/>, sub-buffer <paramref name="index"/>:
    /// [steps, B, width] per step, [B, width] per sequence (contents undefined).</summary>
    public Tensor Buffer(int slot, int index, int width, bool perStep, int? steps = null)
    {
        int id = SlotBase + slot * SlotsPerRegularizer + index;
        return perStep ? Context.Buffer(_owner!, id, [steps ?? Steps, Batch, width]) : Context.Buffer(_owner!, id, [Batch, width]);
    }

    /// <summary>Draws a Bernoulli mask into a buffer: <paramref name="keptValue"/> with probability
    /// 1 − <paramref name="dropProbability"/>, otherwise 0.</summary>
    public Tensor Bernoulli(int slot, int index, int width, bool perStep, float dropProbability, float keptValue, int? steps = null)
    {
        var mask = Buffer(slot, index, width, perStep, steps);
        Rng.FillBernoulli(mask.Span, dropProbability, keptValue);
        return mask;
    }

    /// <summary>Draws a mask on the recurrent weights (one per pass, shared by every example and step): kept
    /// entries hold <paramref name="keptValue"/>.</summary>
    public void DrawWeightMask(int slot, float rate, float keptValue)
    {
        var r = _owner!.RecurrentWeight.Value;
        var mask = Context.Buffer(_owner, SlotBase + slot * SlotsPerRegularizer, r.Shape);
        var masked = Context.Buffer(_owner, SlotBase + slot * SlotsPerRegularizer + 1, r.Shape);
        DropConnectDense.DrawMaskedWeights(Rng, rate, r.Data, mask.Data, masked.Data, Context.Threads, keptValue);
        WeightMask = mask;
        MaskedWeights = masked;
    }
}
