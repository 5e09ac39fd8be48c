using Microsoft.ML;
using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.MLNet;

/// <summary>Which dropout layer follows each hidden layer.</summary>
public enum DropoutKind
{
    /// <summary>Inverted dropout: survivors scaled by 1/(1 − p) in training, identity at inference.</summary>
    Inverted,

    /// <summary>Classic dropout (Srivastava et al., 2014): unscaled in training, activations times 1 − p at inference.</summary>
    Classic,

    /// <summary>Gaussian dropout: multiplicative noise N(1, p/(1 − p)) in training, identity at inference.</summary>
    Gaussian,
}

/// <summary>The optimizer the network is trained with.</summary>
public enum OptimizerKind
{
    /// <summary>Adam; <see cref="RegularizedNetworkOptions.WeightDecay"/> then acts as an L2 penalty.</summary>
    Adam,

    /// <summary>AdamW: decoupled weight decay (Loshchilov &amp; Hutter, 2019) of <see cref="RegularizedNetworkOptions.WeightDecay"/>.</summary>
    AdamW,

    /// <summary>Stochastic gradient descent with <see cref="RegularizedNetworkOptions.Momentum"/>; weight decay as an L2 penalty.</summary>
    Sgd,
}

/// <summary>
/// Settings of a regularized network trained inside an ML.NET pipeline: the architecture, its regularizers and the
/// training loop. By default a multilayer perceptron (<see cref="HiddenLayers"/> with the per-layer regularizers);
/// <see cref="Layers"/> describes any other sequential network, convolutional ones included, in the engine's
/// model-spec form (<see cref="FromSpec"/> reads a whole spec file). Defaults give a 128-unit ReLU network trained
/// with Adam for 10 epochs.
/// </summary>
public class RegularizedNetworkOptions
{
    /// <summary>Name of the features column: a fixed-size vector of <see cref="float"/>. Default "Features".</summary>
    public string FeatureColumnName { get; set; } = "Features";

    /// <summary>Name of the label column. Default "Label".</summary>
    public string LabelColumnName { get; set; } = "Label";

    /// <summary>Units of each hidden layer, input side first. Default one layer of 128.</summary>
    public List<int> HiddenLayers { get; set; } = [];

    /// <summary>Dropout rate after each hidden activation (0 = none). Default 0.</summary>
    public float Dropout { get; set; }

    /// <summary>Which dropout <see cref="Dropout"/> means. Default <see cref="DropoutKind.Inverted"/>.</summary>
    public DropoutKind DropoutKind { get; set; } = DropoutKind.Inverted;

    /// <summary>Dropout rate on the input features (0 = none). Default 0.</summary>
    public float InputDropout { get; set; }

    /// <summary>DropConnect rate of the hidden layers' weights (Wan et al., 2013; 0 = plain dense layers). Default 0.</summary>
    public float DropConnect { get; set; }

    /// <summary>Batch normalization after each hidden layer, before its activation. Default false.</summary>
    public bool BatchNorm { get; set; }

    /// <summary>
    /// The network as an explicit list of layers, instead of <see cref="HiddenLayers"/> and the per-layer regularizers
    /// above (which must then keep their defaults): the engine's model-spec layers, for example
    /// <c>new LayerSpec { Type = "conv2d", Filters = 32, Kernel = 3, Padding = "same" }</c>. The output layer is added
    /// after the list. A list with convolutional layers needs image input: see <see cref="InputShape"/>. Default null.
    /// </summary>
    public List<LayerSpec>? Layers { get; set; }

    /// <summary>
    /// The shape of one example, such as [1, 28, 28] (channels, height, width) for a convolutional network. Default
    /// null: the features column's own dimensions (<c>VectorDataViewType.Dimensions</c>, which ExtractPixels sets),
    /// else a flat vector. Its product must equal the column's size.
    /// </summary>
    public int[]? InputShape { get; set; }

    /// <summary>Max-norm constraint on each unit's incoming weights (null = none). Default null.</summary>
    public float? MaxNorm { get; set; }

    /// <summary>Weight decay: decoupled with <see cref="OptimizerKind.AdamW"/>, an L2 penalty otherwise. Default 0.</summary>
    public float WeightDecay { get; set; }

