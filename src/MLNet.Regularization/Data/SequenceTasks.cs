using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Data;

/// <summary>Synthetic sequence tasks for testing recurrent networks, made from a seed.</summary>
public static class SequenceTasks
{
    /// <summary>
    /// The adding problem (Hochreiter &amp; Schmidhuber, 1997; in the form of Le, Jaitly &amp; Hinton, 2015): each
    /// example is <paramref name="steps"/> steps of two features, a value uniform in [0, 1) and a marker that is 1 at
    /// exactly two steps (one in each half) and 0 elsewhere; the regression target is the sum of the two marked values.
    /// Predicting the mean (1) scores a mean squared error of 1/6 ≈ 0.167, so a network that learns the task must carry
    /// the first marked value across up to T steps.
    /// </summary>
    /// <param name="count">Number of sequences.</param>
    /// <param name="steps">Sequence length T (at least 2).</param>
    /// <param name="seed">Seed of the values and marker positions.</param>
    /// <returns>A regression dataset with sample shape [T, 2] and one target.</returns>
    public static Dataset AddingProblem(int count, int steps, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 2);
        var rng = new Rng(seed);
        var x = new float[count * steps * 2];
        var y = new float[count];
        int half = steps / 2;
        for (int i = 0; i < count; i++)
        {
            int first = rng.NextInt(half), second = half + rng.NextInt(steps - half);
            for (int t = 0; t < steps; t++)
            {
                float value = rng.NextFloat();
                x[((i * steps) + t) * 2] = value;
                if (t == first || t == second)
                {
                    x[(((i * steps) + t) * 2) + 1] = 1f;
                    y[i] += value;
                }
            }
        }

        return Dataset.ForRegression(x, [steps, 2], y);
    }
}
