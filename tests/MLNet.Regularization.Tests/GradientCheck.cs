using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using Xunit;

namespace MLNet.Regularization.Tests;

/// <summary>
/// Finite-difference gradient checks. The scalar under test is L = Σ r ⊙ layer(x) for a fixed random r, so that
/// dL/dy = r. Stochastic layers are evaluated with a fresh context seeded identically for every evaluation,
/// which fixes their masks and noise.
/// </summary>
internal static class GradientCheck
{
    public const double Step = 1e-2;

    public static ForwardContext TrainContext(int seed = 123) => new(ForwardMode.Train, new Rng(seed), threads: 1);

    public static Tensor Random(int seed, float scale, params int[] shape)
    {
        var t = new Tensor(shape);
        new Rng(seed).FillGaussian(t.Span);
        for (int i = 0; i < t.Length; i++)
        {
            t.Data[i] *= scale;
        }

        return t;
    }

    /// <summary>Moves inputs away from kinks (|x| &lt; margin) so piecewise-linear layers are differentiable there.</summary>
    public static void AwayFromZero(Tensor t, float margin)
    {
        for (int i = 0; i < t.Length; i++)
        {
            if (MathF.Abs(t.Data[i]) < margin)
            {
                t.Data[i] = t.Data[i] < 0 ? -margin - 0.05f : margin + 0.05f;
            }
        }
    }

    /// <summary>Checks dL/dx and dL/dθ of <paramref name="layer"/> (already built) at <paramref name="x"/>.</summary>
    public static void Check(Layer layer, Tensor x, Func<ForwardContext>? context = null, int maxChecks = 60, double atol = 2e-3, double rtol = 2e-2)
    {
        context ??= () => TrainContext();
        layer.NeedsInputGradient = true;
        var y0 = layer.Forward(x, context());
        var r = Random(99, 1f, y0.Shape.ToArray());
        var ctx = context();
        layer.Forward(x, ctx);
        var dx = layer.Backward(r, ctx).Clone();
        var grads = layer.Parameters.Select(p => p.Gradient.Clone()).ToList();

        double L()
        {
            var y = layer.Forward(x, context());
            double s = 0;
            for (int i = 0; i < y.Length; i++)
            {
                s += (double)r.Data[i] * y.Data[i];
            }

            return s;
        }

        Compare("input", x.Data, dx.Data, L, maxChecks, atol, rtol, layer.Name);
        for (int p = 0; p < grads.Count; p++)
        {
            Compare(layer.Parameters[p].Name, layer.Parameters[p].Value.Data, grads[p].Data, L, maxChecks, atol, rtol, layer.Name);
        }
    }

    /// <summary>Perturbs <paramref name="values"/> at up to <paramref name="maxChecks"/> positions and compares.</summary>
    public static void Compare(string what, float[] values, float[] analytic, Func<double> loss, int maxChecks, double atol, double rtol, string owner)
    {
        Assert.Equal(values.Length, analytic.Length);
        int stride = Math.Max(1, values.Length / maxChecks);
        int checkedCount = 0;
        double worst = 0;
        for (int i = 0; i < values.Length; i += stride)
        {
            float original = values[i];
            values[i] = (float)(original + Step);
            double plus = loss();
            values[i] = (float)(original - Step);
            double minus = loss();
            values[i] = original;
            double numeric = (plus - minus) / (2 * Step);
            double error = Math.Abs(numeric - analytic[i]);
            double allowed = atol + rtol * Math.Max(Math.Abs(numeric), Math.Abs(analytic[i]));
            worst = Math.Max(worst, error / allowed);
            Assert.True(error <= allowed, $"{owner} d/d{what}[{i}]: analytic {analytic[i]:G6}, numeric {numeric:G6}");
            checkedCount++;
        }

        Assert.True(checkedCount > 0);
    }
}
