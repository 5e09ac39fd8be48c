using Microsoft.ML;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
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
/// Settings of a regularized multilayer perceptron trained inside an ML.NET pipeline: the architecture, its
/// regularizers and the training loop. Defaults give a 128-unit ReLU network trained with Adam for 10 epochs.
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

    /// <summary>Number of passes over the training data. Default 10.</summary>
    public int Epochs { get; set; } = 10;

    /// <summary>Mini-batch size. Default 128.</summary>
    public int BatchSize { get; set; } = 128;

    /// <summary>Stop after this many epochs without validation improvement and keep the best epoch's weights
    /// (null = train every epoch). Needs <see cref="ValidationData"/> or <see cref="ValidationFraction"/>.</summary>
    public int? EarlyStoppingPatience { get; set; }

    /// <summary>Validation data with the same columns as the training data, scored after every epoch (early stopping).</summary>
    public IDataView? ValidationData { get; set; }

    /// <summary>Fraction of the training rows held out for validation when <see cref="ValidationData"/> is null. Default 0.</summary>
    public double ValidationFraction { get; set; }

    /// <summary>Normalization fitted on the training data and carried inside the model. Default none (normalize in the pipeline).</summary>
    public NormalizationKind Normalization { get; set; } = NormalizationKind.None;

    /// <summary>Seed of weight initialization, shuffling and dropout masks: the same seed gives the same model. Default 1.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Threads used by training. Default all processors.</summary>
    public int MaxThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>Receives one record per epoch while training (optional).</summary>
    public IProgress<EpochRecord>? Progress { get; set; }

    internal IReadOnlyList<int> EffectiveHiddenLayers => HiddenLayers.Count == 0 ? [128] : HiddenLayers;

    /// <summary>Builds the engine network: for each hidden layer Dense (or DropConnectDense), BatchNorm, ReLU, dropout; then the output layer.</summary>
    internal Network BuildNetwork(int outputs)
    {
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

    /// <summary>The engine's trainer settings these options stand for.</summary>
    internal TrainerOptions ToTrainerOptions()
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
            Seed = Seed,
            Optimizer = optimizer,
            L2 = Optimizer == OptimizerKind.AdamW ? 0f : WeightDecay,
            MaxNorm = MaxNorm,
            EarlyStoppingPatience = EarlyStoppingPatience,
            ValidationFraction = ValidationData is null ? ValidationFraction : 0,
            Normalization = Normalization,
            MaxThreads = MaxThreads,
        };
    }
}
