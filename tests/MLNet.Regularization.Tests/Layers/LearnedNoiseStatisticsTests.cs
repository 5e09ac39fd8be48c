using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.Tests.Layers;

/// <summary>Statistical checks of the learned and Bayesian dropout methods: fast dropout's Gaussian against Monte Carlo
/// sampling of ordinary dropout, concrete dropout's relaxation against Bernoulli(p), structured Bayesian pruning's
/// sampler against its closed forms, and the masks of DropConnect's coarser granularities.</summary>
public class LearnedNoiseStatisticsTests(ITestOutputHelper output)
{
    private static T Built<T>(T layer, params int[] inputShape)
        where T : Layer
    {
        layer.Build(inputShape, new Rng(3));
        return layer;
    }

    [Fact]
    public void Fast_dropout_moments_agree_with_Monte_Carlo_sampling_of_ordinary_dropout()
    {
        const int Samples = 200_000, Inputs = 40, Units = 6;
        const float Rate = 0.3f;
        var layer = Built(new FastDropoutDense(Units, Rate), Inputs);
        new Rng(4).FillGaussian(layer.Bias.Value.Span);
        var x = GradientCheck.Random(5, 1f, 1, Inputs);
        var (mean, variance) = layer.Moments(x);

        // The same layer with ordinary inverted dropout on its inputs, 200,000 masks drawn in one batch.
        var batch = new Tensor(Samples, Inputs);
        for (int i = 0; i < Samples; i++)
        {
            x.Span.CopyTo(batch.Span.Slice(i * Inputs, Inputs));
        }

        var dropout = Built(new Dropout(Rate), Inputs);
        var dropped = dropout.Forward(batch, new ForwardContext(ForwardMode.Train, new Rng(6)));
        var y = new Tensor(Samples, Units);
        Gemm.MultiplyAddBias(false, true, Samples, Units, Inputs, dropped.Span, Inputs, layer.Weight.Value.Span, Inputs, layer.Bias.Value.Span, GemmActivation.None, y.Span, Units);
        for (int u = 0; u < Units; u++)
        {
            double m1 = 0, m2 = 0, m4 = 0;
            for (int i = 0; i < Samples; i++)
            {
                m1 += y.Data[i * Units + u];
            }

            m1 /= Samples;
            for (int i = 0; i < Samples; i++)
            {
                double d = y.Data[i * Units + u] - m1;
                m2 += d * d;
                m4 += d * d * d * d;
            }

            m2 /= Samples - 1;
            m4 /= Samples;
            double meanError = Math.Sqrt(m2 / Samples), varianceError = Math.Sqrt((m4 - m2 * m2) / Samples);
            output.WriteLine($"unit {u}: μ {mean.Data[u]:F5} vs MC {m1:F5} (±{meanError:F5}), s² {variance.Data[u]:F5} vs MC {m2:F5} (±{varianceError:F5})");
            Assert.InRange(Math.Abs(m1 - mean.Data[u]), 0, 5 * meanError);
            Assert.InRange(Math.Abs(m2 - variance.Data[u]), 0, 5 * varianceError);
            Assert.InRange(Math.Abs(m2 - variance.Data[u]) / variance.Data[u], 0, 0.02);
        }
    }