    /// <summary>The optimizer. Default <see cref="OptimizerKind.Adam"/>.</summary>
    public OptimizerKind Optimizer { get; set; } = OptimizerKind.Adam;

    /// <summary>Learning rate. Default 1e-3 (use about 0.01 with SGD).</summary>
    public float LearningRate { get; set; } = 1e-3f;

    /// <summary>Momentum of <see cref="OptimizerKind.Sgd"/>. Default 0.9.</summary>
    public float Momentum { get; set; } = 0.9f;

    /// <summary>Cosine decay of the learning rate to 0 over <see cref="Epochs"/>. Default false (constant).</summary>
    public bool CosineSchedule { get; set; }

    /// <summary>Number of passes over the training data (the maximum, with early stopping). Default 10.</summary>
    public int Epochs { get; set; } = 10;

    /// <summary>Mini-batch size. Default 128.</summary>
    public int BatchSize { get; set; } = 128;

    /// <summary>Lottery-ticket pruning (Frankle &amp; Carbin, 2019): rounds of iterative magnitude pruning after the dense
    /// training. Each round prunes <see cref="PruningRate"/> of the surviving weights with the smallest magnitude (the
    /// output layer at half the rate), resets the survivors to their initialization — or rewinds them to step
    /// <see cref="PruningRewindIteration"/> of the dense run — and trains again with these same settings. The
    /// transformer holds the last, sparsest round's network: its pruned weights are exact zeros in the ONNX model and
    /// its masks travel with the model. 0 (default) trains the dense network only.</summary>
    public int PruningRounds { get; set; }

    /// <summary>The fraction of surviving weights pruned per round, in (0, 1). Default 0.2 (after k rounds about
    /// 0.8^k of the weights remain).</summary>
    public double PruningRate { get; set; } = 0.2;

    /// <summary>Rewind the survivors to their weights after this many optimizer steps of the dense run (Frankle et al.,
    /// 2020) instead of resetting them to their initialization. Default null (reset).</summary>
    public long? PruningRewindIteration { get; set; }

    /// <summary>Stop after this many epochs without validation improvement and keep the best epoch's weights
    /// (null = train every epoch). Needs <see cref="ValidationData"/> or <see cref="ValidationFraction"/>.</summary>
    public int? EarlyStoppingPatience { get; set; }

    /// <summary>
    /// Validation data scored after every epoch (early stopping). Either rows as the trainer sees them (with the
    /// features and label columns), or raw rows as the pipeline's input: rows with the columns the pipeline started
    /// from are run through the transforms that come before the trainer in the pipeline, as the training data is.
    /// </summary>
    public IDataView? ValidationData { get; set; }

    /// <summary>Fraction of the training rows held out for validation when <see cref="ValidationData"/> is null. Default 0.</summary>
    public double ValidationFraction { get; set; }

    /// <summary>Normalization fitted on the training data and carried inside the model. Default none (normalize in the pipeline).</summary>
    public NormalizationKind Normalization { get; set; } = NormalizationKind.None;

    /// <summary>Seed of weight initialization, shuffling and dropout masks: the same seed gives the same model.
    /// Default null: drawn from the MLContext's random source, as ML.NET's own trainers do, so
    /// <c>new MLContext(seed: 1)</c> makes training reproducible.</summary>
    public int? Seed { get; set; }

    /// <summary>Rows held by the shuffle buffer through which training reads the IDataView each epoch (the rows are
    /// streamed, not copied). Default null: as many as fit in 64 MiB of features; a buffer that holds every row gives a
    /// full random permutation per epoch, as in memory. A larger buffer mixes rows that are stored in order (sorted
    /// by class, say) better, at the cost of memory.</summary>
    public int? ShuffleBufferSize { get; set; }

    /// <summary>Threads used by training. Default all processors.</summary>
    public int MaxThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>Receives one record per epoch while training (optional); every epoch is also logged to
    /// <c>mlContext.Log</c>.</summary>
    public IProgress<EpochRecord>? Progress { get; set; }

