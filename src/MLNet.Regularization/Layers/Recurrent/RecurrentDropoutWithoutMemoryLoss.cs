using System.Globalization;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Recurrent dropout without memory loss (Semeniuta, Severyn &amp; Barth, 2016): dropout on the candidate update only,
/// never on the carried state, so a dropped unit skips one update and keeps its memory:
/// <code>
/// LSTM: c_t = f_t ⊙ c_{t−1} + i_t ⊙ d(g_t)            GRU: h_t = (1 − z_t) ⊙ d(n_t) + z_t ⊙ h_{t−1}
/// d(g) = g ⊙ m / (1 − p),  m ~ Bernoulli(1 − p)
/// </code>
/// The mask never multiplies c_{t−1} (h_{t−1} in the GRU), masks never multiply each other across time, and the
/// gradient path through f_t ⊙ c_{t−1} is untouched — unlike RNNDrop, there is no geometric shrinking or growth. The
/// mask is drawn per step (default, as TensorFlow's <c>LayerNormBasicLSTMCell</c> does) or once per sequence; the paper
/// compares both. Since the candidate enters additively, inverted scaling makes inference (the identity) match the
/// training expectation. Backward: δg = δ(d(g)) ⊙ m / (1 − p). Meant to be combined with
/// <see cref="NonRecurrentDropout"/>. Monte Carlo: masks drawn as in training; no ONNX form (inside the recurrence).
/// </summary>
public sealed class RecurrentDropoutWithoutMemoryLoss : RecurrentRegularizer
{
    /// <summary>Creates the regularizer.</summary>
    /// <param name="rate">Drop probability of each candidate unit, in [0, 1).</param>
    /// <param name="sampling">A fresh mask per step (default) or one per sequence.</param>
    public RecurrentDropoutWithoutMemoryLoss(float rate, RecurrentMaskSampling sampling = RecurrentMaskSampling.PerStep)
    {
        Rate = Dropout.CheckRate(rate, nameof(rate));
        Sampling = sampling;
    }

    /// <summary>The drop probability.</summary>
    public float Rate { get; }

    /// <summary>How often the mask is drawn.</summary>
    public RecurrentMaskSampling Sampling { get; }

    /// <inheritdoc />
    public override string Name => "RecurrentDropout";

    /// <inheritdoc />
    public override bool IsStochastic => Rate > 0f;

    /// <inheritdoc />
    public override string Describe() => string.Create(CultureInfo.InvariantCulture, $"rate={Rate}, {Sampling}");

    /// <inheritdoc />
    internal override IReadOnlyList<RecurrentSite> Sites => Rate > 0f ? [RecurrentSite.Candidate] : [];

    /// <inheritdoc />
    internal override void Draw(RecurrentMasks masks, int slot)
    {
        if (Rate > 0f)
        {
            bool perStep = Sampling == RecurrentMaskSampling.PerStep;
            masks.Candidate.Scale = masks.Bernoulli(slot, 0, masks.Units, perStep, Rate, 1f / (1f - Rate));
            masks.Candidate.PerStep = perStep;
        }
    }
}
