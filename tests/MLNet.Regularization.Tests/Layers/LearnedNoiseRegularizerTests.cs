using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Layers;

/// <summary>
/// The KL and concrete regularizer terms against independent double-precision implementations of the papers'
/// formulas (written here from the papers, not taken from the layers), their gradients against finite differences of
/// those formulas, and the trainer's use of them (1/N, warm-up).
/// </summary>
public class LearnedNoiseRegularizerTests
{
    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>Kingma et al. (2015): −KL ≈ const + ½ log α + c₁α + c₂α² + c₃α³, with α ≤ 1.</summary>
    private static double KingmaKl(double logAlpha)
    {
        double a = Math.Exp(Math.Min(logAlpha, 0));
        return -(0.5 * Math.Log(a) + 1.16145124 * a - 1.50204118 * a * a + 0.58629921 * a * a * a);
    }

    /// <summary>Molchanov et al. (2017): −KL ≈ k₁σ(k₂ + k₃ log α) − ½ log(1 + 1/α) − k₁.</summary>
    private static double MolchanovKl(double logAlpha)
    {
        double a = Math.Exp(logAlpha);
        return -(0.63576 * Sigmoid(1.87320 + 1.48695 * logAlpha) - 0.5 * Math.Log(1 + 1 / a) - 0.63576);
    }

    /// <summary>Neklyudov et al. (2017): KL between log θ ~ N(μ, σ²) truncated to [a, b] and the uniform density
    /// 1/(b − a) on [a, b], as log(b − a) − H(q), the entropy H(q) = −∫ q log q by Simpson's rule on a fine grid.</summary>
    private static double TruncatedNormalKlByQuadrature(double mu, double sigma, double a = -20, double b = 0)
    {
        double z = 0;
        const int Steps = 200_000;
        double h = (b - a) / Steps;
        double Density(double v) => Math.Exp(-0.5 * Math.Pow((v - mu) / sigma, 2)) / (sigma * Math.Sqrt(2 * Math.PI));
        double Simpson(Func<double, double> f)
        {
            double sum = f(a) + f(b);
            for (int i = 1; i < Steps; i++)
            {
                sum += (i % 2 == 1 ? 4 : 2) * f(a + i * h);
            }

            return sum * h / 3;
        }

        z = Simpson(Density);
        double entropy = -Simpson(v => { double q = Density(v) / z; return q > 0 ? q * Math.Log(q) : 0; });
        return Math.Log(b - a) - entropy;
    }

    private static double CentralDifference(Func<double, double> f, double x, double h = 1e-5) => (f(x + h) - f(x - h)) / (2 * h);

    [Fact]
    public void Variational_dropout_KL_and_its_gradient_follow_Kingma_et_al_formula()
    {
        foreach (var granularity in Enum.GetValues<VariationalDropoutGranularity>())
        {
            var layer = new VariationalDense(4, granularity);
            layer.Build([5], new Rng(1));
            var logAlpha = layer.LogAlpha.Value.Data;
            new Rng(2).FillUniform(logAlpha);
            for (int i = 0; i < logAlpha.Length; i++)
            {
                logAlpha[i] = -4f + 4.5f * logAlpha[i]; // some above 0: clipped, α = 1
            }

            double share = 20.0 / logAlpha.Length;
            double expected = logAlpha.Sum(la => share * KingmaKl(la));
            layer.LogAlpha.Gradient.Span.Clear();
            double value = ((IRegularizedLayer)layer).AddRegularizerGradient(0.25, epoch: 0);
            Assert.Equal(expected, value, 9);
            Assert.Equal(expected, layer.KlDivergence(), 9);
            for (int i = 0; i < logAlpha.Length; i++)
            {
                double slope = logAlpha[i] < 0 ? CentralDifference(KingmaKl, logAlpha[i]) : 0;
                Assert.Equal(0.25 * share * slope, layer.LogAlpha.Gradient.Data[i], 1e-4 * Math.Max(1, Math.Abs(share * slope)));
            }
        }
    }

    [Fact]
    public void Sparse_variational_dropout_KL_and_its_gradients_follow_Molchanov_et_al_formula()
    {
        var layer = new SparseVariationalDense(3);
        layer.Build([7], new Rng(3));
        var theta = layer.Weight.Value.Data;
        var logSigma2 = layer.LogSigma2.Value.Data;
        new Rng(4).FillUniform(logSigma2);
        for (int k = 0; k < logSigma2.Length; k++)
        {
            logSigma2[k] = -14f + 16f * logSigma2[k]; // log α from about −12 to 6: clipped at −8 on the low side
        }

        double LogAlpha(double t, double ls) => Math.Clamp(ls - Math.Log(t * t + 1e-8), -8, 8);
        double expected = Enumerable.Range(0, theta.Length).Sum(k => MolchanovKl(LogAlpha(theta[k], logSigma2[k])));
        layer.Weight.Gradient.Span.Clear();
        layer.LogSigma2.Gradient.Span.Clear();
        double value = ((IRegularizedLayer)layer).AddRegularizerGradient(1, epoch: 0);
        Assert.Equal(expected, value, 4);
        int clipped = 0;
        for (int k = 0; k < theta.Length; k++)
        {
            double t = theta[k], ls = logSigma2[k];
            double bySigma = CentralDifference(v => MolchanovKl(LogAlpha(t, v)), ls);
            double byTheta = CentralDifference(v => MolchanovKl(LogAlpha(v, ls)), t, 1e-6);
            clipped += bySigma == 0 ? 1 : 0;
            Assert.Equal(bySigma, layer.LogSigma2.Gradient.Data[k], 1e-4);
            Assert.Equal(byTheta, layer.Weight.Gradient.Data[k], 1e-3 * Math.Max(1, Math.Abs(byTheta)));
        }

        Assert.InRange(clipped, 1, theta.Length - 5);
    }

