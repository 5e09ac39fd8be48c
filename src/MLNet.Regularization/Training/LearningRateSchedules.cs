namespace MLNet.Regularization.Training;

/// <summary>How the learning rate changes from epoch to epoch (applied at the start of each epoch).</summary>
public abstract class LearningRateSchedule
{
    /// <summary>The learning rate for a zero-based <paramref name="epoch"/> out of <paramref name="epochs"/>.</summary>
    public abstract float Rate(float baseRate, int epoch, int epochs);

    /// <summary>A short description for logs.</summary>
    public abstract string Describe();
}

/// <summary>Step decay: lr · γ^⌊epoch / stepSize⌋.</summary>
public sealed class StepDecay : LearningRateSchedule
{
    /// <summary>Creates step decay.</summary>
    /// <param name="stepSize">Epochs between decays (≥ 1).</param>
    /// <param name="gamma">Factor applied at each step, in (0, 1].</param>
    public StepDecay(int stepSize, float gamma = 0.1f)
    {
        if (stepSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(stepSize), stepSize, "step size must be at least 1 epoch.");
        }

        if (!(gamma > 0f && gamma <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "gamma must be in (0, 1].");
        }

        StepSize = stepSize;
        Gamma = gamma;
    }

    /// <summary>Epochs between decays.</summary>
    public int StepSize { get; }

    /// <summary>Decay factor.</summary>
    public float Gamma { get; }

    /// <inheritdoc />
    public override float Rate(float baseRate, int epoch, int epochs) => baseRate * MathF.Pow(Gamma, epoch / StepSize);

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"step(every {StepSize}, x{Gamma})");
}

/// <summary>Exponential decay: lr · γ^epoch.</summary>
public sealed class ExponentialDecay : LearningRateSchedule
{
    /// <summary>Creates exponential decay with factor <paramref name="gamma"/> in (0, 1] per epoch.</summary>
    public ExponentialDecay(float gamma)
    {
        if (!(gamma > 0f && gamma <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "gamma must be in (0, 1].");
        }

        Gamma = gamma;
    }

    /// <summary>Decay per epoch.</summary>
    public float Gamma { get; }

    /// <inheritdoc />
    public override float Rate(float baseRate, int epoch, int epochs) => baseRate * MathF.Pow(Gamma, epoch);

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"exponential(x{Gamma})");
}

/// <summary>Cosine annealing (Loshchilov &amp; Hutter, 2017) without restarts:
/// min + (lr − min) · (1 + cos(π · epoch / epochs)) / 2.</summary>
public sealed class CosineDecay : LearningRateSchedule
{
    /// <summary>Creates cosine decay towards <paramref name="minimumRate"/>.</summary>
    public CosineDecay(float minimumRate = 0f)
    {
        if (!(minimumRate >= 0f))
        {
            throw new ArgumentOutOfRangeException(nameof(minimumRate), minimumRate, "minimum rate must be non-negative.");
        }

        MinimumRate = minimumRate;
    }

    /// <summary>The rate reached at the end.</summary>
    public float MinimumRate { get; }

    /// <inheritdoc />
    public override float Rate(float baseRate, int epoch, int epochs) =>
        MinimumRate + (baseRate - MinimumRate) * 0.5f * (1f + MathF.Cos(MathF.PI * epoch / Math.Max(1, epochs)));

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"cosine(min {MinimumRate})");
}
