using System.Globalization;
using System.Net;
using System.Text;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Training;
using MLNet.Regularization.Uncertainty;

namespace MLNet.Regularization.Reporting;

/// <summary>Text around the charts of an <see cref="HtmlReport"/>.</summary>
public sealed class HtmlReportOptions
{
    /// <summary>The page title (default "Regularization comparison").</summary>
    public string Title { get; set; } = "Regularization comparison";

    /// <summary>A line describing the data, such as <c>data.csv: 800 rows, 49 features, 10 classes</c>; optional.</summary>
    public string? DataDescription { get; set; }

    /// <summary>The best model's metrics on separate test data, shown next to the best configuration; optional.</summary>
    public ClassificationMetrics? TestMetrics { get; set; }

    /// <summary>What the test data is, such as <c>test.csv: 200 rows</c>, for the line with <see cref="TestMetrics"/>.</summary>
    public string? TestDescription { get; set; }
}

/// <summary>
/// Renders a <see cref="ComparisonResult"/> as one self-contained HTML page: inline CSS and inline SVG, no script
/// and no external resource, so it opens offline, in a mail attachment or in a CI artifact viewer alike.
/// </summary>
/// <remarks>
/// <para>Sections: the leaderboard table; learning curves (training loss dashed, validation loss solid, one colour per
/// configuration, averaged over each configuration's runs epoch by epoch); generalization-gap bars (training accuracy
/// in inference mode minus validation accuracy); the reliability diagram and confusion matrix of the best model's
/// run.</para>
/// <para>For tools and tests the markup is well-formed XML, and each configuration's curve pair is one
/// <c>&lt;g class="series" data-config="name"&gt;</c> element, each gap bar one <c>&lt;g class="gap-bar"
/// data-config="name"&gt;</c>.</para>
/// </remarks>
public static partial class HtmlReport
{
    private static readonly string[] Palette =
        ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#7f7f7f"];

    /// <summary>The page as a string.</summary>
    /// <param name="result">A comparison's result (cancelled or budget-limited results work too).</param>
    /// <param name="options">Title and data description; defaults when null.</param>
    public static string Render(ComparisonResult result, HtmlReportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        options ??= new HtmlReportOptions();
        var html = Open(options.Title);
        Summary(html, result, options);
        Leaderboard(html, result);
        var ranked = result.Leaderboard;
        if (ranked.Count > 0)
        {
            LearningCurves(html, ranked);
            html.Append("<div class=\"row\">\n");
            GapBars(html, ranked, result.EvaluationSet);
            if (result.BestRun is { } best)
            {
                Reliability(html, result.Best!, best, RunName(result, best), result.EvaluationSet);
            }

            html.Append("</div>\n");
            if (result.BestRun is { } run && run.Validation.Classes <= 20)
            {
                Confusion(html, result.Best!, run, result.BestModel?.ClassNames ?? result.ClassNames, RunName(result, run));
            }

            LearnedNoiseTable(html, ranked);
        }
        else
        {
            html.Append("<p class=\"note\">No trial completed, so there is nothing to chart.</p>\n");
        }

        return Close(html, "Made by MLNet.Regularization. Training loss is measured with the regularizers active (dropout on), as Keras reports it; "
            + "every validation figure and the training accuracy are measured in inference mode.");
    }

    /// <summary>Writes the page to <paramref name="path"/> atomically (temporary file, then rename).</summary>
    /// <param name="result">The comparison's result.</param>
    /// <param name="path">The HTML file; its folder must exist.</param>
    /// <param name="options">Title and data description; defaults when null.</param>
    public static void Write(ComparisonResult result, string path, HtmlReportOptions? options = null) =>
        AtomicFile.WriteAllText(path, Render(result, options));

    /// <summary>The head of a page (inline CSS) and its title.</summary>
    private static StringBuilder Open(string title) => new StringBuilder()
        .Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
        .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
        .Append("<meta name=\"generator\" content=\"MLNet.Regularization\"/>\n")
        .Append("<title>").Append(E(title)).Append("</title>\n<style>").Append(Css).Append("</style>\n</head>\n<body>\n<main>\n")
        .Append("<h1>").Append(E(title)).Append("</h1>\n");

