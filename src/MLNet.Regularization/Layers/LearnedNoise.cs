using System.Globalization;

namespace MLNet.Regularization.Layers;

/// <summary>
/// A layer whose training objective has a term of its own besides the data loss: the KL divergence of the variational
/// methods (variational dropout, sparse variational dropout, structured Bayesian pruning) or concrete dropout's
/// regularizer. The trainer minimises <c>mean data loss + (1/N) · Σ_layers R_l</c> over N training examples, the SGVB
/// objective divided by N (Kingma et al., 2015), so that the KL weighs as one pass over the data set: after each
/// backward pass it calls <see cref="AddRegularizerGradient"/> with scale 1/N.
/// </summary>
internal interface IRegularizedLayer
{
    /// <summary>Adds <paramref name="scale"/> · β(<paramref name="epoch"/>) · ∂R/∂θ to the gradients of the parameters R
    /// depends on (after the backward pass wrote them) and returns R, unscaled. β is the layer's KL warm-up factor (1
    /// without warm-up).</summary>
    /// <param name="scale">1/N for N training examples.</param>
    /// <param name="epoch">Training progress in epochs (fractional: steps taken / steps per epoch), for warm-up.</param>
    double AddRegularizerGradient(double scale, double epoch);
}

/// <summary>The KL warm-up of the variational layers (Molchanov et al.'s code ramps the KL weight β linearly, Sønderby
/// et al., 2016): β rises from 0 at the start of training to 1 after a number of epochs, so the network first fits
/// the data and only then trades weights for noise.</summary>
internal static class KlWarmup
{
    /// <summary>β at <paramref name="epoch"/> (fractional) for a ramp of <paramref name="warmupEpochs"/> epochs: 1 when
    /// there is no ramp, epoch / warmupEpochs clamped to [0, 1] otherwise.</summary>
    public static double Factor(double epoch, int warmupEpochs) => warmupEpochs <= 0 ? 1.0 : Math.Clamp(epoch / warmupEpochs, 0.0, 1.0);

    /// <summary>Validates a warm-up length (0 or more epochs).</summary>
    public static int Check(int warmupEpochs, string paramName) => warmupEpochs >= 0
        ? warmupEpochs
        : throw new ArgumentOutOfRangeException(paramName, warmupEpochs, "the KL warm-up must be 0 or more epochs.");
}

/// <summary>A layer that learns its own noise (a dropout rate, a variance, a keep-probability network) and can say
/// what it learned.</summary>
public interface ILearnedNoise
{
    /// <summary>What the layer learned: its rates, how many weights or units survive, its regularizer.</summary>
    LearnedNoiseSummary Summarize();
}

/// <summary>What one learned-noise layer learned, for summaries, ONNX metadata and the HTML report.</summary>
/// <param name="Method">The method, such as <c>concrete dropout</c>.</param>
/// <param name="Quantity">What <paramref name="Mean"/>, <paramref name="Min"/> and <paramref name="Max"/> measure, such
/// as <c>drop rate</c> or <c>signal-to-noise ratio</c>.</param>
/// <param name="Mean">The mean of the learned quantity over its <paramref name="Count"/> values.</param>
/// <param name="Min">The smallest value.</param>
/// <param name="Max">The largest value.</param>
/// <param name="Count">How many values the layer learns (1 per layer, one per unit or one per weight).</param>
/// <param name="Weights">The layer's weights (0 for a layer without weights of its own).</param>
/// <param name="WeightsKept">How many weights survive its pruning rule (all of them for a method that does not prune).</param>
/// <param name="Units">The units (neurons or channels) the layer acts on.</param>
/// <param name="UnitsKept">How many units survive its pruning rule (all of them for a method that does not prune units).</param>
/// <param name="Regularizer">The layer's regularizer R (KL divergence or concrete penalty) at its current parameters,
/// unscaled; 0 for a method without one.</param>
/// <param name="Details">Anything else worth a line, such as Standout's tying α and β.</param>
public sealed record LearnedNoiseSummary(string Method, string Quantity, double Mean, double Min, double Max, int Count, long Weights, long WeightsKept, int Units, int UnitsKept, double Regularizer, string Details = "")
{
    /// <summary>The fraction of the layer's weights that survive, in [0, 1] (1 without weights).</summary>
    public double FractionOfWeightsKept => Weights == 0 ? 1 : (double)WeightsKept / Weights;

    /// <summary>One line, such as <c>drop rate 0.12 (0.05–0.31 over 300 values)</c>.</summary>
    public string Describe()
    {
        string range = Count == 1 ? "" : FormattableString.Invariant($" ({Min:G3}–{Max:G3} over {Count:N0} values)");
        string text = FormattableString.Invariant($"{Quantity} {Mean:G3}{range}");
        if (WeightsKept != Weights)
        {
            text += FormattableString.Invariant($", {WeightsKept:N0} of {Weights:N0} weights kept");
        }

        if (UnitsKept != Units)
        {
            text += FormattableString.Invariant($", {UnitsKept} of {Units} units kept");
        }

        return Details.Length == 0 ? text : $"{text}, {Details}";
    }

    /// <summary>Mean, minimum, maximum and count of some values, for the constructor.</summary>
    internal static (double Mean, double Min, double Max, int Count) Stats(IEnumerable<double> values)
    {
        double sum = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
        int n = 0;
        foreach (double v in values)
        {
            sum += v;
            min = Math.Min(min, v);
            max = Math.Max(max, v);
            n++;
        }

        return n == 0 ? (double.NaN, double.NaN, double.NaN, 0) : (sum / n, min, max, n);
    }
}

/// <summary>The learned-noise layers of a network and what each learned.</summary>
public static class LearnedNoise
{
    /// <summary>Every layer of <paramref name="network"/> that learns its noise, with its position, in order.</summary>
    public static IReadOnlyList<(int LayerIndex, string Layer, LearnedNoiseSummary Summary)> Of(Network network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var list = new List<(int, string, LearnedNoiseSummary)>();
        for (int i = 0; i < network.Layers.Count; i++)
        {
            if (network.Layers[i] is ILearnedNoise learned && network.Layers[i].IsBuilt)
            {
                list.Add((i, network.Layers[i].Name, learned.Summarize()));
            }
        }

        return list;
    }

    /// <summary>The learned noise as JSON (for ONNX metadata): one object per layer with its index, type, method,
    /// quantity, mean, min, max, count, weights, weights kept, units, units kept, regularizer and details.</summary>
    public static string ToJson(Network network)
    {
        var rows = Of(network).Select(r => new Dictionary<string, object>
        {
            ["layer"] = r.LayerIndex, ["type"] = r.Layer, ["method"] = r.Summary.Method, ["quantity"] = r.Summary.Quantity,
            ["mean"] = Finite(r.Summary.Mean), ["min"] = Finite(r.Summary.Min), ["max"] = Finite(r.Summary.Max), ["count"] = r.Summary.Count,
            ["weights"] = r.Summary.Weights, ["weightsKept"] = r.Summary.WeightsKept, ["units"] = r.Summary.Units, ["unitsKept"] = r.Summary.UnitsKept,
            ["regularizer"] = Finite(r.Summary.Regularizer), ["details"] = r.Summary.Details,
        });
        return System.Text.Json.JsonSerializer.Serialize(rows);

        static object Finite(double v) => double.IsFinite(v) ? v : v.ToString(CultureInfo.InvariantCulture);
    }
}
