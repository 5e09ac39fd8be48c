using System.CommandLine;
using System.Globalization;
using MLNet.Regularization.Experiments;

namespace MLNet.Regularization.Cli;

/// <summary>
/// The network and its training as options: a JSON spec file (<c>--spec</c>) and options that override single
/// settings of it. Precedence: built-in defaults, then the spec file, then the options.
/// </summary>
internal sealed class SpecOptions
{
    private readonly bool _regularizers;

    /// <param name="regularizers">Offer the regularizer options (train); compare chooses regularizers itself.</param>
    public SpecOptions(bool regularizers) => _regularizers = regularizers;

    public Option<string?> Spec { get; } = Options.Text("--spec", "JSON spec file: hidden sizes, activation, regularizers and training settings (options below override it).", "file");

    public Option<string?> Hidden { get; } = Options.Text("--hidden", "Hidden layer sizes, comma-separated (default 128).", "sizes");

    public Option<string?> Activation { get; } = Options.Choice("--activation", "Activation of the hidden layers (default relu).", [.. ModelSpec.Activations]);

    public Option<float?> Dropout { get; } = Options.Float("--dropout", "Dropout rate after each hidden activation (default 0).");

    public Option<float?> InputDropout { get; } = Options.Float("--input-dropout", "Dropout rate on the inputs (default 0).");

    public Option<float?> DropConnect { get; } = Options.Float("--dropconnect", "DropConnect rate of the hidden layers (default 0).");

    public Option<float?> GaussianDropout { get; } = Options.Float("--gaussian-dropout", "Gaussian dropout rate after each hidden activation (default 0).");

    public Option<bool?> BatchNorm { get; } = new("--batch-norm") { Description = "Batch normalization before each hidden activation (--batch-norm, or --batch-norm false).", Arity = ArgumentArity.ZeroOrOne };

    public Option<float?> MaxNorm { get; } = Options.Float("--max-norm", "Max-norm constraint on each unit's incoming weights (default none).");

    public Option<float?> WeightDecay { get; } = Options.Float("--weight-decay", "AdamW decoupled weight decay (switches the optimizer to adamw).");

    public Option<float?> L2 { get; } = Options.Float("--l2", "Coupled L2 penalty (default 0).");

    public Option<int?> Epochs { get; } = Options.Int("--epochs", "The most passes over the training data (default 200; early stopping usually ends training sooner).");

    public Option<int?> BatchSize { get; } = Options.Int("--batch-size", "Mini-batch size (default: scaled to the data, a power of two near rows/32 between 16 and 128).");

    public Option<float?> LearningRate { get; } = Options.Float("--lr", "Learning rate (default 0.001).");

    public Option<string?> Optimizer { get; } = Options.Choice("--optimizer", "Optimizer (default adam).", [.. TrainingSpec.Optimizers]);

    public Option<string?> Schedule { get; } = Options.Choice("--schedule", "Learning-rate schedule (default constant).", [.. TrainingSpec.Schedules]);

    public Option<string?> Normalization { get; } = Options.Choice("--normalization", "Feature normalization fitted on the training data: standard (per feature, deviations floored at a tenth of the range), channel (one mean and deviation per image channel), minmax or none (default: channel for images, standard otherwise).", [.. TrainingSpec.Normalizations]);

    public Option<int?> Seed { get; } = Options.Int("--seed", "Seed of splits, initialization, shuffling and masks (default 1).");

    public Option<int?> Patience { get; } = Options.Int("--patience", "Early stopping: stop after this many epochs without a lower validation loss and keep the best epoch's weights (default 10; 0 turns it off).");

    public void AddTo(Command command)
    {
        command.Add(Spec);
        command.Add(Hidden);
        command.Add(Activation);
        if (_regularizers)
        {
            command.Add(Dropout);
            command.Add(InputDropout);
            command.Add(DropConnect);
            command.Add(GaussianDropout);
            command.Add(BatchNorm);
            command.Add(MaxNorm);
            command.Add(WeightDecay);
            command.Add(L2);
        }

        command.Add(Epochs);
        command.Add(BatchSize);
        command.Add(LearningRate);
        command.Add(Optimizer);
        command.Add(Schedule);
        command.Add(Normalization);
        command.Add(Seed);
        command.Add(Patience);
    }