    [Fact]
    public void Concrete_dropout_regularizer_and_its_gradients_follow_Gal_et_al_code_form()
    {
        var network = Network.Sequential(new ConcreteDropout(0.2f, lengthScale: 0.5f), new Dense(3)).Build([6], 5);
        var concrete = (ConcreteDropout)network.Layers[0];
        var w = ((Dense)network.Layers[1]).Weight;
        concrete.Logit.Value.Data[0] = -0.7f;
        const double L2 = 0.25, N = 6; // l², K

        double Regularizer(double logit, double[] weights)
        {
            double p = Sigmoid(logit);
            return L2 * weights.Sum(v => v * v) / (1 - p) + 2 * N * (p * Math.Log(p) + (1 - p) * Math.Log(1 - p));
        }

        double[] weights = w.Value.Data.Select(v => (double)v).ToArray();
        concrete.Logit.Gradient.Span.Clear();
        w.Gradient.Span.Clear();
        double value = ((IRegularizedLayer)concrete).AddRegularizerGradient(0.5, epoch: 0);
        Assert.Equal(Regularizer(-0.7, weights), value, 5);
        Assert.Equal(0.5 * CentralDifference(l => Regularizer(l, weights), -0.7), concrete.Logit.Gradient.Data[0], 1e-4);
        for (int k = 0; k < weights.Length; k++)
        {
            double slope = CentralDifference(v =>
            {
                var copy = (double[])weights.Clone();
                copy[k] = v;
                return Regularizer(-0.7, copy);
            }, weights[k]);
            Assert.Equal(0.5 * slope, w.Gradient.Data[k], 1e-4);
        }

        // Without a layer with weights after it, only the entropy term remains.
        var alone = Network.Sequential(new ConcreteDropout(0.2f), new ReLU()).Build([6], 5);
        var last = (ConcreteDropout)alone.Layers[0];
        double p = last.Rate;
        Assert.Equal(2 * 6 * (p * Math.Log(p) + (1 - p) * Math.Log(1 - p)), last.Summarize().Regularizer, 5);
    }

    [Fact]
    public void Structured_Bayesian_pruning_KL_matches_numerical_integration_and_its_gradients_the_closed_form()
    {
        foreach (var (mu, logSigma) in new[] { (0.0, -5.0), (0.0, -1.0), (-2.0, 0.0), (0.5, -0.5), (-10.0, 1.0), (-19.0, 0.5), (2.0, -2.0) })
        {
            var posterior = new LogNormalPosterior(mu, Math.Exp(logSigma));
            var (value, dMu, dLogSigma) = posterior.Kl();
            Assert.Equal(TruncatedNormalKlByQuadrature(mu, Math.Exp(logSigma)), value, 5);
            Assert.Equal(CentralDifference(m => new LogNormalPosterior(m, Math.Exp(logSigma)).Kl().Value, mu), dMu, 5);
            Assert.Equal(CentralDifference(s => new LogNormalPosterior(mu, Math.Exp(s)).Kl().Value, logSigma), dLogSigma, 5);
        }

        // A posterior far in the tail (μ well above b for its σ) stays finite.
        var tail = new LogNormalPosterior(5, Math.Exp(-20));
        Assert.True(double.IsFinite(tail.Kl().Value) && double.IsFinite(tail.Mean) && double.IsFinite(tail.Kl().DMu));
    }

    [Fact]
    public void The_trainer_adds_each_regularizer_gradient_over_N_with_the_warm_up()
    {
        var data = TestData.Blobs(40, 5, 3, 6);
        foreach (int warmup in new[] { 0, 4 })
        {
            var net = Network.Sequential(new VariationalDense(4, VariationalDropoutGranularity.PerLayer, klWarmupEpochs: warmup), new ReLU(), new Dense(3)).Build([5], 7);
            var options = new TrainerOptions { BatchSize = 10, Optimizer = new Sgd { LearningRate = 0f } };
            var step = new TrainingStep(net, new SoftmaxCrossEntropy(), options, new Rng(8), TaskKind.Multiclass, data.Count);
            var vd = (VariationalDense)net.Layers[0];
            using var source = new DatasetSource(data);
            using var feed = new BatchFeed(source, null, prefetch: false);
            feed.StartInOrder(BatchSchedule.Fixed(data.Count, 10)); // examples s·10 .. s·10 + 9 at step s
            for (int s = 0; s < 3; s++)
            {
                var (x, targets, labels) = feed.Next();
                step.Forward(x, targets, labels, out _);
                net.Backward(step.OutputGradient, step.Context);
                float dataGradient = vd.LogAlpha.Gradient.Data[0];
                step.ApplyGradients(0f);

                // 40 examples, 4 steps per epoch: step s starts at epoch s/4; the KL of 20 weights sharing one α.
                double beta = warmup == 0 ? 1 : s / 4.0 / warmup;
                double expected = dataGradient + beta / 40 * 20 * VariationalDense.KlDerivative(vd.LogAlpha.Value.Data[0]);
                Assert.Equal(expected, vd.LogAlpha.Gradient.Data[0], 1e-6);
            }
        }
    }
}
