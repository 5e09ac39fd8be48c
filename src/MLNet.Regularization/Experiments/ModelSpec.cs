using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Experiments;

/// <summary>
/// A multilayer perceptron with its regularizers and its training settings, as data: what a JSON spec file holds,
/// what the comparison's random search samples, and what <see cref="CreateNetwork(int)"/> turns into
/// <c>Network.Sequential(...)</c>.
/// </summary>
/// <remarks>
/// <para>JSON (camelCase, comments and trailing commas allowed, unknown properties rejected):</para>
/// <code>
/// { "name": "bn+dropout", "hidden": [256, 128], "activation": "relu", "inputDropout": 0.2, "dropout": 0.5,
///   "dropConnect": 0, "batchNorm": true, "gaussianDropout": 0,
///   "training": { "epochs": 10, "batchSize": 128, "optimizer": "adam", "learningRate": 0.001 } }
/// </code>
/// <para>The network: <c>Dropout(inputDropout)</c> on the inputs, then for each hidden size h
/// <c>Dense(h)</c> (or <c>DropConnectDense(h, dropConnect)</c>), <c>BatchNorm</c> if asked, the activation, and
/// <c>Dropout(dropout)</c> or <c>GaussianDropout(gaussianDropout)</c>; finally <c>Dense(outputs)</c> without
/// regularization. Batch norm sits before the activation, as in Ioffe &amp; Szegedy (2015); dropout after it, as
/// in Srivastava et al. (2014). Layers with rate 0 are left out.</para>
/// <para>Any other sequential network, convolutional ones included, is a <see cref="Layers"/> list instead of
/// <c>hidden</c> and its regularizers:</para>
/// <code>
/// { "layers": [ { "type": "conv2d", "filters": 32, "kernel": 3, "padding": "same" }, { "type": "batchnorm" },
///               { "type": "relu" }, { "type": "maxpool2d" }, { "type": "flatten" },
///               { "type": "dense", "units": 128 }, { "type": "relu" }, { "type": "dropout", "rate": 0.5 } ],
///   "training": { "epochs": 10 } }
/// </code>
/// </remarks>
public sealed class ModelSpec
{
    /// <summary>The activations a spec may name.</summary>
    public static IReadOnlyList<string> Activations { get; } = ["relu", "leaky_relu", "tanh", "sigmoid", "gelu"];

    /// <summary>A display name (optional); when null, <see cref="Describe"/> names the configuration.</summary>
    public string? Name { get; set; }

    /// <summary>Sizes of the hidden layers, input side first (default [128]).</summary>
    public int[] Hidden { get; set; } = [128];

    /// <summary>The activation after each hidden layer: relu (default), leaky_relu, tanh, sigmoid or gelu.</summary>
    public string Activation { get; set; } = "relu";

    /// <summary>Inverted dropout rate after each hidden activation (default 0: none).</summary>
    public float Dropout { get; set; }

    /// <summary>Inverted dropout rate on the inputs (default 0; 0.2 is the usual choice for images).</summary>
    public float InputDropout { get; set; }

    /// <summary>DropConnect rate of the hidden layers (default 0: plain Dense layers).</summary>
    public float DropConnect { get; set; }

    /// <summary>Batch normalization between each hidden layer and its activation (default false).</summary>
    public bool BatchNorm { get; set; }

    /// <summary>Gaussian dropout rate after each hidden activation, an alternative to <see cref="Dropout"/>
    /// (default 0: none).</summary>
    public float GaussianDropout { get; set; }

    /// <summary>The network as an explicit list of layers (see <see cref="LayerSpec"/>), for convolutional and other
    /// architectures; the output layer is added after it. When set, <see cref="Hidden"/>, <see cref="Activation"/>
    /// and the per-layer regularizers above must keep their defaults. Default null (a perceptron from <see cref="Hidden"/>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public LayerSpec[]? Layers { get; set; }

    /// <summary>True when <see cref="Layers"/> holds convolutional or pooling layers, so the input must be images
    /// ([C, H, W] examples).</summary>
    [JsonIgnore]
    public bool IsConvolutional => Layers is { } layers && LayerSpec.IsConvolutional(layers);

    /// <summary>The training settings.</summary>
    public TrainingSpec Training { get; set; } = new();

