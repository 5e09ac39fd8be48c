using System.Globalization;
using System.Numerics.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Zoneout (Krueger et al., 2017, "Zoneout: regularizing RNNs by randomly preserving hidden activations"): each unit
/// keeps its previous value with probability z instead of being updated — an identity mask rather than a zero mask,
/// so the gradient of a zoned-out unit flows straight through time:
/// <code>
/// c_t = d^c_t ⊙ c_{t−1} + (1 − d^c_t) ⊙ c̃_t,   h_t = d^h_t ⊙ h_{t−1} + (1 − d^h_t) ⊙ o_t ⊙ tanh(c̃_t)
/// d ~ Bernoulli(z), drawn per unit, per example and per time step, no rescaling
/// </code>
/// with separate rates for the cell (z_c) and the hidden state (z_h); h reads the un-zoned new cell c̃_t as in the
/// authors' code. A GRU has only the hidden state (its cell rate must be 0). Inference replaces each mask by its
/// expectation: c_t = z_c·c_{t−1} + (1 − z_c)·c̃_t, and likewise for h. Backward: δprevious += d ⊙ δ, δnew = (1 − d) ⊙ δ.
/// Typical rates: z_c = 0.5, z_h = 0.05 (word- and character-level PTB). That inference blend is no ONNX LSTM / GRU
/// operator, so a zoneout layer is not exported (C# predicts with it).
/// </summary>
public sealed class Zoneout : RecurrentRegularizer
{
    /// <summary>Creates the regularizer.</summary>
    /// <param name="cellRate">Probability z_c that a memory cell keeps its previous value (LSTM only), in [0, 1).</param>
    /// <param name="hiddenRate">Probability z_h that a hidden unit keeps its previous value, in [0, 1).</param>
    public Zoneout(float cellRate, float hiddenRate)
    {
        CellRate = Dropout.CheckRate(cellRate, nameof(cellRate));
        HiddenRate = Dropout.CheckRate(hiddenRate, nameof(hiddenRate));
    }

    /// <summary>z_c, the probability that a memory cell keeps its previous value.</summary>
    public float CellRate { get; }

    /// <summary>z_h, the probability that a hidden unit keeps its previous value.</summary>
    public float HiddenRate { get; }

    /// <inheritdoc />
    public override bool IsStochastic => CellRate > 0f || HiddenRate > 0f;

    /// <inheritdoc />
    public override string Describe() => string.Create(CultureInfo.InvariantCulture, $"cell={CellRate}, hidden={HiddenRate}");

    /// <inheritdoc />
    internal override IReadOnlyList<RecurrentSite> Sites =>
        [.. CellRate > 0f ? [RecurrentSite.Cell] : Array.Empty<RecurrentSite>(), .. HiddenRate > 0f ? [RecurrentSite.Hidden] : Array.Empty<RecurrentSite>()];

    /// <inheritdoc />
    internal override bool ChangesInference => IsStochastic;

    /// <inheritdoc />
    internal override void CheckFits(RecurrentLayer layer)
    {
        if (CellRate > 0f && layer is not LSTM)
        {
            throw new ArgumentException($"Zoneout's cell rate applies to the LSTM memory cell; {layer.Name} has none: set cellRate to 0 and zone out the hidden state only.");
        }
    }

    /// <inheritdoc />
    internal override void Draw(RecurrentMasks masks, int slot)
    {
        if (CellRate > 0f)
        {
            DrawSite(masks, masks.Cell, slot, 0, CellRate);
        }

        if (HiddenRate > 0f)
        {
            DrawSite(masks, masks.Hidden, slot, 2, HiddenRate);
        }
    }

    /// <inheritdoc />
    internal override void SetInference(RecurrentMasks masks, int slot)
    {
        if (CellRate > 0f)
        {
            Expectation(masks, masks.Cell, slot, 4, CellRate);
        }

        if (HiddenRate > 0f)
        {
            Expectation(masks, masks.Hidden, slot, 6, HiddenRate);
        }
    }

    private static void DrawSite(RecurrentMasks masks, SiteMask site, int slot, int index, float rate)
    {
        // d = 1 (keep the previous value) with probability z: a Bernoulli "drop" of probability 1 − z.
        var keep = masks.Bernoulli(slot, index, masks.Units, perStep: true, 1f - rate, 1f);
        var scale = masks.Buffer(slot, index + 1, masks.Units, perStep: true);
        TensorPrimitives.Subtract(1f, keep.Span, scale.Span);
        site.Keep = keep;
        site.Scale = scale;
        site.PerStep = true;
    }

    private static void Expectation(RecurrentMasks masks, SiteMask site, int slot, int index, float rate)
    {
        var keep = masks.Buffer(slot, index, masks.Units, perStep: false);
        var scale = masks.Buffer(slot, index + 1, masks.Units, perStep: false);
        keep.Span.Fill(rate);
        scale.Span.Fill(1f - rate);
        site.Keep = keep;
        site.Scale = scale;
        site.PerStep = false;
    }
}