    /// <summary>The spec: defaults, then the --spec file, then the options; validated. A value given as an option
    /// that the spec rejects is reported under the option's name.</summary>
    public ModelSpec Build(ParseResult r)
    {
        var spec = r.GetValue(Spec) is { } path ? ModelSpec.Load(path) : new ModelSpec();
        var t = spec.Training;
        if (r.GetValue(Hidden) is { } hidden)
        {
            spec.Hidden = ParseSizes(hidden);
        }

        spec.Activation = r.GetValue(Activation) ?? spec.Activation;
        if (_regularizers)
        {
            spec.Dropout = r.Given(Dropout) ?? spec.Dropout;
            spec.InputDropout = r.Given(InputDropout) ?? spec.InputDropout;
            spec.DropConnect = r.Given(DropConnect) ?? spec.DropConnect;
            spec.GaussianDropout = r.Given(GaussianDropout) ?? spec.GaussianDropout;
            if (r.GetResult(BatchNorm) is not null)
            {
                spec.BatchNorm = r.GetValue(BatchNorm) ?? true;
            }

            t.MaxNorm = r.Given(MaxNorm) ?? t.MaxNorm;
            t.L2 = r.Given(L2) ?? t.L2;
            if (r.Given(WeightDecay) is float decay)
            {
                t.WeightDecay = decay;
                if (decay > 0 && r.GetValue(Optimizer) is null)
                {
                    t.Optimizer = "adamw";
                }
            }
        }

        if (r.Given(Epochs) is int epochs)
        {
            t.Epochs = epochs;
        }

        if (r.Given(BatchSize) is int batch)
        {
            t.BatchSize = batch;
        }

        t.LearningRate = r.Given(LearningRate) ?? t.LearningRate;
        t.Optimizer = r.GetValue(Optimizer) ?? t.Optimizer;
        t.Schedule = r.GetValue(Schedule) ?? t.Schedule;
        if (r.GetValue(Normalization) is { } normalization)
        {
            t.Normalization = normalization;
        }

        t.Seed = r.Given(Seed) ?? t.Seed;
        if (r.Given(Patience) is int patience)
        {
            t.EarlyStoppingPatience = patience == 0 ? null : patience;
        }

        try
        {
            spec.Validate();
        }
        catch (ArgumentException e) when (OptionFor(e.ParamName) is { } option && r.GetResult(option) is not null)
        {
            string message = e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            throw new UsageException(message.Replace($"'{JsonName(e.ParamName!)}'", option.Name, StringComparison.Ordinal));
        }

        return spec;
    }

    /// <summary>True when the command line gave --patience (so turning early stopping off for want of validation
    /// data would ignore it).</summary>
    public bool PatienceGiven(ParseResult r) => r.Given(Patience) is > 0;

    /// <summary>The option that sets a spec property (by its JSON or C# name), or null.</summary>
    private Option? OptionFor(string? property) => property is null ? null : JsonName(property) switch
    {
        "hidden" => Hidden,
        "activation" => Activation,
        "dropout" => Dropout,
        "inputDropout" => InputDropout,
        "dropConnect" => DropConnect,
        "gaussianDropout" => GaussianDropout,
        "maxNorm" => MaxNorm,
        "weightDecay" => WeightDecay,
        "l2" => L2,
        "epochs" => Epochs,
        "batchSize" => BatchSize,
        "learningRate" => LearningRate,
        "optimizer" => Optimizer,
        "schedule" => Schedule,
        "normalization" => Normalization,
        "earlyStoppingPatience" => Patience,
        _ => null,
    };

    private static string JsonName(string property) => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(property);

    private static int[] ParseSizes(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var sizes = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out sizes[i]))
            {
                throw new UsageException($"--hidden: '{text}' is not a comma-separated list of layer sizes such as 256,128.");
            }
        }

        return sizes;
    }
}