    [Fact]
    public void Concrete_relaxed_masks_tend_to_Bernoulli_p_as_the_temperature_falls()
    {
        const int Draws = 100_000;
        const double P = 0.3;
        float logit = (float)Math.Log(P / (1 - P));
        var u = new float[Draws];
        new Rng(7).FillUniform(u);
        double previousBias = double.PositiveInfinity, previousMiddle = double.PositiveInfinity;
        foreach (float t in new[] { 1f, 0.3f, 0.1f, 0.03f, 0.01f })
        {
            var z = u.Select(v => (double)ConcreteDropout.RelaxedDropMask(logit, t, v)).ToArray();
            double bias = Math.Abs(z.Average() - P);
            double middle = z.Count(v => v > 0.05 && v < 0.95) / (double)Draws;
            double above = z.Count(v => v > 0.5) / (double)Draws;
            output.WriteLine($"t = {t}: |E z̃ − p| = {bias:F4}, P(0.05 < z̃ < 0.95) = {middle:F4}, P(z̃ > ½) = {above:F4}");

            // z̃ > ½ exactly when the logistic noise exceeds −ℓ: probability p at every temperature.
            Assert.InRange(above, P - 5 * Math.Sqrt(P * (1 - P) / Draws), P + 5 * Math.Sqrt(P * (1 - P) / Draws));
            Assert.True(bias < previousBias && middle < previousMiddle, $"t = {t} is no closer to Bernoulli(p) than the temperature before");
            (previousBias, previousMiddle) = (bias, middle);
        }

        Assert.True(previousBias < 0.01 && previousMiddle < 0.02, "at t = 0.01 the relaxed mask should be nearly Bernoulli(p)");

        // The layer itself, at a low temperature: about p of the units vanish, the rest are scaled by 1/(1 − p).
        var layer = Built(new ConcreteDropout((float)P, temperature: 0.005f), 1000);
        var ones = new Tensor(1000, 1000);
        ones.Span.Fill(1f);
        var y = layer.Forward(ones, new ForwardContext(ForwardMode.Train, new Rng(8)));
        double scale = 1 / (1 - layer.Rate);
        double dropped = y.Data.Count(v => v < 0.5 * scale) / 1e6;
        double binary = y.Data.Count(v => v < 0.01 * scale || Math.Abs(v - scale) < 0.01 * scale) / 1e6;
        output.WriteLine($"t = 0.005 layer: {dropped:F4} dropped (z̃ > ½), {binary:F4} within 1% of 0 or of 1/(1 − p)");
        Assert.InRange(dropped, P - 5 * Math.Sqrt(P * (1 - P) / 1e6), P + 5 * Math.Sqrt(P * (1 - P) / 1e6));
        Assert.InRange(binary, 0.985, 1.0);

        // Monte Carlo mode draws hard Bernoulli(p) masks at the learned rate; inference is the identity.
        var mc = layer.Forward(ones, new ForwardContext(ForwardMode.MonteCarlo, new Rng(9)));
        Assert.All(mc.Data, v => Assert.True(v == 0f || v == 1f / (1f - layer.Rate)));
        Assert.InRange(mc.Data.Count(v => v == 0f) / 1e6, P - 0.005, P + 0.005);
        Assert.Same(ones, layer.Forward(ones, new ForwardContext(ForwardMode.Inference)));
    }

    [Fact]
    public void Sparse_variational_dropout_removes_exactly_the_weights_over_the_threshold()
    {
        var layer = Built(new SparseVariationalDense(20), 50);
        var theta = layer.Weight.Value.Data;
        var logSigma2 = layer.LogSigma2.Value.Data;
        new Rng(10).FillUniform(logSigma2);
        for (int k = 0; k < logSigma2.Length; k++)
        {
            // log α spread over [−8, 8] around the threshold, none within 10⁻³ of it.
            logSigma2[k] = -9f + 16f * logSigma2[k] + MathF.Log(theta[k] * theta[k] + 1e-8f);
            double la = logSigma2[k] - Math.Log((double)theta[k] * theta[k] + 1e-8);
            if (Math.Abs(la - 3) < 1e-3)
            {
                logSigma2[k] += 0.01f;
            }
        }

        var keep = layer.KeepMask();
        int over = 0;
        for (int k = 0; k < theta.Length; k++)
        {
            double la = Math.Clamp(logSigma2[k] - Math.Log((double)theta[k] * theta[k] + 1e-8), -8, 8);
            Assert.Equal(la <= 3, keep.IsKept(k));
            over += la > 3 ? 1 : 0;
        }

        Assert.InRange(over, 200, 800);
        Assert.Equal(theta.Length - over, keep.KeptCount);

        // The inference network is the masked sparse Dense: exact zeros where log α > 3, θ elsewhere, and the same outputs.
        var network = Network.Sequential(layer.CreateUnbuiltCopy(), new Dense(3)).Build([50], 1);
        var source = (SparseVariationalDense)network.Layers[0];
        theta.CopyTo(source.Weight.Value.Data, 0);
        logSigma2.CopyTo(source.LogSigma2.Value.Data, 0);
        var inference = InferenceFolding.ForInference(network);
        var dense = Assert.IsType<Dense>(inference.Layers[0]);
        Assert.Equal(keep.ToFlags(), dense.Weight.Mask!.ToFlags());
        for (int k = 0; k < theta.Length; k++)
        {
            Assert.Equal(keep.IsKept(k) ? theta[k] : 0f, dense.Weight.Value.Data[k]);
        }

        var x = GradientCheck.Random(11, 1f, 8, 50);
        Assert.Equal(network.Forward(x, new ForwardContext(ForwardMode.Inference)).Data, inference.Forward(x, new ForwardContext(ForwardMode.Inference)).Data);
    }