    /// <summary>Stops training after the current mini-batch when cancelled; <c>Fit</c> then throws
    /// <see cref="OperationCanceledException"/> (as it does when the MLContext's execution is cancelled).</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>
    /// Options from a model spec — the JSON the CLI's <c>--spec</c> reads (<see cref="ModelSpec.Load"/>): its
    /// architecture (hidden layers and regularizers, or a layer list) and its training settings.
    /// </summary>
    /// <param name="spec">The spec.</param>
    public static RegularizedNetworkOptions FromSpec(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        var t = spec.Training;
        var options = new RegularizedNetworkOptions
        {
            Epochs = t.Epochs,
            BatchSize = t.BatchSize,
            Seed = t.Seed,
            LearningRate = t.LearningRate,
            Optimizer = t.Optimizer switch { "adamw" => OptimizerKind.AdamW, "sgd" => OptimizerKind.Sgd, _ => OptimizerKind.Adam },
            Momentum = t.Momentum,
            WeightDecay = t.Optimizer == "adamw" ? t.WeightDecay : t.L2,
            MaxNorm = t.MaxNorm,
            CosineSchedule = t.Schedule == "cosine",
            Normalization = t.Normalization switch { "minmax" => NormalizationKind.MinMax, "standard" => NormalizationKind.Standard, "channel" => NormalizationKind.PerChannel, _ => NormalizationKind.None },
            EarlyStoppingPatience = t.EarlyStoppingPatience,
            ValidationFraction = t.ValidationFraction,
        };
        if (spec.Layers is not null)
        {
            options.Layers = [.. spec.Layers.Select(l => l.Clone())];
        }
        else
        {
            if (spec.Activation != "relu" || spec.GaussianDropout > 0)
            {
                options.Layers = [.. MlpAsLayers(spec)];
            }
            else
            {
                options.HiddenLayers = [.. spec.Hidden];
                options.Dropout = spec.Dropout;
                options.InputDropout = spec.InputDropout;
                options.DropConnect = spec.DropConnect;
                options.BatchNorm = spec.BatchNorm;
            }
        }

        return options;
    }

    internal IReadOnlyList<int> EffectiveHiddenLayers => HiddenLayers.Count == 0 ? [128] : HiddenLayers;

    /// <summary>True when the architecture has layers that need image input ([C, H, W]).</summary>
    internal bool IsConvolutional => Layers is { } layers && new ModelSpec { Layers = [.. layers] }.IsConvolutional;

