using System.Globalization;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Dropout on the non-recurrent connections only (Zaremba, Sutskever &amp; Vinyals, 2014, "Recurrent neural network
/// regularization"): a layer's input x_t and its output h_t going up the stack are dropped, the recurrent path
/// h_{t−1} → h_t and the memory cell never are, so a value is dropped once per layer it climbs, however many steps it
/// travels. Masks are ordinary inverted dropout, a fresh one at every time step and for every example:
/// <code>
/// x̃_t = x_t ⊙ m^x_t / (1 − p_in),   m^x_t ~ Bernoulli(1 − p_in)      (input, per step)
/// ỹ_t = h_t ⊙ m^y_t / (1 − p_out),  m^y_t ~ Bernoulli(1 − p_out)     (output, per step)
/// </code>
/// Give every layer of a stack an input rate (the lower layer's output, or the embedding, is its input) and the top
/// layer also an output rate, as the paper drops the embedding output, each vertical connection and the output before
/// the softmax. Backward multiplies the gradients by the same masks. Inference: the identity (the plain cell).
/// Monte Carlo: fresh masks as in training; in ONNX, active <c>Dropout</c> nodes before and after the operator.
/// </summary>
public sealed class NonRecurrentDropout : RecurrentRegularizer
{
    /// <summary>Creates the regularizer.</summary>
    /// <param name="inputRate">Drop probability of the layer's input units, in [0, 1).</param>
    /// <param name="outputRate">Drop probability of the layer's output units, in [0, 1) (default 0).</param>
    public NonRecurrentDropout(float inputRate, float outputRate = 0f)
    {
        InputRate = Dropout.CheckRate(inputRate, nameof(inputRate));
        OutputRate = Dropout.CheckRate(outputRate, nameof(outputRate));
    }

    /// <summary>Drop probability of the input units.</summary>
    public float InputRate { get; }

    /// <summary>Drop probability of the output units.</summary>
    public float OutputRate { get; }

    /// <inheritdoc />
    public override bool IsStochastic => InputRate > 0f || OutputRate > 0f;

    /// <inheritdoc />
    public override string Describe() => string.Create(CultureInfo.InvariantCulture, $"input={InputRate}, output={OutputRate}");

    /// <inheritdoc />
    internal override IReadOnlyList<RecurrentSite> Sites =>
        [.. InputRate > 0f ? [RecurrentSite.Input] : Array.Empty<RecurrentSite>(), .. OutputRate > 0f ? [RecurrentSite.Output] : Array.Empty<RecurrentSite>()];

    /// <inheritdoc />
    internal override void Draw(RecurrentMasks masks, int slot)
    {
        if (InputRate > 0f)
        {
            masks.Input.Scale = masks.Bernoulli(slot, 0, masks.InputSize, perStep: true, InputRate, 1f / (1f - InputRate));
            masks.Input.PerStep = true;
        }

        if (OutputRate > 0f)
        {
            masks.Output.Scale = masks.Bernoulli(slot, 1, masks.Units, perStep: true, OutputRate, 1f / (1f - OutputRate), masks.OutputSteps);
            masks.Output.PerStep = true;
        }
    }

    /// <inheritdoc />
    internal override RecurrentOnnxMonteCarlo MonteCarloOnnx(RecurrentLayer layer) => new(InputRate, OutputRate, 0f);
}