    [Fact]
    public void Structured_Bayesian_pruning_samples_agree_with_the_closed_form_mean_and_signal_to_noise()
    {
        var rng = new Rng(12);
        foreach (var (mu, logSigma) in new[] { (0.0, -1.0), (-0.5, 0.0), (-3.0, 0.5), (1.0, -0.5), (-10.0, 1.5) })
        {
            var posterior = new LogNormalPosterior(mu, Math.Exp(logSigma));
            const int Draws = 200_000;
            double sum = 0, sumSquares = 0, below = 0;
            for (int i = 0; i < Draws; i++)
            {
                double u = (rng.NextUInt64() >> 11) * (1.0 / (1UL << 53)) + 1e-17;
                double logTheta = posterior.Sample(u).LogTheta;
                Assert.InRange(logTheta, -20, 0);
                double theta = Math.Exp(logTheta);
                sum += theta;
                sumSquares += theta * theta;
                below += logTheta < mu ? 1 : 0;
            }

            double mean = sum / Draws, variance = sumSquares / Draws - mean * mean, snr = mean / Math.Sqrt(variance);
            output.WriteLine($"μ {mu}, log σ {logSigma}: E θ {posterior.Mean:F5} vs {mean:F5}, SNR {posterior.SignalToNoise:F4} vs {snr:F4}");
            Assert.InRange(Math.Abs(mean - posterior.Mean), 0, 5 * Math.Sqrt(variance / Draws));
            Assert.InRange(Math.Abs(snr - posterior.SignalToNoise) / posterior.SignalToNoise, 0, 0.02);

            // The truncated normal's distribution function at μ: (Φ(0) − Φ(α))/Z.
            double atMu = (MathExtras.NormalCdf(0) - MathExtras.NormalCdf(posterior.Alpha)) / (MathExtras.NormalCdf(posterior.Beta) - MathExtras.NormalCdf(posterior.Alpha));
            Assert.InRange(below / Draws, Math.Min(atMu, 1) - 0.005, Math.Min(atMu, 1) + 0.005);
        }
    }

