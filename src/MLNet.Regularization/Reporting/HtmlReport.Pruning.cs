using System.Globalization;
using System.Text;
using MLNet.Regularization.Pruning;

namespace MLNet.Regularization.Reporting;

/// <summary>The lottery-ticket page of <see cref="HtmlReport"/>.</summary>
/// <remarks>Sections: the classic plot of Frankle &amp; Carbin — test accuracy against the percentage of weights
/// remaining on a log scale, for the ticket, the random re-initialization and the random mask — then the early-stopping
/// epoch per round on the same axis, then the table of rounds. For tools and tests each run kind is one
/// <c>&lt;g class="series" data-run="ticket|random-reinitialization|random-mask"&gt;</c> per chart holding one
/// <c>&lt;circle data-round="r" data-remaining="…" data-value="…"&gt;</c> per round.</remarks>
public static partial class HtmlReport
{
    private static readonly (TicketRunKind Kind, string Id, string Name, string Color, string Dash)[] RunStyles =
    [
        (TicketRunKind.Ticket, "ticket", "winning ticket (reset to θ₀)", "#4e79a7", ""),
        (TicketRunKind.RandomReinitialization, "random-reinitialization", "random re-initialization", "#e15759", "stroke-dasharray=\"6 4\""),
        (TicketRunKind.RandomMask, "random-mask", "random mask (same layer-wise sparsity)", "#59a14f", "stroke-dasharray=\"2 3\""),
    ];

    /// <summary>The lottery-ticket page as a string.</summary>
    /// <param name="result">A lottery-ticket experiment's result (cancelled or budget-limited results work too).</param>
    /// <param name="options">Title and data description; defaults when null (title "Lottery tickets").</param>
    public static string Render(LotteryTicketResult result, HtmlReportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        string title = options?.Title is { } t && t != new HtmlReportOptions().Title ? t : "Lottery tickets";
        var html = Open(title);
        TicketSummary(html, result, options?.DataDescription);
        if (result.Rounds.Count > 0)
        {
            bool test = result.Rounds[0].Ticket.TestAccuracy is not null;
            string scored = test ? "test" : "validation";
            html.Append("<h2>Accuracy against weights remaining</h2>\n");
            RoundChart(html, result, "accuracy", $"{scored} accuracy (%)", r => 100 * (r.TestAccuracy ?? r.ValidationAccuracy), "F1",
                $"{Capital(scored)} accuracy at the early-stopping epoch against the share of weights remaining (log scale); the grey line is the dense network.");
            html.Append("<h2>Early stopping</h2>\n");
            RoundChart(html, result, "early-stop", "early-stopping epoch", r => r.EarlyStopEpoch, "0",
                "The epoch of the lowest validation loss per round (the paper's early-stopping criterion), against the share of weights remaining.");
            RoundTable(html, result, scored);
        }
        else
        {
            html.Append("<p class=\"note\">No round completed, so there is nothing to chart.</p>\n");
        }

        return Close(html, "Made by MLNet.Regularization. Every run of a round trains with the same settings and seed; runs differ only in their mask and starting weights. "
            + "Accuracies are measured in inference mode on the weights of the early-stopping epoch.");
    }

    /// <summary>Writes the lottery-ticket page to <paramref name="path"/> atomically (temporary file, then rename).</summary>
    /// <param name="result">The experiment's result.</param>
    /// <param name="path">The HTML file; its folder must exist.</param>
    /// <param name="options">Title and data description; defaults when null.</param>
    public static void Write(LotteryTicketResult result, string path, HtmlReportOptions? options = null) =>
        AtomicFile.WriteAllText(path, Render(result, options));