    /// <summary>The footer and the end of a page.</summary>
    private static string Close(StringBuilder html, string footer) =>
        html.Append("<footer>").Append(E(footer)).Append("</footer>\n</main>\n</body>\n</html>\n").ToString();

    /// <summary>The colour of the configuration at a leaderboard position.</summary>
    internal static string Color(int i) => i < Palette.Length
        ? Palette[i]
        : F($"hsl({(i * 137.508) % 360:F0}, 55%, 45%)");

    private static void Summary(StringBuilder html, ComparisonResult r, HtmlReportOptions options)
    {
        var o = r.Options;
        html.Append("<p class=\"summary\">");
        if (options.DataDescription is { } data)
        {
            html.Append(E(data)).Append("<br/>");
        }

        string how = r.Cancelled ? "cancelled" : r.BudgetExhausted ? "stopped by the time budget" : "finished";
        string order = $"({(ComparisonOptions.HigherIsBetter(r.Metric) ? "higher" : "lower")} is better)";
        if (r.Protocol is { } protocol)
        {
            html.Append(E(F($"Ranked by {r.EvaluationSet} {MetricName(r.Metric)} {order} ({r.TrainCount} training / {r.ValidationCount} {r.EvaluationSet} examples); {protocol} ")));
        }
        else
        {
            html.Append(E(F($"Ranked by validation {MetricName(r.Metric)} {order}; {o.DescribeValidation()} ")))
                .Append(E(F($"({r.TrainCount} training / {r.ValidationCount} validation examples per run); {o.Seeds} seed{(o.Seeds == 1 ? "" : "s")} per configuration. ")));
        }

        html
            .Append(E(F($"{r.Trials.Count} trial{(r.Trials.Count == 1 ? "" : "s")} ({r.Leaderboard.Count} completed) in {r.Elapsed.TotalSeconds:F1} s, {how}")));
        if (o.TimeBudget is { } budget)
        {
            html.Append(E(F($" (budget {budget.TotalSeconds:F0} s)")));
        }

        html.Append(".</p>\n");
        if (r.Best is { } best)
        {
            int tied = r.Leaderboard.Count(t => t.Rank > 1 && t.TiedWithBest);
            html.Append("<p class=\"best\">Best: <strong>").Append(E(best.Name)).Append("</strong> with ").Append(E(r.EvaluationSet)).Append(' ')
                .Append(E(MetricName(r.Metric))).Append(' ').Append(E(best.Score.Format()))
                .Append(E(tied > 0 ? F($"; {tied} other configuration{(tied == 1 ? " is" : "s are")} within noise of it (≈ in the leaderboard)") : ""))
                .Append(".</p>\n");
            if (options.TestMetrics is { } test)
            {
                html.Append("<p class=\"test\">Its model on the test data").Append(E(options.TestDescription is { } d ? $" ({d})" : ""))
                    .Append(": <strong>").Append(E(F($"accuracy {test.Accuracy:F4}"))).Append("</strong>")
                    .Append(E(F($", log-loss {test.LogLoss:F4}, macro-F1 {test.MacroF1:F4}, ECE {test.ExpectedCalibrationError:F4} ({test.Count} examples)."))).Append("</p>\n");
            }
        }
    }