    [Fact]
    public void Structured_Bayesian_pruning_keeps_the_units_with_signal_to_noise_at_least_the_threshold()
    {
        var layer = Built(new StructuredBayesianPruning(), 6);
        float[] logSigmas = [-5f, -2f, -0.5f, 0.5f, 1f, 2f];
        logSigmas.CopyTo(layer.LogSigma.Value.Data, 0);
        var snr = layer.SignalToNoise();
        Assert.Equal(snr.Select(s => s >= 1).ToArray(), layer.Kept());
        Assert.Contains(true, layer.Kept());
        Assert.Contains(false, layer.Kept());
        for (int u = 1; u < 6; u++)
        {
            Assert.True(snr[u] < snr[u - 1], "more noise, less signal");
        }

        // Inference multiplies each unit by E[θ]; Monte Carlo samples vary around it.
        var x = new Tensor(2000, 6);
        x.Span.Fill(1f);
        var inference = layer.Forward(x, new ForwardContext(ForwardMode.Inference));
        var expected = layer.ExpectedNoise();
        for (int u = 0; u < 6; u++)
        {
            Assert.Equal((float)expected[u], inference.Data[u]);
        }

        var mc = layer.Forward(x, new ForwardContext(ForwardMode.MonteCarlo, new Rng(13))).Data;
        for (int u = 0; u < 6; u++)
        {
            double mean = Enumerable.Range(0, 2000).Average(i => (double)mc[i * 6 + u]);
            Assert.InRange(mean, expected[u] * 0.9 - 0.01, expected[u] * 1.1 + 0.01);
        }
    }

    [Theory]
    [InlineData(DropConnectKernelGranularity.Weight, 0.3f)]
    [InlineData(DropConnectKernelGranularity.KernelSlice, 0.3f)]
    [InlineData(DropConnectKernelGranularity.Filter, 0.5f)]
    public void DropConnect_kernel_masks_drop_whole_groups_at_the_rate_and_are_reproducible(DropConnectKernelGranularity granularity, float rate)
    {
        var layer = Built(new DropConnectConv2D(16, 3, rate, granularity: granularity), 8, 3, 3);
        layer.Weight.Value.Span.Fill(1f);
        var x = new Tensor(1, 8, 3, 3);
        int groupSize = layer.GroupSize, groups = layer.Weight.Value.Length / groupSize;
        Assert.Equal(granularity switch { DropConnectKernelGranularity.KernelSlice => 9, DropConnectKernelGranularity.Filter => 72, _ => 1 }, groupSize);

        // Enough forward passes for 10^6 weights (and at least 10^5 draws of whole groups).
        int passes = Math.Max(1_000_000 / layer.Weight.Value.Length, 100_000 / groups);
        var ctx = new ForwardContext(ForwardMode.Train, new Rng(14));
        long droppedWeights = 0, droppedGroups = 0;
        for (int pass = 0; pass < passes; pass++)
        {
            layer.Forward(x, ctx);
            var mask = ctx.Buffer(layer, 1, layer.Weight.Value.Shape).Data;
            for (int g = 0; g < groups; g++)
            {
                float first = mask[g * groupSize];
                Assert.True(first is 0f or 1f);
                for (int k = 1; k < groupSize; k++)
                {
                    Assert.Equal(first, mask[g * groupSize + k]);
                }

                droppedGroups += first == 0f ? 1 : 0;
            }

            droppedWeights += mask.Count(m => m == 0f);
        }

        double groupRate = droppedGroups / ((double)groups * passes), weightRate = droppedWeights / ((double)layer.Weight.Value.Length * passes);
        double tolerance = 5 * Math.Sqrt(rate * (1 - rate) / ((double)groups * passes));
        output.WriteLine($"{granularity}: {groups} groups of {groupSize}, {passes} passes, group drop rate {groupRate:F4}, weight drop rate {weightRate:F4}");
        Assert.InRange(groupRate, rate - tolerance, rate + tolerance);
        Assert.Equal(groupRate, weightRate, 12);

        // The same seed draws the same masks; another seed others. Inference uses the expected kernels (1 − rate)·W.
        float[] Mask(int seed)
        {
            var c = new ForwardContext(ForwardMode.Train, new Rng(seed));
            layer.Forward(x, c);
            return (float[])c.Buffer(layer, 1, layer.Weight.Value.Shape).Data.Clone();
        }

        Assert.Equal(Mask(15), Mask(15));
        Assert.NotEqual(Mask(15), Mask(16));
        Assert.All(layer.ExpectedWeights().Data, w => Assert.Equal(1f - rate, w));
    }
}