    /// <summary>Checks the architecture and training settings; throws <see cref="ArgumentException"/> naming the option.</summary>
    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(FeatureColumnName, nameof(FeatureColumnName));
        ArgumentException.ThrowIfNullOrEmpty(LabelColumnName, nameof(LabelColumnName));
        if (Layers is not null)
        {
            if (HiddenLayers.Count > 0 || Dropout != 0 || InputDropout != 0 || DropConnect != 0 || BatchNorm)
            {
                throw new ArgumentException("Layers lists the whole network: leave HiddenLayers, Dropout, InputDropout, DropConnect and BatchNorm at their defaults (put those layers into the list instead).", nameof(Layers));
            }

            try
            {
                new ModelSpec { Layers = [.. Layers] }.Validate();
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"Layers: {e.Message}", nameof(Layers), e);
            }
        }
        else
        {
            foreach (int units in EffectiveHiddenLayers)
            {
                if (units <= 0)
                {
                    throw new ArgumentException($"HiddenLayers must hold positive sizes, got {units}.", nameof(HiddenLayers));
                }
            }
        }

        if (InputShape is not null && (InputShape.Length == 0 || InputShape.Any(d => d <= 0)))
        {
            throw new ArgumentException($"InputShape must list positive sizes, such as [1, 28, 28], got [{string.Join(", ", InputShape)}].", nameof(InputShape));
        }

        var training = ToTrainerOptions(seed: 0);
        training.Validate();
        if (PruningRounds < 0)
        {
            throw new ArgumentException($"PruningRounds must be at least 0 (0 = no pruning), got {PruningRounds}.", nameof(PruningRounds));
        }

        if (PruningRounds > 0 && !(PruningRate > 0 && PruningRate < 1))
        {
            throw new ArgumentException($"PruningRate must be in (0, 1), got {PruningRate}.", nameof(PruningRate));
        }

        if (PruningRewindIteration is < 0)
        {
            throw new ArgumentException($"PruningRewindIteration must be at least 0 (or null to reset to the initialization), got {PruningRewindIteration}.", nameof(PruningRewindIteration));
        }
    }

    /// <summary>The lottery-ticket settings these options stand for (<see cref="PruningRounds"/> &gt; 0).</summary>
    internal LotteryTicketOptions ToLotteryTicketOptions(TrainerOptions training) => new()
    {
        Rounds = PruningRounds,
        PruneRate = PruningRate,
        Reset = PruningRewindIteration is null ? TicketReset.Initialization : TicketReset.Rewind,
        RewindIteration = PruningRewindIteration ?? 0,
        Training = training,
    };

    /// <summary>Builds the engine network: the layer list, or for each hidden layer Dense (or DropConnectDense),
    /// BatchNorm, ReLU, dropout; then the output layer.</summary>
    internal Network BuildNetwork(int outputs)
    {
        if (Layers is not null)
        {
            return new ModelSpec { Layers = [.. Layers] }.CreateNetwork(outputs);
        }

        var layers = new List<Layer>();
        if (InputDropout > 0)
        {
            layers.Add(MakeDropout(InputDropout));
        }

        foreach (int units in EffectiveHiddenLayers)
        {
            layers.Add(DropConnect > 0 ? new DropConnectDense(units, DropConnect) : new Dense(units));
            if (BatchNorm)
            {
                layers.Add(new BatchNorm());
            }

            layers.Add(new ReLU());
            if (Dropout > 0)
            {
                layers.Add(MakeDropout(Dropout));
            }
        }

        layers.Add(new Dense(outputs));
        return Network.Sequential([.. layers]);
    }

    private Layer MakeDropout(float rate) => DropoutKind switch
    {
        DropoutKind.Classic => new Layers.Dropout(rate, DropoutVariant.Classic),
        DropoutKind.Gaussian => new GaussianDropout(rate),
        _ => new Layers.Dropout(rate, DropoutVariant.Inverted),
    };

    /// <summary>A perceptron spec with another activation or Gaussian dropout, as a layer list (the options' own
    /// perceptron is ReLU with Bernoulli dropout).</summary>
    private static IEnumerable<LayerSpec> MlpAsLayers(ModelSpec spec)
    {
        if (spec.InputDropout > 0)
        {
            yield return new LayerSpec { Type = "dropout", Rate = spec.InputDropout };
        }

        string init = spec.Activation is "tanh" or "sigmoid" ? "glorot_uniform" : "he_uniform";
        foreach (int units in spec.Hidden)
        {
            yield return spec.DropConnect > 0
                ? new LayerSpec { Type = "dropconnect_dense", Units = units, Rate = spec.DropConnect, Init = init }
                : new LayerSpec { Type = "dense", Units = units, Init = init };
            if (spec.BatchNorm)
            {
                yield return new LayerSpec { Type = "batchnorm" };
            }

            yield return new LayerSpec { Type = spec.Activation };
            if (spec.Dropout > 0)
            {
                yield return new LayerSpec { Type = "dropout", Rate = spec.Dropout };
            }

            if (spec.GaussianDropout > 0)
            {
                yield return new LayerSpec { Type = "gaussian_dropout", Rate = spec.GaussianDropout };
            }
        }
    }

    /// <summary>The engine's trainer settings these options stand for, with the seed to train with.</summary>
    internal TrainerOptions ToTrainerOptions(int seed)
    {
        OptimizerOptions optimizer = Optimizer switch
        {
            OptimizerKind.AdamW => new AdamW { LearningRate = LearningRate, WeightDecay = WeightDecay },
            OptimizerKind.Sgd => new Sgd { LearningRate = LearningRate, Momentum = Momentum },
            _ => new Adam { LearningRate = LearningRate },
        };
        return new TrainerOptions
        {
            Epochs = Epochs,
            BatchSize = BatchSize,
            Seed = seed,
            Optimizer = optimizer,
            Schedule = CosineSchedule ? new CosineDecay() : null,
            L2 = Optimizer == OptimizerKind.AdamW ? 0f : WeightDecay,
            MaxNorm = MaxNorm,
            EarlyStoppingPatience = EarlyStoppingPatience,
            ValidationFraction = ValidationData is null ? ValidationFraction : 0,
            Normalization = Normalization,
            MaxThreads = MaxThreads,
            ShuffleBufferSize = ShuffleBufferSize,
        };
    }
}
