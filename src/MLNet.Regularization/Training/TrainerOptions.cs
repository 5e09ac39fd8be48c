using MLNet.Regularization.Data;

namespace MLNet.Regularization.Training;

/// <summary>
/// Settings of a training run, in the spirit of ML.NET trainers' <c>Options</c>. Every property has a documented
/// default; <see cref="Trainer"/> validates them all before the first batch.
/// </summary>
public sealed class TrainerOptions
{
    /// <summary>Passes over the training data (default 10).</summary>
    public int Epochs { get; set; } = 10;

    /// <summary>Largest number of examples per mini-batch (default 128). An epoch of N examples runs ⌈N / BatchSize⌉
    /// batches whose sizes differ by at most one (5,000 examples at 128 give 40 batches of 125), so there is no
    /// tiny last batch whose statistics would throw batch normalization off.</summary>
    public int BatchSize { get; set; } = 128;

    /// <summary>Seed for weight initialization, shuffling, splits and every dropout mask (default 1). The same seed
    /// gives bit-identical weights whatever <see cref="MaxThreads"/> is.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Reshuffle the training data every epoch (default true).</summary>
    public bool Shuffle { get; set; } = true;

    /// <summary>Examples held by the shuffle buffer through which a source read in order (a CSV file, a gzip IDX file, an
    /// IDataView) is shuffled: each epoch emits a uniformly chosen buffered example as each new one is read. Null
    /// (default) uses as many as fit in 64 MiB of stored features, and gives sources with random access (in memory, a
    /// raw IDX file, the binary cache) a full random permutation per epoch, read by index. Set, the buffer is used for
    /// every source, read in file order: much faster than random reads when the data is larger than memory and sits
    /// on disk. A buffer that holds every example gives the same full permutation as in memory.</summary>
    public int? ShuffleBufferSize { get; set; }

    /// <summary>Prepare the next mini-batch (read, convert, normalize) on a background thread while the current one
    /// trains (default true). Results do not depend on it.</summary>
    public bool Prefetch { get; set; } = true;

    /// <summary>Fraction of the training data held out (stratified) for validation when no validation set is
    /// passed to <c>Fit</c>; 0 (default) means none.</summary>
    public double ValidationFraction { get; set; }

    /// <summary>Stop after this many epochs without a lower validation loss, and restore the weights of the best
    /// epoch; null (default) disables early stopping. Needs validation data.</summary>
    public int? EarlyStoppingPatience { get; set; }

    /// <summary>The smallest decrease of validation loss that counts as an improvement (default 0).</summary>
    public float EarlyStoppingMinDelta { get; set; }

    /// <summary>The optimizer (default Adam, learning rate 0.001).</summary>
    public OptimizerOptions Optimizer { get; set; } = new Adam();

    /// <summary>Learning-rate schedule; null (default) keeps the optimizer's rate constant.</summary>
    public LearningRateSchedule? Schedule { get; set; }

    /// <summary>L2 penalty λ added to the loss as λ/2·‖w‖² over weights (not biases or batch-norm parameters), i.e.
    /// λ·w added to each weight gradient (default 0). For decoupled decay use <see cref="AdamW"/>.</summary>
    public float L2 { get; set; }

    /// <summary>Network slimming's sparsity penalty (Liu et al., 2017): λ·Σ|γ| over every batch-norm scale γ, i.e.
    /// λ·sign(γ) added to each scale's gradient before the step (default 0, off). It drives the scales of unneeded
    /// channels toward 0, so that <c>StructuredPruning</c> with <c>UnitScore.BatchNormScale</c> can remove them;
    /// 1e-4 is the paper's value for VGG, 1e-5 for ResNet and DenseNet.</summary>
    public float BatchNormScaleL1 { get; set; }

    /// <summary>Max-norm constraint (Srivastava et al., 2014, section 5.1): after every step each unit's incoming
    /// weight vector is rescaled to norm at most c; null (default) disables it. 3 to 4 is typical with dropout.</summary>
    public float? MaxNorm { get; set; }

    /// <summary>Gradient clipping by global norm (Pascanu et al., 2013): when the L2 norm of all parameters' gradients
    /// together exceeds this value, every gradient is scaled by value / norm before the L2 penalty and the optimizer
    /// step; null (default) disables it. Recurrent networks use 0.25 to 10 (Zaremba et al. 5, AWD-LSTM 0.25).</summary>
    public float? GradientClipNorm { get; set; }

    /// <summary>Feature normalization fitted on the training data only and carried by the trained model
    /// (default none).</summary>
    public NormalizationKind Normalization { get; set; } = NormalizationKind.None;

    /// <summary>Threads the kernels may use (default: all cores). Results do not depend on it.</summary>
    public int MaxThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>The loss; null (default) picks the one that fits the data's task.</summary>
    public Loss? Loss { get; set; }

    /// <summary>Divergence detection: a mini-batch loss above this many times the first batch's loss stops training
    /// with a <see cref="TrainingDivergedException"/> that carries the last finished epoch's model (default 10,000;
    /// null checks only for NaN and infinity, which always stop training).</summary>
    public float? DivergenceThreshold { get; set; } = 1e4f;

    /// <summary>Automatic learning-rate back-off: when training diverges, go back to the start of the epoch (weights,
    /// optimizer moments and random streams as they were) and retry it with the learning rate multiplied by this
    /// factor, at most <see cref="MaxBackoffs"/> times in a run. Null (default) disables it: divergence stops training.</summary>
    public float? LearningRateBackoff { get; set; }

