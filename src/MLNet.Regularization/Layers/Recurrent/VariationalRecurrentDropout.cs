using System.Globalization;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Variational RNN dropout (Gal &amp; Ghahramani, 2016, "A theoretically grounded application of dropout in recurrent
/// neural networks"): one mask per sequence, reused at every time step, on the inputs, on the recurrent state as it
/// enters the recurrent product, and on the outputs — dropping a unit drops the same rows of the weight matrices at
/// every step, one weight sample for the whole sequence (the Bayesian reading of dropout):
/// <code>
/// gates_t = f((x_t ⊙ z_x)·Wᵀ + (h_{t−1} ⊙ z_h)·Rᵀ + b),   output h_t ⊙ z_y,   z ~ Bernoulli(1 − p) / (1 − p)
/// </code>
/// The masks are "tied": one x-mask and one h-mask shared by every gate (one concatenated W and R, as Keras does with
/// only <c>dropout</c> set and AWD-LSTM's locked dropout); Gal &amp; Ghahramani call the per-gate variant "untied" — the
/// same model with another approximating distribution. The memory cell is never masked. Keras' <c>dropout</c> /
/// <c>recurrent_dropout</c> are the input and recurrent rates. Backward multiplies by the same masks. Inference: the
/// identity (standard dropout approximation). Monte Carlo (Gal &amp; Ghahramani's MC dropout): masks drawn per sequence
/// as in training; average the probabilities of several passes. The recurrent-state mask acts inside the
/// recurrence, which the ONNX operators cannot express, so there is no Monte Carlo ONNX form.
/// </summary>
public sealed class VariationalRecurrentDropout : RecurrentRegularizer
{
    /// <summary>Creates the regularizer.</summary>
    /// <param name="inputRate">Drop probability of the input units (Keras' <c>dropout</c>), in [0, 1).</param>
    /// <param name="recurrentRate">Drop probability of the recurrent state units (Keras' <c>recurrent_dropout</c>), in [0, 1).</param>
    /// <param name="outputRate">Drop probability of the output units, in [0, 1) (default 0).</param>
    public VariationalRecurrentDropout(float inputRate, float recurrentRate, float outputRate = 0f)
    {
        InputRate = Dropout.CheckRate(inputRate, nameof(inputRate));
        RecurrentRate = Dropout.CheckRate(recurrentRate, nameof(recurrentRate));
        OutputRate = Dropout.CheckRate(outputRate, nameof(outputRate));
    }

    /// <summary>Drop probability of the input units.</summary>
    public float InputRate { get; }

    /// <summary>Drop probability of the recurrent state units.</summary>
    public float RecurrentRate { get; }

    /// <summary>Drop probability of the output units.</summary>
    public float OutputRate { get; }

    /// <inheritdoc />
    public override bool IsStochastic => InputRate > 0f || RecurrentRate > 0f || OutputRate > 0f;

    /// <inheritdoc />
    public override string Describe() => string.Create(CultureInfo.InvariantCulture, $"input={InputRate}, recurrent={RecurrentRate}, output={OutputRate}");

    /// <inheritdoc />
    internal override IReadOnlyList<RecurrentSite> Sites =>
        [.. InputRate > 0f ? [RecurrentSite.Input] : Array.Empty<RecurrentSite>(),
         .. RecurrentRate > 0f ? [RecurrentSite.RecurrentState] : Array.Empty<RecurrentSite>(),
         .. OutputRate > 0f ? [RecurrentSite.Output] : Array.Empty<RecurrentSite>()];

    /// <inheritdoc />
    internal override void Draw(RecurrentMasks masks, int slot)
    {
        if (InputRate > 0f)
        {
            masks.Input.Scale = masks.Bernoulli(slot, 0, masks.InputSize, perStep: false, InputRate, 1f / (1f - InputRate));
        }

        if (RecurrentRate > 0f)
        {
            masks.RecurrentState.Scale = masks.Bernoulli(slot, 1, masks.Units, perStep: false, RecurrentRate, 1f / (1f - RecurrentRate));
        }

        if (OutputRate > 0f)
        {
            masks.Output.Scale = masks.Bernoulli(slot, 2, masks.Units, perStep: false, OutputRate, 1f / (1f - OutputRate));
        }
    }
}