    /// <summary>Throws <see cref="ArgumentException"/> with a message that names the first invalid setting.</summary>
    public void Validate()
    {
        if (Layers is not null)
        {
            if (Hidden is not [128] || Activation != "relu" || Dropout != 0 || InputDropout != 0 || DropConnect != 0 || BatchNorm || GaussianDropout != 0)
            {
                throw new ArgumentException("'layers' lists the whole network: leave out 'hidden', 'activation', 'dropout', 'inputDropout', 'dropConnect', 'batchNorm' and 'gaussianDropout' (put those layers into the list instead).", nameof(Layers));
            }

            LayerSpec.ValidateList(Layers);
        }

        if (Hidden is null || Hidden.Length == 0)
        {
            throw new ArgumentException("'hidden' must list at least one hidden layer size, such as [128] or [256, 128].", nameof(Hidden));
        }

        for (int i = 0; i < Hidden.Length; i++)
        {
            if (Hidden[i] <= 0)
            {
                throw new ArgumentException($"hidden layer sizes must be positive, got {Hidden[i]} at position {i + 1} of 'hidden'.", nameof(Hidden));
            }

            if (Hidden[i] > 1_000_000)
            {
                throw new ArgumentException($"hidden layer size {Hidden[i]} at position {i + 1} of 'hidden' is unreasonably large (the limit is 1,000,000).", nameof(Hidden));
            }
        }

        if (!Activations.Contains(Activation ?? ""))
        {
            throw new ArgumentException($"unknown activation '{Activation}'; use one of {string.Join(", ", Activations)}.", nameof(Activation));
        }

        CheckRate(Dropout, "dropout");
        CheckRate(InputDropout, "inputDropout");
        CheckRate(DropConnect, "dropConnect");
        CheckRate(GaussianDropout, "gaussianDropout");
        if (Dropout > 0 && GaussianDropout > 0)
        {
            throw new ArgumentException("'dropout' and 'gaussianDropout' are alternatives for the hidden layers; set at most one of them above 0.", nameof(GaussianDropout));
        }

        if (Training is null)
        {
            throw new ArgumentException("'training' must be an object (or left out for the defaults).", nameof(Training));
        }

        Training.Validate();
    }

    /// <summary>The network this spec describes, ending in <paramref name="outputs"/> units (the class count for
    /// multiclass data, 1 for binary or a single regression target). Unbuilt: the trainer builds it.</summary>
    /// <param name="outputs">Units of the output layer.</param>
    public Network CreateNetwork(int outputs)
    {
        Validate();
        if (outputs < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(outputs), outputs, "the output layer needs at least one unit.");
        }

        if (Layers is not null)
        {
            return Network.Sequential([.. Layers.Select(l => l.Create()), new Dense(outputs)]);
        }

        var init = Activation is "tanh" or "sigmoid" ? WeightInit.GlorotUniform : WeightInit.HeUniform;
        var layers = new List<Layer>();
        if (InputDropout > 0)
        {
            layers.Add(new Layers.Dropout(InputDropout));
        }

        foreach (int units in Hidden)
        {
            layers.Add(DropConnect > 0 ? new DropConnectDense(units, DropConnect, init: init) : new Dense(units, init));
            if (BatchNorm)
            {
                layers.Add(new BatchNorm());
            }

            layers.Add(Activation switch
            {
                "leaky_relu" => new LeakyReLU(),
                "tanh" => new Tanh(),
                "sigmoid" => new Sigmoid(),
                "gelu" => new GELU(),
                _ => new ReLU(),
            });
            if (Dropout > 0)
            {
                layers.Add(new Layers.Dropout(Dropout));
            }

            if (GaussianDropout > 0)
            {
                layers.Add(new Layers.GaussianDropout(GaussianDropout));
            }
        }