    /// <summary>How many times <see cref="LearningRateBackoff"/> may lower the learning rate in one run (default 5).</summary>
    public int MaxBackoffs { get; set; } = 5;

    /// <summary>Where to write checkpoints (every <see cref="CheckpointEveryEpochs"/> epochs, every
    /// <see cref="CheckpointInterval"/>, and when training is cancelled); null (default) writes none. Each checkpoint
    /// replaces the previous one atomically; <c>Trainer.Resume</c> continues from it bit for bit.</summary>
    public string? CheckpointPath { get; set; }

    /// <summary>Strings stored in every checkpoint, for the caller to read back with
    /// <see cref="Trainer.ReadCheckpointMetadata"/> (the CLI keeps its command line there). Default: none.</summary>
    public IReadOnlyDictionary<string, string>? CheckpointMetadata { get; set; }

    /// <summary>Write a checkpoint after every this many epochs (default null: none by epoch count).</summary>
    public int? CheckpointEveryEpochs { get; set; }

    /// <summary>Write a checkpoint (possibly mid-epoch) once this much time has passed since the last one
    /// (default null: none by time).</summary>
    public TimeSpan? CheckpointInterval { get; set; }

    /// <summary>A shallow copy: the same optimizer, schedule and loss objects (descriptions, safe to share), every
    /// other setting copied, so the copy's settings can be changed without touching this instance.</summary>
    public TrainerOptions Clone() => (TrainerOptions)MemberwiseClone();

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        Check(Epochs >= 1, nameof(Epochs), Epochs, "must be at least 1");
        Check(BatchSize >= 1, nameof(BatchSize), BatchSize, "must be at least 1");
        Check(ValidationFraction >= 0 && ValidationFraction < 1, nameof(ValidationFraction), ValidationFraction, "must be in [0, 1)");
        Check(EarlyStoppingPatience is null or >= 1, nameof(EarlyStoppingPatience), EarlyStoppingPatience, "must be at least 1 (or null to disable)");
        Check(EarlyStoppingMinDelta >= 0, nameof(EarlyStoppingMinDelta), EarlyStoppingMinDelta, "must be non-negative");
        Check(L2 >= 0 && float.IsFinite(L2), nameof(L2), L2, "must be a non-negative number");
        Check(BatchNormScaleL1 >= 0 && float.IsFinite(BatchNormScaleL1), nameof(BatchNormScaleL1), BatchNormScaleL1, "must be a non-negative number");
        Check(MaxNorm is null || (MaxNorm > 0 && float.IsFinite(MaxNorm.Value)), nameof(MaxNorm), MaxNorm, "must be positive (or null to disable)");
        Check(GradientClipNorm is null || (GradientClipNorm > 0 && float.IsFinite(GradientClipNorm.Value)), nameof(GradientClipNorm), GradientClipNorm, "must be positive (or null to disable)");
        Check(MaxThreads >= 1, nameof(MaxThreads), MaxThreads, "must be at least 1");
        Check(ShuffleBufferSize is null or >= 1, nameof(ShuffleBufferSize), ShuffleBufferSize, "must be at least 1 (or null for the default)");
        Check(Optimizer is not null, nameof(Optimizer), null, "must be set");
        Check(DivergenceThreshold is null || (DivergenceThreshold > 1f && float.IsFinite(DivergenceThreshold.Value)), nameof(DivergenceThreshold), DivergenceThreshold, "must be a number above 1 (or null)");
        Check(LearningRateBackoff is null || (LearningRateBackoff > 0f && LearningRateBackoff < 1f), nameof(LearningRateBackoff), LearningRateBackoff, "must be in (0, 1) (or null to disable)");
        Check(MaxBackoffs >= 1, nameof(MaxBackoffs), MaxBackoffs, "must be at least 1");
        Check(CheckpointEveryEpochs is null or >= 1, nameof(CheckpointEveryEpochs), CheckpointEveryEpochs, "must be at least 1 (or null)");
        Check(CheckpointInterval is null || CheckpointInterval > TimeSpan.Zero, nameof(CheckpointInterval), CheckpointInterval, "must be positive (or null)");
        Check(CheckpointPath is not null || (CheckpointEveryEpochs is null && CheckpointInterval is null), nameof(CheckpointPath), CheckpointPath, "must be set when CheckpointEveryEpochs or CheckpointInterval is");
        Optimizer!.Validate();
    }

    /// <summary>One line describing the run's settings, for logs and model metadata.</summary>
    public string Describe() => FormattableString.Invariant(
        $"epochs={Epochs}, batch={BatchSize}, seed={Seed}, optimizer={Optimizer.Describe()}, schedule={Schedule?.Describe() ?? "constant"}, L2={L2}, max-norm={(MaxNorm?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "off")}, normalization={Normalization}{(BatchNormScaleL1 > 0 ? $", bn-scale-L1={BatchNormScaleL1}" : "")}{(GradientClipNorm is float clip ? $", clip-norm={clip}" : "")}");

    private static void Check(bool ok, string name, object? value, string rule)
    {
        if (!ok)
        {
            throw new ArgumentOutOfRangeException(name, value, $"TrainerOptions.{name} {rule}, got {value ?? "null"}.");
        }
    }
}