    private static void TicketSummary(StringBuilder html, LotteryTicketResult r, string? data)
    {
        var o = r.Options;
        html.Append("<p class=\"summary\">");
        if (data is not null)
        {
            html.Append(E(data)).Append("<br/>");
        }

        string reset = o.Reset switch
        {
            TicketReset.Rewind => F($"survivors rewound to their weights after {o.RewindIteration} steps of the dense run"),
            TicketReset.None => "survivors keep their trained weights (prune and fine-tune)",
            _ => "survivors reset to their initialization θ₀",
        };
        string how = r.Cancelled ? "cancelled" : r.BudgetExhausted ? "stopped by the time budget" : "finished";
        html.Append(E(F($"Iterative magnitude pruning: {100 * o.PruneRate:0.#}% of the surviving weights per round ({(o.Scope == PruningScope.Global ? "global" : "layer-wise")}, output layer {100 * o.PruningStep.EffectiveOutputLayerRate:0.#}%), {reset}. ")))
            .Append(E(F($"{r.TrainCount:N0} training / {r.ValidationCount:N0} validation / {r.TestCount:N0} test examples; {o.Training.Describe()}. ")))
            .Append(E(F($"{r.Rounds.Count} round{(r.Rounds.Count == 1 ? "" : "s")} in {r.Elapsed.TotalSeconds:F0} s, {how}.")))
            .Append("</p>\n");
    }

    /// <summary>One chart of a per-run value against the share of weights remaining (log scale, 100% on the left).</summary>
    private static void RoundChart(StringBuilder html, LotteryTicketResult result, string cssClass, string yLabel, Func<TicketRun, double> value, string format, string caption)
    {
        var points = result.Rounds.SelectMany(round => round.Runs.Select(run => (round.Round, round.FractionRemaining, run.Kind, Value: value(run))))
            .Where(p => double.IsFinite(p.Value)).ToList();
        double lowest = Math.Min(0.5, result.Rounds.Min(r => r.FractionRemaining));
        double lo = points.Count == 0 ? 0 : points.Min(p => p.Value), hi = points.Count == 0 ? 1 : points.Max(p => p.Value);
        var (yMin, yMax, yTicks) = NiceScale(lo - (0.05 * (hi - lo + 1e-9)), hi + (0.05 * (hi - lo + 1e-9)));
        var plot = new Plot(1040, 380, 64, 24, 20, 48, 0, Math.Log10(lowest), yMin, yMax);
        html.Append("<figure>\n")
            .Append(F($"<svg class=\"chart {cssClass}\" viewBox=\"0 0 {plot.Width} {plot.Height}\" width=\"{plot.Width}\" height=\"{plot.Height}\" role=\"img\" aria-label=\"{yLabel} against weights remaining\">\n"));
        plot.Axes(html, [], yTicks, "weights remaining (%, log scale)", yLabel, format);
        foreach (double tick in PercentTicks(lowest))
        {
            double x = plot.X(Math.Log10(tick / 100));
            html.Append(F($"<line class=\"grid\" x1=\"{x:F1}\" y1=\"{plot.Top}\" x2=\"{x:F1}\" y2=\"{plot.Height - plot.Bottom}\"/>"))
                .Append(F($"<text class=\"tick\" x=\"{x:F1}\" y=\"{plot.Height - plot.Bottom + 16}\" text-anchor=\"middle\">{tick:0.#}</text>"));
        }

        if (cssClass == "accuracy" && points.FirstOrDefault(p => p.Round == 0 && p.Kind == TicketRunKind.Ticket) is { Kind: TicketRunKind.Ticket } dense)
        {
            html.Append(F($"<line class=\"dense\" x1=\"{plot.Left}\" y1=\"{plot.Y(dense.Value):F1}\" x2=\"{plot.Width - plot.Right}\" y2=\"{plot.Y(dense.Value):F1}\"/>"));
        }

        foreach (var (kind, id, name, color, dash) in RunStyles)
        {
            // Every control starts from the dense network of round 0.
            var series = points.Where(p => p.Kind == kind || (p.Round == 0 && kind != TicketRunKind.Ticket)).OrderBy(p => p.Round).ToList();
            if (!series.Any(p => p.Round > 0 && p.Kind == kind) && kind != TicketRunKind.Ticket)
            {
                continue;
            }

            html.Append("<g class=\"series\" data-run=\"").Append(id).Append("\" stroke=\"").Append(color).Append("\" fill=\"").Append(color).Append("\"><title>").Append(E(name)).Append("</title>")
                .Append("<polyline fill=\"none\" stroke-width=\"2\" ").Append(dash).Append(" points=\"")
                .AppendJoin(' ', series.Select(p => F($"{plot.X(Math.Log10(p.FractionRemaining)):F1},{plot.Y(p.Value):F1}")))
                .Append("\"/>");
            foreach (var p in series.Where(p => p.Kind == kind))
            {
                html.Append(F($"<circle r=\"3.5\" cx=\"{plot.X(Math.Log10(p.FractionRemaining)):F1}\" cy=\"{plot.Y(p.Value):F1}\" data-round=\"{p.Round}\" data-remaining=\"{p.FractionRemaining:G6}\" data-value=\"{p.Value:G6}\">"))
                    .Append("<title>").Append(E(F($"{name}, round {p.Round}: {100 * p.FractionRemaining:0.##}% of weights, {p.Value.ToString(format, CultureInfo.InvariantCulture)}"))).Append("</title></circle>");
            }

            html.Append("</g>\n");
        }

        html.Append("</svg>\n<figcaption>").Append(E(caption)).Append("</figcaption>\n<ul class=\"legend\">");
        foreach (var (kind, _, name, color, _) in RunStyles.Where(s => s.Kind == TicketRunKind.Ticket || result.Rounds.Any(r => r.Runs.Any(x => x.Kind == s.Kind))))
        {
            html.Append("<li><span class=\"swatch\" style=\"background:").Append(color).Append("\"></span>").Append(E(name)).Append("</li>");
        }

        html.Append("</ul>\n</figure>\n");
    }