        layers.Add(new Dense(outputs, init));
        return Network.Sequential([.. layers]);
    }

    /// <summary>The network for a dataset: as many outputs as it has classes (1 for binary data, the target
    /// count for regression). A perceptron (no <see cref="Layers"/>) on image-shaped examples reads them through a
    /// <c>Flatten</c> first, so one comparison can hold perceptrons and convolutional networks on the same images.</summary>
    /// <param name="data">The training data.</param>
    public Network CreateNetwork(Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return CreateNetwork(OutputsFor(data.Task, data.ClassCount, data.TargetSize), data.SampleShape.Length);
    }

    /// <summary><see cref="CreateNetwork(Dataset)"/> for streamed examples (issue 18): the same network for the same
    /// task, classes and example shape.</summary>
    /// <param name="data">The training examples.</param>
    public Network CreateNetwork(ExampleSource data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return CreateNetwork(OutputsFor(data.Task, data.ClassCount, data.TargetSize), data.Shape.Length);
    }

    private Network CreateNetwork(int outputs, int shapeRank)
    {
        var network = CreateNetwork(outputs);
        return Layers is null && shapeRank > 1 ? Network.Sequential([new Flatten(), .. network.Layers]) : network;
    }

    /// <summary>The output units a dataset needs: K classes, 1 logit for binary data, or the target count.</summary>
    /// <param name="data">The data.</param>
    public static int OutputsFor(Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return OutputsFor(data.Task, data.ClassCount, data.TargetSize);
    }

    private static int OutputsFor(TaskKind task, int classCount, int targetSize) => task switch
    {
        TaskKind.Multiclass => classCount,
        TaskKind.Binary => 1,
        _ => targetSize,
    };

    /// <summary>A short description of the architecture and regularizers, such as
    /// <c>256-128 relu, in-dropout 0.2, dropout 0.5, BN</c>.</summary>
    public string Describe() => Layers is not null
        ? string.Join(" → ", Layers.Select(l => l?.Describe() ?? "null")) + (Training?.DescribeRegularization() is { Length: > 0 } t ? ", " + t : "")
        : $"{string.Join("-", Hidden ?? [])} {Activation}" + (RegularizerParts() is { Count: > 0 } parts ? ", " + string.Join(", ", parts) : "");

    /// <summary>The regularizers alone, such as <c>in-dropout 0.2, BN, dropout 0.5, max-norm 3</c>, or
    /// <c>no regularization</c>.</summary>
    public string DescribeRegularizers() => RegularizerParts() is { Count: > 0 } parts ? string.Join(", ", parts) : "no regularization";

    private List<string> RegularizerParts()
    {
        var parts = new List<string>();
        if (InputDropout > 0)
        {
            parts.Add(Invariant($"in-dropout {InputDropout}"));
        }

        if (DropConnect > 0)
        {
            parts.Add(Invariant($"DropConnect {DropConnect}"));
        }

        if (BatchNorm)
        {
            parts.Add("BN");
        }

        if (Dropout > 0)
        {
            parts.Add(Invariant($"dropout {Dropout}"));
        }

        if (GaussianDropout > 0)
        {
            parts.Add(Invariant($"Gaussian dropout {GaussianDropout}"));
        }

        string training = Training?.DescribeRegularization() ?? "";
        if (training.Length > 0)
        {
            parts.Add(training);
        }

        return parts;
    }

    /// <summary>The name shown for this configuration: <see cref="Name"/>, or <see cref="Describe"/>.</summary>
    [JsonIgnore]
    public string DisplayName => string.IsNullOrWhiteSpace(Name) ? Describe() : Name!;

    /// <summary>A deep copy.</summary>
    public ModelSpec Clone()
    {
        var copy = (ModelSpec)MemberwiseClone();
        copy.Hidden = (int[])(Hidden ?? []).Clone();
        copy.Layers = Layers?.Select(l => l?.Clone()!).ToArray();
        copy.Training = Training?.Clone()!;
        return copy;
    }

    /// <summary>The spec as indented JSON that <see cref="FromJson"/> reads back to an equal spec.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, SpecJson.Options);

    /// <summary>Reads and validates a spec from JSON.</summary>
    /// <param name="json">The JSON text: one object.</param>
    /// <param name="source">Where the text came from, for error messages (such as the file name).</param>
    /// <exception cref="InvalidDataException">The text is not JSON, has an unknown property or a value of the
    /// wrong type.</exception>
    /// <exception cref="ArgumentException">A value is out of range (see <see cref="Validate"/>).</exception>
    public static ModelSpec FromJson(string json, string source = "spec")
    {
        ArgumentNullException.ThrowIfNull(json);
        var spec = SpecJson.Read<ModelSpec>(json, source, allowArray: false).Single();
        return ValidateFrom(spec, source);
    }

    /// <summary>Reads one spec, or an array of specs, from JSON (for a list of configurations to compare).</summary>
    /// <param name="json">One object or an array of objects.</param>
    /// <param name="source">Where the text came from, for error messages.</param>
    public static IReadOnlyList<ModelSpec> ListFromJson(string json, string source = "specs")
    {
        ArgumentNullException.ThrowIfNull(json);
        var specs = SpecJson.Read<ModelSpec>(json, source, allowArray: true);
        if (specs.Count == 0)
        {
            throw new InvalidDataException($"{source}: the array of configurations is empty.");
        }

        for (int i = 0; i < specs.Count; i++)
        {
            ValidateFrom(specs[i], specs.Count == 1 ? source : $"{source} (configuration {i + 1})");
        }

        return specs;
    }

    /// <summary>Reads and validates a spec file.</summary>
    /// <param name="path">The JSON file.</param>
    public static ModelSpec Load(string path) => FromJson(ReadFile(path), Path.GetFileName(path));

    /// <summary>Reads a file holding one spec or an array of specs.</summary>
    /// <param name="path">The JSON file.</param>
    public static IReadOnlyList<ModelSpec> LoadList(string path) => ListFromJson(ReadFile(path), Path.GetFileName(path));

    /// <summary>Writes the spec as JSON (atomically: a temporary file renamed over the target).</summary>
    /// <param name="path">The file to write.</param>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());

    private static ModelSpec ValidateFrom(ModelSpec spec, string source)
    {
        try
        {
            spec.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{source}: {WithoutParameterName(e)}", e);
        }

        return spec;
    }

    /// <summary>The message of an argument exception without the " (Parameter 'x')" that .NET appends.</summary>
    internal static string WithoutParameterName(ArgumentException e) =>
        e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);

    private static string ReadFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"spec file '{path}' does not exist.", path);
        }

        return File.ReadAllText(path);
    }

    private static void CheckRate(float rate, string name)
    {
        if (!(rate >= 0f && rate < 1f))
        {
            throw new ArgumentException(Invariant($"'{name}' must be in [0, 1), got {rate}."), name);
        }
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The training half of a <see cref="ModelSpec"/>: what becomes <see cref="TrainerOptions"/>.</summary>
/// <remarks>
/// The defaults are meant to converge on a user's own data without tuning, after scikit-learn's MLPClassifier
/// (at most 200 epochs, stop after 10 without improvement, 10% held out): up to <see cref="Epochs"/> 200 epochs,
/// early stopping on a stratified 10% of the training data with patience 10, and the weights of the best epoch
/// kept. Two settings depend on the data when a spec leaves them out, and <see cref="ApplyDataDefaults"/> fills
/// them in: the batch size (<see cref="BatchSizeFor"/>) and the normalization (per channel for images, per
/// feature otherwise).
/// </remarks>
public sealed class TrainingSpec
{
    /// <summary>The batch size of a spec that sets none and is not adapted to data.</summary>
    public const int DefaultBatchSize = 128;

    private int? _batchSize;
    private string? _normalization;

    /// <summary>The optimizers a spec may name.</summary>
    public static IReadOnlyList<string> Optimizers { get; } = ["adam", "adamw", "sgd"];

    /// <summary>The learning-rate schedules a spec may name.</summary>
    public static IReadOnlyList<string> Schedules { get; } = ["constant", "cosine"];

    /// <summary>The feature normalizations a spec may name: none, minmax, standard (per feature) and channel (one
    /// mean and deviation per image channel; one for all features of flat data).</summary>
    public static IReadOnlyList<string> Normalizations { get; } = ["none", "minmax", "standard", "channel"];

    /// <summary>The most passes over the training data (default 200); early stopping usually ends training sooner.</summary>
    public int Epochs { get; set; } = 200;

    /// <summary>Largest mini-batch. When a spec does not set it, <see cref="ApplyDataDefaults"/> scales it to the
    /// data (<see cref="BatchSizeFor"/>); until then it reads <see cref="DefaultBatchSize"/>.</summary>
    public int BatchSize
    {
        get => _batchSize ?? DefaultBatchSize;
        set => _batchSize = value;
    }

    /// <summary>True when <see cref="BatchSize"/> was set (by code or by a spec file) rather than left to the data.</summary>
    [JsonIgnore]
    public bool IsBatchSizeSet => _batchSize is not null;

    /// <summary>Seed of initialization, shuffling and masks (default 1).</summary>
    public int Seed { get; set; } = 1;

    /// <summary>adam (default), adamw or sgd.</summary>
    public string Optimizer { get; set; } = "adam";

    /// <summary>Base learning rate (default 0.001; 0.01 is a better start for sgd).</summary>
    public float LearningRate { get; set; } = 1e-3f;

    /// <summary>AdamW's decoupled weight decay (default 0; only with optimizer adamw).</summary>
    public float WeightDecay { get; set; }

    /// <summary>SGD momentum in [0, 1) (default 0; only with optimizer sgd).</summary>
    public float Momentum { get; set; }

    /// <summary>Coupled L2 penalty λ (default 0).</summary>
    public float L2 { get; set; }

    /// <summary>Max-norm constraint on each unit's incoming weights, or null (default) for none.</summary>
    public float? MaxNorm { get; set; }

    /// <summary>constant (default) or cosine (decay to 0 over the epochs).</summary>
    public string Schedule { get; set; } = "constant";

    /// <summary>Feature normalization fitted on the training data: none, minmax, standard or channel. When a spec
    /// does not set it, <see cref="ApplyDataDefaults"/> picks channel for images and standard otherwise; until then
    /// it reads standard (raw CSV columns rarely share a scale).</summary>
    public string Normalization
    {
        get => _normalization ?? "standard";
        set => _normalization = value;
    }

    /// <summary>True when <see cref="Normalization"/> was set (by code or by a spec file) rather than left to the data.</summary>
    [JsonIgnore]
    public bool IsNormalizationSet => _normalization is not null;

    /// <summary>Early-stopping patience in epochs (default 10), or null for none: training stops after this many
    /// epochs without a lower validation loss and keeps the best epoch's weights. Needs validation data.</summary>
    public int? EarlyStoppingPatience { get; set; } = 10;

    /// <summary>The smallest decrease of the validation loss that counts as an improvement for early stopping
    /// (default 0.0001, scikit-learn's <c>tol</c>): without it a loss that creeps down by millionths on a few perfectly
    /// classified validation rows would keep training running to the epoch limit.</summary>
    public float EarlyStoppingMinDelta { get; set; } = 1e-4f;

    /// <summary>Fraction of the training data held out (stratified) for validation and early stopping (default 0.1;
    /// 0 for none). A comparison holds it out of each of its training splits, so that the epoch is never chosen on
    /// the data a configuration is ranked on.</summary>
    public double ValidationFraction { get; set; } = 0.1;

    /// <summary>The batch size for data the spec does not give one for: a power of two near a 32nd of the training
    /// examples, between 16 and 128, so that small data still gets a few dozen steps per epoch (133 rows: 16,
    /// 1,200 rows: 32, 5,000 rows: 128).</summary>
    /// <param name="trainingExamples">Examples the network trains on.</param>
    public static int BatchSizeFor(int trainingExamples)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(trainingExamples);
        int power = (int)Math.Round(Math.Log2(trainingExamples / 32.0));
        return Math.Clamp(1 << Math.Clamp(power, 0, 7), 16, DefaultBatchSize);
    }

    /// <summary>Fills in what this spec leaves to the data: <see cref="BatchSize"/> from <see cref="BatchSizeFor"/>
    /// and <see cref="Normalization"/> (channel for images, standard otherwise). Settings the spec sets stay.</summary>
    /// <param name="trainingExamples">Examples the network trains on.</param>
    /// <param name="images">True for images (IDX files, image folders, <c>[C, H, W]</c> examples).</param>
    public void ApplyDataDefaults(int trainingExamples, bool images)
    {
        _batchSize ??= BatchSizeFor(trainingExamples);
        _normalization ??= images ? "channel" : "standard";
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting; its
    /// <see cref="ArgumentException.ParamName"/> is the setting's JSON name (such as <c>batchSize</c>).</summary>
    public void Validate()
    {
        Require(Epochs >= 1, "epochs", $"'epochs' must be at least 1, got {Epochs}.");
        Require(BatchSize >= 1, "batchSize", $"'batchSize' must be at least 1, got {BatchSize}.");
        Require(Optimizers.Contains(Optimizer ?? ""), "optimizer", $"unknown optimizer '{Optimizer}'; use one of {string.Join(", ", Optimizers)}.");
        Require(LearningRate > 0 && float.IsFinite(LearningRate), "learningRate", Invariant($"'learningRate' must be a positive number, got {LearningRate}."));
        Require(WeightDecay >= 0 && float.IsFinite(WeightDecay), "weightDecay", Invariant($"'weightDecay' must be non-negative, got {WeightDecay}."));
        Require(WeightDecay == 0 || Optimizer == "adamw", "weightDecay", "'weightDecay' is AdamW's decoupled decay: set \"optimizer\": \"adamw\", or use 'l2' for the coupled penalty.");
        Require(Momentum >= 0 && Momentum < 1, "momentum", Invariant($"'momentum' must be in [0, 1), got {Momentum}."));
        Require(Momentum == 0 || Optimizer == "sgd", "momentum", "'momentum' applies to optimizer 'sgd' only.");
        Require(L2 >= 0 && float.IsFinite(L2), "l2", Invariant($"'l2' must be non-negative, got {L2}."));
        Require(MaxNorm is null || (MaxNorm > 0 && float.IsFinite(MaxNorm.Value)), "maxNorm", Invariant($"'maxNorm' must be positive (or null for none), got {MaxNorm}."));
        Require(Schedules.Contains(Schedule ?? ""), "schedule", $"unknown schedule '{Schedule}'; use one of {string.Join(", ", Schedules)}.");
        Require(Normalizations.Contains(Normalization ?? ""), "normalization", $"unknown normalization '{Normalization}'; use one of {string.Join(", ", Normalizations)}.");
        Require(EarlyStoppingPatience is null or >= 1, "earlyStoppingPatience", $"'earlyStoppingPatience' must be at least 1 (or null for none), got {EarlyStoppingPatience}.");
        Require(EarlyStoppingMinDelta >= 0 && float.IsFinite(EarlyStoppingMinDelta), "earlyStoppingMinDelta", Invariant($"'earlyStoppingMinDelta' must be a non-negative number, got {EarlyStoppingMinDelta}."));
        Require(ValidationFraction >= 0 && ValidationFraction < 1, "validationFraction", Invariant($"'validationFraction' must be in [0, 1), got {ValidationFraction}."));
    }

    /// <summary>The trainer options these settings describe.</summary>
    public TrainerOptions ToTrainerOptions()
    {
        Validate();
        OptimizerOptions optimizer = Optimizer switch
        {
            "sgd" => new Sgd { LearningRate = LearningRate, Momentum = Momentum },
            "adamw" => new AdamW { LearningRate = LearningRate, WeightDecay = WeightDecay },
            _ => new Adam { LearningRate = LearningRate },
        };
        return new TrainerOptions
        {
            Epochs = Epochs,
            BatchSize = BatchSize,
            Seed = Seed,
            Optimizer = optimizer,
            Schedule = Schedule == "cosine" ? new CosineDecay() : null,
            L2 = L2,
            MaxNorm = MaxNorm,
            Normalization = Normalization switch
            {
                "minmax" => NormalizationKind.MinMax,
                "standard" => NormalizationKind.Standard,
                "channel" => NormalizationKind.PerChannel,
                _ => NormalizationKind.None,
            },
            EarlyStoppingPatience = EarlyStoppingPatience,
            EarlyStoppingMinDelta = EarlyStoppingMinDelta,
            ValidationFraction = ValidationFraction,
        };
    }

    /// <summary>The regularizing training settings in a few words (weight decay, L2, max-norm), or "".</summary>
    public string DescribeRegularization()
    {
        var parts = new List<string>();
        if (WeightDecay > 0)
        {
            parts.Add(Invariant($"weight decay {WeightDecay}"));
        }

        if (L2 > 0)
        {
            parts.Add(Invariant($"L2 {L2}"));
        }

        if (MaxNorm is float c)
        {
            parts.Add(Invariant($"max-norm {c}"));
        }

        return string.Join(", ", parts);
    }

    /// <summary>A copy.</summary>
    public TrainingSpec Clone() => (TrainingSpec)MemberwiseClone();

    private static void Require(bool ok, string property, string message)
    {
        if (!ok)
        {
            throw new ArgumentException(message, property);
        }
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The JSON conventions of spec files and the reader that turns JSON mistakes into one-line messages.</summary>
internal static class SpecJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.Strict,
    };

    private static readonly JsonDocumentOptions DocumentOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    public static IReadOnlyList<T> Read<T>(string json, string source, bool allowArray)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, DocumentOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not valid JSON (line {e.LineNumber + 1}): {FirstSentence(e.Message)}", e);
        }

        using (document)
        {
            var root = document.RootElement;
            var items = new List<JsonElement>();
            if (root.ValueKind == JsonValueKind.Array && allowArray)
            {
                items.AddRange(root.EnumerateArray());
            }
            else
            {
                items.Add(root);
            }

            var result = new List<T>();
            for (int i = 0; i < items.Count; i++)
            {
                string where = items.Count > 1 || root.ValueKind == JsonValueKind.Array ? $"{source} (configuration {i + 1})" : source;
                if (items[i].ValueKind != JsonValueKind.Object)
                {
                    throw new InvalidDataException($"{where}: expected a JSON object {{ ... }}{(allowArray ? " or an array of objects" : "")}, found {Describe(items[i].ValueKind)}.");
                }

                CheckNames(items[i], typeof(T), where, "");
                try
                {
                    result.Add(items[i].Deserialize<T>(Options) ?? throw new InvalidDataException($"{where}: the spec is null."));
                }
                catch (JsonException e)
                {
                    string path = e.Path is { Length: > 1 } p ? p.TrimStart('$', '.') : "";
                    string expected = Expected(typeof(T), path);
                    throw new InvalidDataException(path.Length == 0
                        ? $"{where}: {FirstSentence(e.Message)}"
                        : $"{where}: '{path}' must be {expected}.", e);
                }
            }

            return result;
        }
    }

    /// <summary>Rejects property names the type does not have, naming the ones it does.</summary>
    private static void CheckNames(JsonElement element, Type type, string source, string prefix)
    {
        var known = type.GetProperties()
            .Where(p => p.CanWrite && p.GetSetMethod() is not null)
            .ToDictionary(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name), p => p, StringComparer.OrdinalIgnoreCase);
        foreach (var property in element.EnumerateObject())
        {
            if (!known.TryGetValue(property.Name, out var info))
            {
                throw new InvalidDataException($"{source}: unknown property '{prefix}{property.Name}'; known properties are {string.Join(", ", known.Keys)}.");
            }

            if (info.PropertyType.IsClass && info.PropertyType != typeof(string) && !info.PropertyType.IsArray && property.Value.ValueKind == JsonValueKind.Object)
            {
                CheckNames(property.Value, info.PropertyType, source, $"{prefix}{property.Name}.");
            }
            else if (info.PropertyType.IsArray && info.PropertyType.GetElementType() is { IsClass: true } itemType && itemType != typeof(string)
                     && property.Value.ValueKind == JsonValueKind.Array)
            {
                int index = 0;
                foreach (var item in property.Value.EnumerateArray())
                {
                    if (item.ValueKind == JsonValueKind.Object)
                    {
                        CheckNames(item, itemType, source, $"{prefix}{property.Name}[{index}].");
                    }

                    index++;
                }
            }
        }
    }

    /// <summary>What the property at a JSON path (such as <c>training.epochs</c> or <c>hidden[1]</c>) holds, in words.</summary>
    private static string Expected(Type type, string path)
    {
        var current = type;
        foreach (string segment in path.Split('.'))
        {
            string name = segment.Split('[')[0];
            var property = current.GetProperties().FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
            if (property is null)
            {
                return "a value of another type";
            }

            current = property.PropertyType;
            if (segment.Contains('[') && current.IsArray)
            {
                current = current.GetElementType()!;
            }
        }

        var underlying = Nullable.GetUnderlyingType(current);
        string orNull = underlying is null ? "" : " or null";
        current = underlying ?? current;
        string what = current == typeof(int) ? "an integer"
            : current == typeof(float) || current == typeof(double) ? "a number"
            : current == typeof(bool) ? "true or false"
            : current == typeof(string) ? "a string"
            : current == typeof(int[]) ? "an array of integers, such as [256, 128]"
            : current == typeof(LayerSpec[]) ? "an array of layer objects, such as [{\"type\": \"dense\", \"units\": 128}]"
            : "an object";
        return what + orNull;
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };

    private static string FirstSentence(string message)
    {
        int end = message.IndexOf(". ", StringComparison.Ordinal);
        return end < 0 ? message : message[..(end + 1)];
    }
}
