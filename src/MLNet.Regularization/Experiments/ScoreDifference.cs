using MLNet.Regularization.Training;

namespace MLNet.Regularization.Experiments;

/// <summary>
/// How far a configuration's score lies behind the leader's, with the standard error of that difference, and
/// whether the difference is within the noise of the protocol: a two-sided test at the 5% level.
/// </summary>
/// <param name="Difference">Leader's mean score minus this configuration's, oriented so that a positive value means
/// the leader is better (for log-loss: this configuration's mean minus the leader's).</param>
/// <param name="StandardError">The standard error of <see cref="Difference"/>.</param>
/// <param name="CriticalValue">The multiple of the standard error the difference must exceed (Student's t at
/// 97.5% with J − 1 degrees of freedom for J paired runs; 1.96 for one run).</param>
/// <param name="Method">The test, in words, for reports.</param>
/// <remarks>
/// <para>Runs are paired: every configuration trains on the same splits with the same seeds, in the same order, so
/// the per-run differences d_j remove what the splits themselves contribute.</para>
/// <para>k-fold (J = folds × repeats × seeds runs): the corrected resampled t-test of Nadeau &amp; Bengio (2003).
/// The training sets of different folds overlap, so the runs are not independent and the plain paired t-test is
/// far too confident; the corrected variance of the mean difference is (1/J + n_validation/n_train)·s_d².</para>
/// <para>Holdout with several seeds: the seeds' spread s_d²/J measures training noise only, since every run scores
/// the same validation rows; for accuracy the binomial variance of two accuracies on those rows,
/// (p₁(1 − p₁) + p₂(1 − p₂))/n, is added for the noise of the rows themselves. With one run that binomial term is
/// all there is, so a holdout ranked by log-loss or macro-F1 on one seed has no noise estimate.</para>
/// </remarks>
public sealed record ScoreDifference(double Difference, double StandardError, double CriticalValue, string Method)
{
    /// <summary>True when <see cref="Difference"/> is smaller than <see cref="CriticalValue"/> standard errors:
    /// the data cannot tell this configuration from the leader.</summary>
    public bool WithinNoise => !(Difference > CriticalValue * StandardError);

    /// <summary>The difference of <paramref name="other"/> from <paramref name="best"/>, or null when the protocol
    /// gives no estimate of its noise.</summary>
    internal static ScoreDifference? Between(TrialResult best, TrialResult other, ComparisonOptions options, int trainCount, int validationCount)
    {
        int runs = Math.Min(best.Runs.Count, other.Runs.Count);
        if (runs == 0)
        {
            return null;
        }

        double sign = ComparisonOptions.HigherIsBetter(options.Metric) ? 1 : -1;
        var d = Enumerable.Range(0, runs)
            .Select(j => sign * (best.Runs[j].Validation.Get(options.Metric) - other.Runs[j].Validation.Get(options.Metric)))
            .ToArray();
        double mean = d.Average();
        double variance = runs < 2 ? 0 : d.Sum(v => (v - mean) * (v - mean)) / (runs - 1);
        if (options.Validation == ValidationMethod.KFold && runs >= 2)
        {
            double corrected = ((1.0 / runs) + ((double)validationCount / trainCount)) * variance;
            return new ScoreDifference(mean, Math.Sqrt(corrected), StudentT975(runs - 1),
                $"corrected resampled t-test over {runs} paired runs (Nadeau & Bengio, 2003)");
        }

        bool accuracy = options.Metric == RankingMetric.Accuracy;
        if (!accuracy && runs < 2)
        {
            return null;
        }

        double seedVariance = runs < 2 ? 0 : variance / runs;
        double rowVariance = accuracy ? (Binomial(best.Accuracy.Mean) + Binomial(other.Accuracy.Mean)) / validationCount : 0;
        string method = runs < 2
            ? $"binomial standard error of two accuracies on {validationCount} validation rows"
            : $"paired seeds' spread over {runs} runs" + (accuracy ? $" plus the binomial error of {validationCount} validation rows" : "");
        return new ScoreDifference(mean, Math.Sqrt(seedVariance + rowVariance), runs < 2 ? 1.96 : StudentT975(runs - 1), method);
    }

    private static double Binomial(double p) => p * (1 - p);

    /// <summary>The 97.5% quantile of Student's t distribution with <paramref name="df"/> degrees of freedom: a table
    /// up to 30, beyond that the normal quantile with its first Cornish–Fisher correction, z + (z³ + z)/(4·df).</summary>
    internal static double StudentT975(int df)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(df);
        ReadOnlySpan<double> table =
        [
            12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
            2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
            2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
        ];
        const double Z = 1.959964;
        return df <= table.Length ? table[df - 1] : Z + (((Z * Z * Z) + Z) / (4.0 * df));
    }
}
