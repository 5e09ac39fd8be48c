using System.Globalization;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Weight-dropped recurrence (Merity, Keskar &amp; Socher, 2017, "Regularizing and optimizing LSTM language models",
/// AWD-LSTM): DropConnect (Wan et al., 2013) on the hidden-to-hidden matrix R, one mask per mini-batch (per forward
/// call), shared by every example and every time step:
/// <code>
/// R̃ = R ⊙ M / (1 − p),  M ~ Bernoulli(1 − p) element-wise;  gates_t = f(x_t·Wᵀ + h_{t−1}·R̃ᵀ + b)
/// </code>
/// Because only the weights change, each step is still one matrix product for the whole batch. Inverted scaling as in
/// the authors' code, so inference uses R itself. Backward: δR = M/(1 − p) ⊙ Σ_t δG_tᵀ·h_{t−1}, and dh flows back
/// through R̃. Monte Carlo: a fresh mask per pass, shared by the batch; in ONNX, an active <c>Dropout</c> over R whose
/// scaled mask multiplies the R input of the operator (one mask per run; run one example at a time for a mask per
/// example).
/// </summary>
public sealed class WeightDrop : RecurrentRegularizer
{
    /// <summary>Creates the regularizer.</summary>
    /// <param name="rate">Probability of dropping each recurrent weight, in [0, 1).</param>
    public WeightDrop(float rate) => Rate = Dropout.CheckRate(rate, nameof(rate));

    /// <summary>The drop probability.</summary>
    public float Rate { get; }

    /// <inheritdoc />
    public override bool IsStochastic => Rate > 0f;

    /// <inheritdoc />
    public override string Describe() => string.Create(CultureInfo.InvariantCulture, $"rate={Rate}");

    /// <inheritdoc />
    internal override IReadOnlyList<RecurrentSite> Sites => Rate > 0f ? [RecurrentSite.RecurrentWeights] : [];

    /// <inheritdoc />
    internal override void Draw(RecurrentMasks masks, int slot)
    {
        if (Rate > 0f)
        {
            masks.DrawWeightMask(slot, Rate, 1f / (1f - Rate));
        }
    }

    /// <inheritdoc />
    internal override RecurrentOnnxMonteCarlo MonteCarloOnnx(RecurrentLayer layer) => new(0f, 0f, Rate);
}
