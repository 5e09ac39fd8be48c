namespace MLNet.Regularization.Layers;

/// <summary>
/// The buffers of one forward pass of a <see cref="RecurrentLayer"/> (and, in training, what its backward pass
/// reads). It lives in the forward context, not in the layer, so that several contexts can run one trained layer at
/// once. Everything is time-major: row (t, b) of a [T·B, W] buffer is at (t·B + b)·W, so the rows of one step form
/// a contiguous [B, W] matrix that a GEMM reads or writes directly.
/// </summary>
internal sealed class RecurrentPass
{
    /// <summary>The masks of this pass.</summary>
    public RecurrentMasks Masks { get; } = new();

    /// <summary>Batch size B.</summary>
    public int Batch;

    /// <summary>Time steps T.</summary>
    public int Steps;

    /// <summary>The layer's input [B, T, D] as given.</summary>
    public Tensor? X;

    /// <summary>The input, time-major and masked: [T·B, D].</summary>
    public Tensor Xt = null!;

    /// <summary>Gate pre-activations from the input, X·Wᵀ + Wb, [T·B, G·H]; the step overwrites them with the gate
    /// activations (LSTM: also adds the recurrent product first).</summary>
    public Tensor Gx = null!;

    /// <summary>GRU only: the recurrent product h_{t−1}·Rᵀ + Rb, [T·B, 3H].</summary>
    public Tensor? Gh;

    /// <summary>Hidden states [(T + 1)·B, H]; rows of step 0 are the zero initial state.</summary>
    public Tensor Hs = null!;

    /// <summary>LSTM only: cell states [(T + 1)·B, H]; step 0 is zero.</summary>
    public Tensor? Cs;

    /// <summary>LSTM only: tanh(c̃_t) for every step, [T·B, H].</summary>
    public Tensor? TanhCell;

    /// <summary>The masked recurrent input h_{t−1} ⊙ mask, [T·B, H], when the recurrent state is masked.</summary>
    public Tensor? MaskedState;

    /// <summary>The recurrent weights this pass multiplies with (R, or R ⊙ weight mask).</summary>
    public Tensor RecurrentWeights = null!;

    /// <summary>Backward: dLoss / d(gate pre-activations) on the input side, [T·B, G·H].</summary>
    public Tensor DGx = null!;

    /// <summary>Backward: the same on the recurrent side (the LSTM's is <see cref="DGx"/> itself; the GRU's differs in
    /// its candidate block), [T·B, G·H].</summary>
    public Tensor DGh = null!;

    /// <summary>Backward: dLoss/dh of the step being processed, [B, H].</summary>
    public Tensor DH = null!;

    /// <summary>Backward, LSTM: dLoss/dc of the step being processed, [B, H].</summary>
    public Tensor? DC;

    /// <summary>The row of example <paramref name="b"/> at step <paramref name="t"/> of a time-major buffer.</summary>
    public static Span<float> Row(Tensor buffer, int t, int b, int batch, int width) => buffer.Data.AsSpan(((t * batch) + b) * width, width);
}
