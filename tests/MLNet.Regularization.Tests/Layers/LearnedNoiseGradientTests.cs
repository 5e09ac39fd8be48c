using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using Xunit;

namespace MLNet.Regularization.Tests.Layers;

/// <summary>
/// Finite-difference checks of the learned and Bayesian dropout layers with their noise held fixed (every evaluation
/// draws the same numbers from an identically seeded context), including the gradients with respect to the learned
/// noise parameters (log α, log σ², the concrete rate logit, Standout's α and β, structured Bayesian pruning's μ and
/// log σ), on every GEMM path for the layers that multiply matrices.
/// </summary>
public class LearnedNoiseGradientTests
{
    public static TheoryData<string> Paths => KernelPathTests.Paths;

    private static T Built<T>(T layer, params int[] inputShape)
        where T : Layer
    {
        layer.Build(inputShape, new Rng(7));
        return layer;
    }

    /// <summary>Uniform values in [lo, hi).</summary>
    private static void FillUniform(Span<float> values, int seed, float lo, float hi)
    {
        new Rng(seed).FillUniform(values);
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = lo + (hi - lo) * values[i];
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Fast_dropout_gradients_match_finite_differences(string path) => KernelPathTests.OnPath(path, () =>
    {
        foreach (var activation in Enum.GetValues<FastDropoutActivation>())
        {
            var layer = Built(new FastDropoutDense(7, 0.3f, activation), 11);
            new Rng(3).FillGaussian(layer.Bias.Value.Span);
            GradientCheck.Check(layer, GradientCheck.Random(4, 1f, 6, 11));
        }
    });

    [Theory]
    [MemberData(nameof(Paths))]
    public void Variational_dropout_gradients_including_log_alpha_match_finite_differences(string path) => KernelPathTests.OnPath(path, () =>
    {
        foreach (var granularity in Enum.GetValues<VariationalDropoutGranularity>())
        {
            var layer = Built(new VariationalDense(6, granularity), 9);
            FillUniform(layer.LogAlpha.Value.Span, 5, -3f, -0.3f); // inside the α ≤ 1 clip
            new Rng(6).FillGaussian(layer.Bias.Value.Span);
            GradientCheck.Check(layer, GradientCheck.Random(8, 1f, 5, 9));
        }
    });

    [Theory]
    [MemberData(nameof(Paths))]
    public void Sparse_variational_dropout_gradients_including_log_sigma2_match_finite_differences(string path) => KernelPathTests.OnPath(path, () =>
    {
        var layer = Built(new SparseVariationalDense(6), 9);
        var theta = layer.Weight.Value.Span;
        GradientCheck.AwayFromZero(layer.Weight.Value, 0.2f);
        var logSigma2 = layer.LogSigma2.Value.Span;
        FillUniform(logSigma2, 9, -6f, -2f);
        for (int k = 0; k < theta.Length; k++)
        {
            // log α = log σ² − log θ² stays well below the threshold 3, so the finite differences never cross it.
            Assert.InRange(SparseVariationalDense.LogAlphaOf(theta[k], logSigma2[k]), -8f, 2.5f);
        }

        GradientCheck.Check(layer, GradientCheck.Random(10, 1f, 5, 9));
    });

    [Theory]
    [MemberData(nameof(Paths))]
    public void Standout_gradients_including_alpha_and_beta_match_finite_differences_of_the_held_surrogate(string path) => KernelPathTests.OnPath(path, () =>
    {
        foreach (var activation in new Activation[] { new ReLU(), new Tanh(), new Sigmoid() })
        {
            var layer = Built(new StandoutDense(7, activation, alpha: 0.8f, beta: 0.3f), 10);
            new Rng(11).FillGaussian(layer.Bias.Value.Span);
            // Inputs whose pre-activations keep clear of the ReLU's kink (the search is deterministic).
            Tensor x, z = new(5, 7);
            for (int seed = 12; ; seed++)
            {
                x = GradientCheck.Random(seed, 1f, 5, 10);
                Gemm.MultiplyAddBias(false, true, 5, 7, 10, x.Span, 10, layer.Weight.Value.Span, 10, layer.Bias.Value.Span, GemmActivation.None, z.Span, 7);
                if (activation is not ReLU || z.Data.Min(MathF.Abs) > 0.1f)
                {
                    break;
                }
            }

            // Hold a mask and the keep probabilities it was drawn from: every evaluation computes (m₀ + π − π₀) ⊙ g(z).
            var keep = new Tensor(5, 7);
            var mask = new Tensor(5, 7);
            var uniform = new Tensor(5, 7);
            new Rng(13).FillUniform(uniform.Span);
            for (int i = 0; i < keep.Length; i++)
            {
                keep.Data[i] = 1f / (1f + MathF.Exp(-(0.8f * z.Data[i] + 0.3f)));
                mask.Data[i] = uniform.Data[i] < keep.Data[i] ? 1f : 0f;
            }

            Assert.Contains(0f, mask.Data);
            Assert.Contains(1f, mask.Data);
            layer.HeldNoise = (mask, keep);
            GradientCheck.Check(layer, x);
        }
    });

    [Fact]
    public void Concrete_dropout_gradients_including_the_rate_logit_match_finite_differences()
    {
        foreach (float temperature in new[] { 0.1f, 0.5f })
        {
            var layer = Built(new ConcreteDropout(0.3f, temperature), 4, 3);
            GradientCheck.Check(layer, GradientCheck.Random(14, 1f, 6, 4, 3), atol: 3e-3, rtol: 3e-2);
        }
    }

    [Fact]
    public void Structured_Bayesian_pruning_gradients_including_mu_and_log_sigma_match_finite_differences()
    {
        var flat = Built(new StructuredBayesianPruning(), 8);
        FillUniform(flat.Mu.Value.Span, 15, -2f, -0.2f);
        FillUniform(flat.LogSigma.Value.Span, 16, -1.5f, 0f);
        GradientCheck.Check(flat, GradientCheck.Random(17, 1f, 5, 8));

        var image = Built(new StructuredBayesianPruning(), 3, 4, 4);
        FillUniform(image.Mu.Value.Span, 18, -1f, -0.1f);
        FillUniform(image.LogSigma.Value.Span, 19, -1f, -0.2f);
        GradientCheck.Check(image, GradientCheck.Random(20, 1f, 4, 3, 4, 4));
    }
}
