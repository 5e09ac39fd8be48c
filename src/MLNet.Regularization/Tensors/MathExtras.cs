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

    /// <summary>The complementary error function 1 − erf(x), accurate in the upper tail too (where 1 − erf(x) would
    /// cancel to 0): the continued fraction of erfc for x ≥ 2.5, erfc(x) = 2 − erfc(−x) below −2.5.</summary>
    public static double Erfc(double x)
    {
        if (double.IsNaN(x))
        {
            return double.NaN;
        }

        if (x < -2.5)
        {
            return 2.0 - Erfc(-x);
        }

        if (x < 2.5)
        {
            return 1.0 - Erf(x);
        }

        if (x > 27.3)
        {
            return 0.0; // below the smallest double
        }

        double f = x;
        for (int k = 60; k >= 1; k--)
        {
            f = x + k * 0.5 / f;
        }

        return Math.Exp(-x * x) / (f * 1.7724538509055160);
    }

    /// <summary>1/√(2π).</summary>
    public const double InvSqrt2Pi = 0.3989422804014327;

    /// <summary>The standard normal density φ(x) = exp(−x²/2)/√(2π).</summary>
    public static double NormalPdf(double x) => InvSqrt2Pi * Math.Exp(-0.5 * x * x);

    /// <summary>The standard normal distribution function Φ(x) = erfc(−x/√2)/2, accurate in the lower tail down to
    /// x ≈ −37 (Φ(x) ≈ 1e−300), where 1 + erf would have cancelled long before.</summary>
    public static double NormalCdf(double x) => 0.5 * Erfc(-x * 0.7071067811865476);

    /// <summary>The standard normal quantile Φ⁻¹(p) for p in (0, 1): a starting point from the tail expansion (or the
    /// linear one near the median), then Halley's iteration on Φ(t) − p, which converges cubically; p &gt; 1/2 is
    /// answered by symmetry. Accurate to about 1e-13 relative to the distance from the median.</summary>
    /// <exception cref="ArgumentOutOfRangeException">p is not in (0, 1).</exception>
    public static double InverseNormalCdf(double p)
    {
        if (!(p > 0.0 && p < 1.0))
        {
            throw new ArgumentOutOfRangeException(nameof(p), p, "the normal quantile needs a probability in (0, 1).");
        }

        if (p > 0.5)
        {
            return -InverseNormalCdf(1.0 - p);
        }

        double t;
        if (p > 0.3)
        {
            t = (p - 0.5) * 2.5066282746310002; // √(2π)(p − ½): the tangent at the median
        }
        else
        {
            // Φ(t) ≈ φ(t)/|t| in the tail: t ≈ −√(L − ln L) with L = −2 ln(p√(2π)), good to a few per cent.
            double l = -2.0 * Math.Log(p * 2.5066282746310002);
            t = -Math.Sqrt(Math.Max(l - Math.Log(Math.Max(l, 1e-300)), 0.01));
        }

        for (int i = 0; i < 50; i++)
        {
            double e = NormalCdf(t) - p;
            double u = e / NormalPdf(t);
            double step = u / (1.0 + 0.5 * t * u);
            t -= step;
            if (Math.Abs(step) <= 1e-14 * Math.Max(1.0, Math.Abs(t)))
            {
                break;
            }
        }

        return t;
    }

    /// <summary>The logistic function 1/(1 + e^−x) in double precision, without overflow for large |x|.</summary>
    public static double Sigmoid(double x) => x >= 0 ? 1.0 / (1.0 + Math.Exp(-x)) : Math.Exp(x) / (1.0 + Math.Exp(x));

    /// <summary>log(1 + e^x) without overflow (the softplus).</summary>
    public static double Softplus(double x) => x > 30 ? x + double.LogP1(Math.Exp(-x)) : double.LogP1(Math.Exp(x));
}
