using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Experiments;

/// <summary>
/// One named candidate of a comparison: how to make the (unbuilt) network and how to train it. Either a network
/// factory with trainer options, or a <see cref="ModelSpec"/> whose output layer is sized from the data.
/// </summary>
public sealed class ComparisonConfiguration
{
    private readonly Func<Dataset, Network> _network;
    private readonly TrainerOptions _options;

    /// <summary>A configuration from a network factory and trainer options.</summary>
    /// <param name="name">The name shown in the leaderboard and the report; unique within a comparison.</param>
    /// <param name="network">Makes a fresh unbuilt network whose output fits the data (for example
    /// <c>() =&gt; Network.Sequential(new Dense(128), new ReLU(), new Dropout(0.5f), new Dense(10))</c>).</param>
    /// <param name="options">Training settings. The comparison trains a copy whose <see cref="TrainerOptions.Seed"/>
    /// it sets per repeat. With early stopping and a <see cref="TrainerOptions.ValidationFraction"/>, that fraction of
    /// each training split is held out to choose the epoch; otherwise the fraction is set to 0 and early stopping (if
    /// any) watches the comparison's validation split. Everything else is used as given.</param>
    public ComparisonConfiguration(string name, Func<Network> network, TrainerOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Name = name;
        _network = _ => network();
        _options = options.Clone();
    }

    private ComparisonConfiguration(string name, ModelSpec spec)
    {
        Name = name;
        Spec = spec;
        _network = spec.CreateNetwork;
        _options = spec.Training.ToTrainerOptions();
    }

    /// <summary>A named entry that the comparison does not train itself (see <see cref="ComparisonResult.FromMeasurements"/>).</summary>
    internal static ComparisonConfiguration Measured(string name, string? description) =>
        new(name, () => throw new InvalidOperationException($"'{name}' was measured outside the comparison and cannot be trained by it."), new TrainerOptions()) { Description = description };

    /// <summary>A configuration from a spec; its output layer gets as many units as the data needs.</summary>
    /// <param name="spec">The architecture, regularizers and training settings (validated here and copied).</param>
    /// <param name="name">The name; when null, <see cref="ModelSpec.DisplayName"/>.</param>
    public static ComparisonConfiguration FromSpec(ModelSpec spec, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        var copy = spec.Clone();
        copy.Name = string.IsNullOrWhiteSpace(name) ? spec.DisplayName : name;
        return new ComparisonConfiguration(copy.Name, copy);
    }

    /// <summary>The configuration's name.</summary>
    public string Name { get; }

    /// <summary>A one-line description shown under the name, for entries measured outside the comparison.</summary>
    internal string? Description { get; private init; }

    /// <summary>The spec it was made from, or null for a network factory.</summary>
    public ModelSpec? Spec { get; }

    /// <summary>A copy of the training settings (changing it does not change the configuration).</summary>
    public TrainerOptions Options => _options.Clone();

    /// <summary>A fresh unbuilt network for <paramref name="data"/>.</summary>
    internal Network CreateNetwork(Dataset data) =>
        _network(data) ?? throw new InvalidOperationException($"configuration '{Name}': the network factory returned null.");

    /// <summary>The training settings for one run: the given ones with this seed, and an internal validation split
    /// only for early stopping.</summary>
    internal TrainerOptions OptionsForRun(int seed)
    {
        var o = _options.Clone();
        o.Seed = seed;
        if (o.EarlyStoppingPatience is null)
        {
            o.ValidationFraction = 0;
        }

        return o;
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}
