using System.Globalization;
using System.Numerics.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// RNNDrop (Moon, Choi, Lee &amp; Song, 2015, "RNNDrop: a novel dropout for RNNs in ASR"): dropout on the LSTM memory
/// cell with one mask per sequence, drawn once and reused at every step, so a dropped unit has no memory for the whole
/// sequence while a kept unit runs the ordinary recurrence:
/// <code>
/// c_t = m ⊙ (f_t ⊙ c_{t−1} + i_t ⊙ g_t),   h_t = (m / (1 − p)) ⊙ o_t ⊙ tanh(c̃_t),   m ~ Bernoulli(1 − p) per sequence
/// </code>
/// Where the 1/(1 − p) goes is this library's choice, written down because it matters: scaling the carried cell would
/// compound over the steps (the state grows geometrically in training), and scaling it by 1 − p at inference would
/// shrink old memory geometrically (Semeniuta et al.'s objection). So the cell keeps the kept units' exact recurrence
/// (mask 0/1, no scale) and the inverted scaling goes on the unit's output, where it does not compound: inference is
/// then the plain LSTM (every unit kept, no scale), the expectation of the output given the cell. Used together with
/// <see cref="NonRecurrentDropout"/> on the vertical connections, as in the paper. Backward: δc̃ = m ⊙ δc_t, and the
/// output's gradient times m/(1 − p). LSTM only (a GRU has no memory cell). Monte Carlo: a mask per sequence as in
/// training; no ONNX form (the mask acts inside the recurrence).
/// </summary>
public sealed class RnnDrop : RecurrentRegularizer
{
    /// <summary>Creates the regularizer.</summary>
    /// <param name="rate">Probability of dropping a memory cell for a whole sequence, in [0, 1).</param>
    public RnnDrop(float rate) => Rate = Dropout.CheckRate(rate, nameof(rate));

    /// <summary>The drop probability.</summary>
    public float Rate { get; }

    /// <inheritdoc />
    public override string Name => "RNNDrop";

    /// <inheritdoc />
    public override bool IsStochastic => Rate > 0f;

    /// <inheritdoc />
    public override string Describe() => string.Create(CultureInfo.InvariantCulture, $"rate={Rate}");

    /// <inheritdoc />
    internal override IReadOnlyList<RecurrentSite> Sites => Rate > 0f ? [RecurrentSite.Cell, RecurrentSite.Hidden] : [];

    /// <inheritdoc />
    internal override void CheckFits(RecurrentLayer layer)
    {
        if (layer is not LSTM)
        {
            throw new ArgumentException($"RNNDrop drops the LSTM memory cell; {layer.Name} has none. Use VariationalRecurrentDropout, RecurrentDropoutWithoutMemoryLoss or Zoneout on a {layer.Name}.");
        }
    }

    /// <inheritdoc />
    internal override void Draw(RecurrentMasks masks, int slot)
    {
        if (Rate == 0f)
        {
            return;
        }

        var cell = masks.Bernoulli(slot, 0, masks.Units, perStep: false, Rate, 1f);
        var output = masks.Buffer(slot, 1, masks.Units, perStep: false);
        TensorPrimitives.Multiply(cell.Span, 1f / (1f - Rate), output.Span);
        masks.Cell.Scale = cell;
        masks.Hidden.Scale = output;
    }
}
