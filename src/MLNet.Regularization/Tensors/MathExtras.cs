namespace MLNet.Regularization.Tensors;

/// <summary>Scalar functions that <see cref="Math"/> lacks.</summary>
internal static class MathExtras
{
    /// <summary>The error function, to about 1e-15 relative error: the Maclaurin series for |x| &lt; 2.5 and the
    /// continued fraction of erfc beyond (both classical expansions, Abramowitz &amp; Stegun 7.1.5 and 7.1.14).</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x))
        {
            return double.NaN;
        }

        double ax = Math.Abs(x);
        if (ax > 6.0)
        {
            return Math.Sign(x);
        }

        if (ax < 2.5)
        {
            // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 60; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum))
                {
                    break;
                }
            }

            return Math.Sign(x) * sum * 1.1283791670955126;
        }

        // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), evaluated bottom-up.
        double f = ax;
        for (int k = 60; k >= 1; k--)
        {
            f = ax + k * 0.5 / f;
        }

        double erfc = Math.Exp(-ax * ax) / (f * 1.7724538509055160);
        return Math.Sign(x) * (1.0 - erfc);
    }
}
