using System.Text;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Pruning;

namespace MLNet.Regularization.Reporting;

/// <summary>The comparison page's section on learned noise: what each configuration's learned-noise layers learned
/// (rates, signal-to-noise ratios, Standout's tying) and how many weights and units every layer with weights keeps.</summary>
/// <remarks>One <c>&lt;tr class="learned-layer" data-config="name" data-layer="i" data-weights-kept="…"
/// data-units-kept="…"&gt;</c> per (configuration, layer), for tools and tests.</remarks>
public static partial class HtmlReport
{
    private static void LearnedNoiseTable(StringBuilder html, IReadOnlyList<TrialResult> ranked)
    {
        var models = ranked.Select((t, i) => (Trial: t, Index: i)).Where(x => x.Trial.Model is not null).ToList();
        if (!models.Any(m => LearnedNoise.Of(m.Trial.Model!.Network).Count > 0))
        {
            return;
        }

        html.Append("<h2>Learned noise and sparsity per layer</h2>\n<table class=\"leaderboard learned\">\n<thead><tr><th>layer</th><th>configuration</th>")
            .Append("<th>method</th><th>learned</th><th>weights kept</th><th></th><th>units kept</th><th>KL / regularizer</th></tr></thead>\n<tbody>\n");
        foreach (var (trial, index) in models)
        {
            var network = trial.Model!.Network;
            var learned = LearnedNoise.Of(network).ToDictionary(l => l.LayerIndex, l => l.Summary);

            // Kept weights per layer from the inference network (the sparse and shrunk masks live there); same layer
            // order up to the noise layers that fold away, so match on the prunable weights' order.
            var sparsity = NetworkSparsity.PerLayer(trial.Model.InferenceNetwork);
            var prunable = NetworkSparsity.PrunableWeights(network).Select(w => w.LayerIndex).ToList();
            for (int i = 0; i < network.Layers.Count; i++)
            {
                int ordinal = prunable.IndexOf(i);
                bool hasWeights = ordinal >= 0 && ordinal < sparsity.Count;
                if (!learned.TryGetValue(i, out var summary) && !hasWeights)
                {
                    continue;
                }

                long weights = hasWeights ? sparsity[ordinal].Weights : 0, kept = hasWeights ? sparsity[ordinal].Remaining : 0;
                double fraction = weights == 0 ? 1 : (double)kept / weights;
                html.Append(F($"<tr class=\"learned-layer\" data-config=\"{E(trial.Name)}\" data-layer=\"{i}\" data-weights-kept=\"{fraction:R}\" data-units-kept=\"{summary?.UnitsKept ?? network.Layers[i].OutputShape[0]}\">"))
                    .Append(F($"<td>{i} {E(network.Layers[i].Name)}</td>"))
                    .Append("<td><span class=\"swatch\" style=\"background:").Append(Color(index)).Append("\"></span>").Append(E(trial.Name)).Append("</td>")
                    .Append("<td>").Append(E(summary?.Method ?? "–")).Append("</td>")
                    .Append("<td>").Append(E(summary is null ? "–" : Learned(summary))).Append("</td>")
                    .Append("<td>").Append(hasWeights ? E(F($"{kept:N0} / {weights:N0} ({100 * fraction:0.##}%)")) : "–").Append("</td>")
                    .Append("<td class=\"bar\">").Append(hasWeights ? F($"<div class=\"track\"><div class=\"kept\" style=\"width:{100 * fraction:0.##}%\"></div></div>") : "").Append("</td>")
                    .Append("<td>").Append(summary is null || summary.UnitsKept == summary.Units ? "–" : E(F($"{summary.UnitsKept} / {summary.Units}"))).Append("</td>")
                    .Append("<td>").Append(summary is null || summary.Regularizer == 0 ? "–" : E(F($"{summary.Regularizer:G4}"))).Append("</td></tr>\n");
            }
        }

        html.Append("</tbody>\n</table>\n<p class=\"note\">Learned: the mean (and range) of what each learned-noise layer learned — dropout rates, α/(1+α) for the variational layers, "
            + "signal-to-noise ratios for structured Bayesian pruning, Standout's belief-network tying. Weights kept: the share of each layer's weights left in the inference network "
            + "(sparse variational dropout's log α > 3 mask, pruning masks). Units kept: the units whose SNR stays above the threshold.</p>\n");
    }

    private static string Learned(LearnedNoiseSummary s)
    {
        string range = s.Count == 1 ? "" : F($" ({s.Min:G3}–{s.Max:G3})");
        string details = s.Method == "Standout" ? $"; {s.Details}" : "";
        return F($"{s.Quantity} {s.Mean:G3}{range}") + details;
    }
}