    private static void Leaderboard(StringBuilder html, ComparisonResult r)
    {
        html.Append("<h2>Leaderboard</h2>\n<table class=\"leaderboard\">\n<thead><tr><th>rank</th><th>configuration</th>")
            .Append("<th>accuracy</th><th>log-loss</th><th>macro-F1</th><th>ECE</th><th>train accuracy</th><th>gap (points)</th><th>seconds</th></tr></thead>\n<tbody>\n");
        var rows = r.Leaderboard.Concat(r.Trials.Where(t => t.Status != TrialStatus.Completed));
        bool spread = HasSpread(r);
        int i = 0;
        foreach (var t in rows)
        {
            bool ranked = t.Status == TrialStatus.Completed;
            html.Append(ranked ? "<tr>" : "<tr class=\"unranked\">")
                .Append("<td>").Append(ranked ? (t.Rank > 1 && t.TiedWithBest ? "≈" : "") + t.Rank.ToString(CultureInfo.InvariantCulture) : "–").Append("</td><td>");
            if (ranked)
            {
                html.Append("<span class=\"swatch\" style=\"background:").Append(Color(i)).Append("\"></span>");
            }

            html.Append(E(t.Name));
            if (t.Description is { } description)
            {
                html.Append("<div class=\"spec\">").Append(E(description)).Append("</div>");
            }

            if (ranked)
            {
                html.Append("</td>")
                    .Append(Cell(t.Accuracy, "F4", r.Metric == RankingMetric.Accuracy, spread))
                    .Append(Cell(t.LogLoss, "F4", r.Metric == RankingMetric.LogLoss, spread))
                    .Append(Cell(t.MacroF1, "F4", r.Metric == RankingMetric.MacroF1, spread))
                    .Append(Cell(t.CalibrationError, "F4", false, spread))
                    .Append(Cell(t.TrainAccuracy, "F4", false, spread))
                    .Append(Cell(Points(t.GeneralizationGap), "F1", false, spread));
                i++;
            }
            else
            {
                string why = t.Status switch
                {
                    TrialStatus.OutOfBudget => "not ranked: interrupted by the time budget",
                    TrialStatus.Cancelled => "not ranked: cancelled",
                    _ => $"not ranked: failed ({t.Error})",
                };
                html.Append("</td><td colspan=\"6\">").Append(E(why)).Append("</td>");
            }

            html.Append("<td>").Append(F($"{t.Seconds:F1}")).Append("</td></tr>\n");
        }

        html.Append("</tbody>\n</table>\n<p class=\"note\">");
        if (spread)
        {
            html.Append("Mean ± sample standard deviation over ")
                .Append(E(F($"{r.Options.Seeds} seed(s) × {(r.Options.Validation == ValidationMethod.KFold ? r.Options.Folds * r.Options.Repeats : 1)} split(s)")))
                .Append(". ");
        }

        if (r.Leaderboard.Any(t => t.VersusBest is not null))
        {
            var method = r.Leaderboard.First(t => t.VersusBest is not null).VersusBest!.Method;
            html.Append("≈: within noise of the best (two-sided test at 5%: ").Append(E(method)).Append("). ");
        }

        html.Append("ECE: expected calibration error over 15 equal-width confidence bins. Gap: training accuracy minus ").Append(E(r.EvaluationSet)).Append(" accuracy, in percentage points (as on the console).</p>\n");
    }