    private static void RoundTable(StringBuilder html, LotteryTicketResult result, string scored)
    {
        bool reinit = result.Rounds.Any(r => r.RandomReinitialization is not null), random = result.Rounds.Any(r => r.RandomMask is not null);
        html.Append("<h2>Rounds</h2>\n<table class=\"leaderboard rounds\">\n<thead><tr><th>round</th><th>weights</th><th>per layer (%)</th>")
            .Append("<th>ticket</th><th>epoch</th>")
            .Append(reinit ? "<th>re-init</th><th>epoch</th>" : "")
            .Append(random ? "<th>random mask</th><th>epoch</th>" : "")
            .Append("<th>seconds</th></tr></thead>\n<tbody>\n");
        foreach (var round in result.Rounds)
        {
            html.Append(F($"<tr><td>{round.Round}</td><td>{100 * round.FractionRemaining:0.##}%</td><td>"))
                .Append(E(string.Join(" / ", round.Layers.Select(l => F($"{100 * l.FractionRemaining:0.#}"))))).Append("</td>");
            RunCells(html, round.Ticket);
            if (reinit)
            {
                RunCells(html, round.RandomReinitialization);
            }

            if (random)
            {
                RunCells(html, round.RandomMask);
            }

            html.Append(F($"<td>{round.Runs.Sum(r => r.Seconds):F0}</td></tr>\n"));
        }

        html.Append("</tbody>\n</table>\n<p class=\"note\">").Append(E(Capital(scored))).Append(" accuracy of each run. Weights: the share of all prunable weights remaining; ")
            .Append("per layer: the percentage of each prunable layer's weights remaining, input to output. ")
            .Append("Epoch: the early-stopping epoch (lowest validation loss) whose weights are scored.</p>\n");
    }

    private static void RunCells(StringBuilder html, TicketRun? run) => html.Append(run is null
        ? "<td>–</td><td>–</td>"
        : F($"<td>{100 * (run.TestAccuracy ?? run.ValidationAccuracy):F2}%</td><td>{run.EarlyStopEpoch}</td>"));

    /// <summary>1-2-5 percentages from 100 down to <paramref name="lowest"/> (a fraction).</summary>
    private static IEnumerable<double> PercentTicks(double lowest)
    {
        foreach (double decade in new[] { 100.0, 10, 1, 0.1, 0.01 })
        {
            foreach (double step in new[] { 1.0, 0.5, 0.2 })
            {
                double tick = decade * step;
                if (tick <= 100 && tick / 100 >= lowest * 0.999)
                {
                    yield return tick;
                }
            }
        }
    }

    private static string Capital(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];
}