    /// <summary>A cell with the mean and, when some configuration ran more than once, the standard deviation.</summary>
    private static string Cell(MetricSummary s, string format, bool key, bool spread) =>
        $"<td{(key ? " class=\"key\"" : "")}>{E(s.Mean.ToString(format, CultureInfo.InvariantCulture))}" +
        (spread ? $"<span class=\"sd\"> ± {E(s.StdDev.ToString(format, CultureInfo.InvariantCulture))}</span>" : "") + "</td>";

    /// <summary>True when some configuration ran more than once, so a standard deviation means something.</summary>
    private static bool HasSpread(ComparisonResult r) => r.Trials.Any(t => t.Runs.Count > 1);

    private static MetricSummary Points(MetricSummary s) => s with { Mean = s.Mean * 100, StdDev = s.StdDev * 100 };

    private static void LearningCurves(StringBuilder html, IReadOnlyList<TrialResult> ranked)
    {
        var curves = ranked.Select(t => (Trial: t, Train: MeanCurve(t, e => e.TrainLoss), Validation: MeanCurve(t, e => e.ValidationLoss))).ToList();
        var all = curves.SelectMany(c => c.Train.Concat(c.Validation)).Where(double.IsFinite).ToList();
        int maxEpoch = Math.Max(2, curves.Max(c => Math.Max(c.Train.Length, c.Validation.Length)));
        double lo = all.Count == 0 ? 0 : all.Min(), hi = all.Count == 0 ? 1 : all.Max();
        var (yMin, yMax, yTicks) = NiceScale(Math.Max(0, lo - (0.05 * (hi - lo))), hi + (0.05 * (hi - lo)));
        var plot = new Plot(1040, 400, 64, 24, 24, 48, 1, maxEpoch, yMin, yMax);

        html.Append("<h2>Learning curves</h2>\n<figure>\n")
            .Append(F($"<svg class=\"chart learning-curves\" viewBox=\"0 0 {plot.Width} {plot.Height}\" width=\"{plot.Width}\" height=\"{plot.Height}\" role=\"img\" aria-label=\"training and validation loss per epoch\">\n"));
        plot.Axes(html, EpochTicks(maxEpoch), yTicks, "epoch", "loss (cross-entropy)", "F2");
        for (int i = 0; i < curves.Count; i++)
        {
            var (trial, train, validation) = curves[i];
            html.Append("<g class=\"series\" data-config=\"").Append(E(trial.Name)).Append("\" stroke=\"").Append(Color(i)).Append("\">")
                .Append("<title>").Append(E(trial.Name)).Append("</title>");
            Polyline(html, plot, train, "train", "stroke-dasharray=\"6 4\"");
            Polyline(html, plot, validation, "validation", "");
            html.Append("</g>\n");
        }

        html.Append("</svg>\n<figcaption>Dashed: training loss (regularizers active). Solid: validation loss (inference mode). Mean over each configuration's runs.</figcaption>\n");
        Legend(html, ranked);
        html.Append("</figure>\n");
    }

    private static void Polyline(StringBuilder html, Plot plot, double[] values, string cssClass, string extra)
    {
        var points = new StringBuilder();
        for (int e = 0; e < values.Length; e++)
        {
            if (double.IsFinite(values[e]))
            {
                points.Append(F($"{plot.X(e + 1):F1},{plot.Y(values[e]):F1} "));
            }
        }

        if (points.Length > 0)
        {
            html.Append("<polyline class=\"").Append(cssClass).Append("\" fill=\"none\" stroke-width=\"2\" ").Append(extra).Append(" points=\"").Append(points.ToString().TrimEnd()).Append("\"/>");
        }
    }

    private static void Legend(StringBuilder html, IReadOnlyList<TrialResult> ranked)
    {
        html.Append("<ul class=\"legend\">");
        for (int i = 0; i < ranked.Count; i++)
        {
            html.Append("<li><span class=\"swatch\" style=\"background:").Append(Color(i)).Append("\"></span>").Append(E(ranked[i].Name)).Append("</li>");
        }

        html.Append("</ul>\n");
    }

    private static void GapBars(StringBuilder html, IReadOnlyList<TrialResult> ranked, string evaluationSet)
    {
        const int RowHeight = 26, Label = 190, Width = 440;
        int height = 40 + (ranked.Count * RowHeight);
        double lo = Math.Min(0, ranked.Min(t => t.GeneralizationGap.Mean)), hi = Math.Max(0, ranked.Max(t => t.GeneralizationGap.Mean));
        if (hi - lo < 1e-9)
        {
            hi = lo + 0.01;
        }

        var (xMin, xMax, ticks) = NiceScale(lo * 100, hi * 100);
        double X(double points) => Label + ((points - xMin) / (xMax - xMin) * (Width - Label - 48));
        html.Append("<figure class=\"half\">\n<h3>Generalization gap</h3>\n")
            .Append(F($"<svg class=\"chart gap\" viewBox=\"0 0 {Width} {height}\" width=\"{Width}\" height=\"{height}\" role=\"img\" aria-label=\"generalization gap per configuration\">\n"));
        foreach (double t in ticks)
        {
            html.Append(F($"<line class=\"grid\" x1=\"{X(t):F1}\" y1=\"10\" x2=\"{X(t):F1}\" y2=\"{height - 24}\"/>"))
                .Append(F($"<text class=\"tick\" x=\"{X(t):F1}\" y=\"{height - 8}\" text-anchor=\"middle\">{t:0.#}</text>"));
        }

        for (int i = 0; i < ranked.Count; i++)
        {
            var t = ranked[i];
            double gap = t.GeneralizationGap.Mean * 100;
            double y = 14 + (i * RowHeight);
            double x0 = X(Math.Min(0, gap)), x1 = X(Math.Max(0, gap));
            html.Append("<g class=\"gap-bar\" data-config=\"").Append(E(t.Name)).Append("\">")
                .Append(F($"<text class=\"label\" x=\"{Label - 8}\" y=\"{y + 14:F1}\" text-anchor=\"end\">")).Append(E(Shorten(t.Name, 26))).Append("</text>")
                .Append(F($"<rect x=\"{x0:F1}\" y=\"{y + 2:F1}\" width=\"{Math.Max(1, x1 - x0):F1}\" height=\"{RowHeight - 8}\" fill=\"{Color(i)}\"/>"))
                .Append(F($"<text class=\"value\" x=\"{x1 + 4:F1}\" y=\"{y + 14:F1}\">{gap:F1}</text>"))
                .Append("</g>\n");
        }

        html.Append(F($"<line class=\"axis\" x1=\"{X(0):F1}\" y1=\"10\" x2=\"{X(0):F1}\" y2=\"{height - 24}\"/>"))
            .Append("</svg>\n<figcaption>Training accuracy minus ").Append(E(evaluationSet)).Append(" accuracy, in percentage points (smaller means less overfitting).</figcaption>\n</figure>\n");
    }

    private static void Reliability(StringBuilder html, TrialResult best, RunResult run, string runName, string evaluationSet)
    {
        var bins = run.Validation.ReliabilityBins;
        var plot = new Plot(440, 400, 56, 16, 20, 48, 0, 1, 0, 1);
        double ece = run.Validation.ExpectedCalibrationError;
        html.Append("<figure class=\"half\">\n<h3>Reliability diagram of the best model</h3>\n")
            .Append(F($"<svg class=\"chart reliability\" viewBox=\"0 0 {plot.Width} {plot.Height}\" width=\"{plot.Width}\" height=\"{plot.Height}\" role=\"img\" aria-label=\"reliability diagram\">\n"));
        double[] ticks = [0, 0.2, 0.4, 0.6, 0.8, 1.0];
        plot.Axes(html, ticks, ticks, "confidence", "accuracy", "F1");
        foreach (var b in bins)
        {
            if (b.Count == 0)
            {
                continue;
            }

            double x = plot.X(b.Lower) + 1, w = plot.X(b.Upper) - plot.X(b.Lower) - 2;
            double top = Math.Max(b.Accuracy, b.MeanConfidence), bottom = Math.Min(b.Accuracy, b.MeanConfidence);
            html.Append(F($"<rect class=\"bin\" x=\"{x:F1}\" y=\"{plot.Y(b.Accuracy):F1}\" width=\"{w:F1}\" height=\"{plot.Y(0) - plot.Y(b.Accuracy):F1}\"><title>({b.Lower:F2}, {b.Upper:F2}]: {b.Count} examples, accuracy {b.Accuracy:F3}, confidence {b.MeanConfidence:F3}</title></rect>"))
                .Append(F($"<rect class=\"miscalibration\" x=\"{x:F1}\" y=\"{plot.Y(top):F1}\" width=\"{w:F1}\" height=\"{plot.Y(bottom) - plot.Y(top):F1}\"/>"));
        }

        html.Append(F($"<line class=\"diagonal\" x1=\"{plot.X(0):F1}\" y1=\"{plot.Y(0):F1}\" x2=\"{plot.X(1):F1}\" y2=\"{plot.Y(1):F1}\"/>"))
            .Append("</svg>\n<figcaption>")
            .Append(E(F($"{best.Name}, {runName}: accuracy per confidence bin (15 equal-width bins) against the diagonal of perfect calibration; red: the gap to it. ECE = {ece:F4} on {run.Validation.Count} {evaluationSet} examples.")))
            .Append("</figcaption>\n</figure>\n");
    }

    private static void Confusion(StringBuilder html, TrialResult best, RunResult run, IReadOnlyList<string>? names, string runName)
    {
        var m = run.Validation.ConfusionMatrix;
        int k = m.Length;
        string Name(int c) => names is not null && c < names.Count ? names[c] : c.ToString(CultureInfo.InvariantCulture);
        int max = Math.Max(1, m.SelectMany(r => r).Max());
        html.Append("<h2>Confusion matrix of the best model</h2>\n<table class=\"confusion\">\n<thead><tr><th>true \\ predicted</th>");
        for (int c = 0; c < k; c++)
        {
            html.Append("<th>").Append(E(Name(c))).Append("</th>");
        }

        html.Append("<th>F1</th></tr></thead>\n<tbody>\n");
        for (int t = 0; t < k; t++)
        {
            html.Append("<tr><th>").Append(E(Name(t))).Append("</th>");
            for (int p = 0; p < k; p++)
            {
                double share = (double)m[t][p] / max;
                string color = t == p ? F($"rgba(89,161,79,{0.12 + (0.75 * share):F2})") : F($"rgba(225,87,89,{(m[t][p] == 0 ? 0 : 0.1 + (0.8 * share)):F2})");
                html.Append("<td style=\"background:").Append(color).Append("\">").Append(m[t][p].ToString(CultureInfo.InvariantCulture)).Append("</td>");
            }

            double f1 = run.Validation.PerClassF1[t];
            html.Append("<td>").Append(double.IsNaN(f1) ? "–" : F($"{f1:F3}")).Append("</td></tr>\n");
        }

        html.Append("</tbody>\n</table>\n<p class=\"note\">").Append(E(F($"{best.Name}, {runName}: rows are true classes, columns predictions; macro-F1 {run.Validation.MacroF1:F4}.")))
            .Append("</p>\n");
    }

    /// <summary>Per-epoch mean over a trial's runs of one series (runs shorter than the longest, from early
    /// stopping, simply stop contributing).</summary>
    private static double[] MeanCurve(TrialResult trial, Func<EpochRecord, double?> value)
    {
        int epochs = trial.Runs.Count == 0 ? 0 : trial.Runs.Max(r => r.History.Epochs.Count);
        var mean = new double[epochs];
        for (int e = 0; e < epochs; e++)
        {
            var values = trial.Runs.Where(r => r.History.Epochs.Count > e).Select(r => value(r.History.Epochs[e])).Where(v => v is not null && double.IsFinite(v.Value)).Select(v => v!.Value).ToList();
            mean[e] = values.Count == 0 ? double.NaN : values.Average();
        }

        return mean;
    }

    private static double[] EpochTicks(int maxEpoch)
    {
        int step = Math.Max(1, (int)Math.Ceiling(maxEpoch / 10.0));
        var ticks = new List<double> { 1 };
        for (int e = step; e <= maxEpoch; e += step)
        {
            if (e != 1)
            {
                ticks.Add(e);
            }
        }

        return [.. ticks];
    }

    /// <summary>A range widened to round numbers and about five ticks inside it.</summary>
    internal static (double Min, double Max, double[] Ticks) NiceScale(double lo, double hi)
    {
        if (!(hi > lo))
        {
            hi = lo + 1;
        }

        double raw = (hi - lo) / 5;
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double normalized = raw / magnitude;
        double step = normalized switch { < 1.5 => 1, < 3 => 2, < 7 => 5, _ => 10 } * magnitude;
        double min = Math.Floor(lo / step) * step, max = Math.Ceiling(hi / step) * step;
        var ticks = new List<double>();
        for (double t = min; t <= max + (step / 2); t += step)
        {
            ticks.Add(Math.Round(t / step) * step);
        }

        return (min, max, [.. ticks]);
    }

    /// <summary>Which run a chart shows: its seed, and its fold under k-fold validation.</summary>
    private static string RunName(ComparisonResult result, RunResult run) => result.Protocol is not null ? $"{result.EvaluationSet} set"
        : result.Options.Validation == ValidationMethod.KFold ? F($"seed {run.Seed}, {(result.Options.Repeats > 1 ? $"repeat {run.Repeat + 1}, " : "")}fold {run.Fold + 1}")
        : F($"seed {run.Seed}");

    private static string Shorten(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";

    private static string MetricName(RankingMetric metric) => metric switch
    {
        RankingMetric.LogLoss => "log-loss",
        RankingMetric.MacroF1 => "macro-F1",
        _ => "accuracy",
    };

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>A plotting area with linear axes.</summary>
    private sealed record Plot(int Width, int Height, int Left, int Right, int Top, int Bottom, double XMin, double XMax, double YMin, double YMax)
    {
        public double X(double v) => Left + ((v - XMin) / (XMax - XMin) * (Width - Left - Right));

        public double Y(double v) => Height - Bottom - ((v - YMin) / (YMax - YMin) * (Height - Top - Bottom));

        public void Axes(StringBuilder html, double[] xTicks, double[] yTicks, string xLabel, string yLabel, string yFormat)
        {
            foreach (double t in yTicks)
            {
                html.Append(F($"<line class=\"grid\" x1=\"{Left}\" y1=\"{Y(t):F1}\" x2=\"{Width - Right}\" y2=\"{Y(t):F1}\"/>"))
                    .Append(F($"<text class=\"tick\" x=\"{Left - 6}\" y=\"{Y(t) + 4:F1}\" text-anchor=\"end\">{t.ToString(yFormat, CultureInfo.InvariantCulture)}</text>"));
            }

            foreach (double t in xTicks)
            {
                html.Append(F($"<line class=\"grid\" x1=\"{X(t):F1}\" y1=\"{Top}\" x2=\"{X(t):F1}\" y2=\"{Height - Bottom}\"/>"))
                    .Append(F($"<text class=\"tick\" x=\"{X(t):F1}\" y=\"{Height - Bottom + 16}\" text-anchor=\"middle\">{t:0.##}</text>"));
            }

            html.Append(F($"<line class=\"axis\" x1=\"{Left}\" y1=\"{Height - Bottom}\" x2=\"{Width - Right}\" y2=\"{Height - Bottom}\"/>"))
                .Append(F($"<line class=\"axis\" x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Height - Bottom}\"/>"))
                .Append(F($"<text class=\"axis-label\" x=\"{(Left + Width - Right) / 2.0:F1}\" y=\"{Height - 8}\" text-anchor=\"middle\">{xLabel}</text>"))
                .Append(F($"<text class=\"axis-label\" transform=\"translate(16 {(Top + Height - Bottom) / 2.0:F1}) rotate(-90)\" text-anchor=\"middle\">{yLabel}</text>\n"));
        }
    }

    private const string Css = """

body { margin: 0; background: #f7f7f5; color: #222; font: 14px/1.45 "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 40px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid #e4e4e0; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 0 0 6px; }
.summary, .note, figcaption, footer { color: #555; }
.note, figcaption { font-size: 12.5px; }
.best { font-size: 15px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
.leaderboard { width: 100%; }
.leaderboard th, .leaderboard td { white-space: nowrap; padding: 5px 8px; border-bottom: 1px solid #eee; text-align: right; vertical-align: top; }
.leaderboard th:nth-child(2), .leaderboard td:nth-child(2) { text-align: left; }
.leaderboard thead th { border-bottom: 2px solid #ccc; font-weight: 600; }
.leaderboard td.key { font-weight: 600; }
.leaderboard .sd { color: #888; font-weight: normal; font-size: 12px; }
.leaderboard .spec { color: #888; font-size: 11.5px; white-space: normal; }
.leaderboard tr.unranked td { color: #999; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 7px; vertical-align: -1px; }
figure { margin: 0; }
.row { display: flex; flex-wrap: wrap; gap: 28px; margin-top: 28px; }
.half { flex: 1 1 440px; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg.learning-curves { width: 100%; }
svg .grid { stroke: #ececec; stroke-width: 1; }
svg .axis { stroke: #888; stroke-width: 1; }
svg text { font-size: 11.5px; fill: #555; }
svg .axis-label { font-size: 12.5px; fill: #333; }
svg .label { fill: #333; }
svg .bin { fill: #4e79a7; fill-opacity: 0.85; }
svg .miscalibration { fill: #e15759; fill-opacity: 0.25; stroke: #e15759; stroke-width: 1; }
svg .diagonal { stroke: #555; stroke-dasharray: 4 4; }
svg .dense { stroke: #999; stroke-dasharray: 3 3; }
.legend { list-style: none; padding: 0; margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 13px; }
.confusion th, .confusion td { padding: 4px 8px; text-align: right; border: 1px solid #eee; font-size: 12.5px; }
.confusion thead th { font-weight: 600; }
.learned td.bar { width: 140px; }
.learned .kept { height: 10px; background: #4e79a7; border-radius: 2px; }
.learned .track { background: #eee; border-radius: 2px; }
footer { margin-top: 32px; font-size: 12px; border-top: 1px solid #eee; padding-top: 8px; }

""";
}
