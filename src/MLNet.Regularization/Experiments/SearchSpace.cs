using System.Globalization;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Experiments;

/// <summary>
/// The regularizer settings a random search draws from. Each dimension is a list of candidate values drawn
/// uniformly; the learning rate is drawn log-uniformly from a range. Everything not listed (hidden sizes,
/// activation, epochs, batch size, optimizer) comes from the base spec.
/// </summary>
/// <remarks>
/// Random search (Bergstra &amp; Bengio, 2012) rather than a full grid: with a handful of dimensions of which only
/// one or two matter, N random points try N distinct values of each dimension where a grid of N points tries only
/// N^(1/d). Dropout and Gaussian dropout are alternatives: when both draws are positive a coin decides which one
/// stays. A positive weight decay switches the optimizer from Adam to AdamW (decoupled decay). A configuration
/// equal to one drawn before is drawn again; after 200 repeats in a row the space counts as exhausted and the
/// sequence ends.
/// </remarks>
public sealed class SearchSpace
{
    /// <summary>Hidden-layer dropout rates (default 0, 0.2, 0.3, 0.5).</summary>
    public IReadOnlyList<float> Dropout { get; set; } = [0f, 0.2f, 0.3f, 0.5f];

    /// <summary>Input dropout rates (default 0, 0.1, 0.2).</summary>
    public IReadOnlyList<float> InputDropout { get; set; } = [0f, 0.1f, 0.2f];

    /// <summary>DropConnect rates (default 0, 0, 0.3, 0.5: plain layers half the time, as DropConnect is slower).</summary>
    public IReadOnlyList<float> DropConnect { get; set; } = [0f, 0f, 0.3f, 0.5f];

    /// <summary>Batch normalization off or on (default both).</summary>
    public IReadOnlyList<bool> BatchNorm { get; set; } = [false, true];

    /// <summary>Gaussian dropout rates (default 0, 0, 0.2, 0.4).</summary>
    public IReadOnlyList<float> GaussianDropout { get; set; } = [0f, 0f, 0.2f, 0.4f];

    /// <summary>Max-norm constraints, null for none (default none, 3, 4).</summary>
    public IReadOnlyList<float?> MaxNorm { get; set; } = [null, 3f, 4f];

    /// <summary>AdamW weight decays; 0 keeps the base optimizer (default 0, 1e-4, 1e-3, 1e-2).</summary>
    public IReadOnlyList<float> WeightDecay { get; set; } = [0f, 1e-4f, 1e-3f, 1e-2f];

    /// <summary>Coupled L2 penalties (default 0 only: weight decay covers the idea).</summary>
    public IReadOnlyList<float> L2 { get; set; } = [0f];

    /// <summary>Range of a log-uniform learning rate, or null (default) to keep the base spec's.</summary>
    public (float Min, float Max)? LearningRate { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> for an empty dimension or an invalid value.</summary>
    public void Validate()
    {
        NotEmpty(Dropout, nameof(Dropout));
        NotEmpty(InputDropout, nameof(InputDropout));
        NotEmpty(DropConnect, nameof(DropConnect));
        NotEmpty(BatchNorm, nameof(BatchNorm));
        NotEmpty(GaussianDropout, nameof(GaussianDropout));
        NotEmpty(MaxNorm, nameof(MaxNorm));
        NotEmpty(WeightDecay, nameof(WeightDecay));
        NotEmpty(L2, nameof(L2));
        if (LearningRate is { } lr && !(lr.Min > 0 && lr.Max >= lr.Min && float.IsFinite(lr.Max)))
        {
            throw new ArgumentException(FormattableString.Invariant($"the learning-rate range must satisfy 0 < min <= max, got [{lr.Min}, {lr.Max}]."), nameof(LearningRate));
        }
    }

    /// <summary>An endless sequence of distinct specs drawn from this space around <paramref name="baseSpec"/>,
    /// named by number and regularizers (<c>random 1: BN, dropout 0.3</c>, …); it ends only when the space is
    /// exhausted.</summary>
    /// <param name="baseSpec">Architecture and training settings the draws start from (its regularizers are
    /// replaced).</param>
    /// <param name="seed">The seed; the same seed gives the same sequence.</param>
    public IEnumerable<ModelSpec> Sample(ModelSpec baseSpec, int seed)
    {
        ArgumentNullException.ThrowIfNull(baseSpec);
        baseSpec.Validate();
        Validate();
        return SampleIterator(baseSpec.Clone(), seed);
    }

    private IEnumerable<ModelSpec> SampleIterator(ModelSpec baseSpec, int seed)
    {
        var rng = new Rng(seed);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int repeats = 0, drawn = 0;
        while (repeats < 200)
        {
            var spec = Draw(baseSpec, rng);
            spec.Validate();
            if (!seen.Add(spec.ToJson()))
            {
                repeats++;
                continue;
            }

            repeats = 0;
            spec.Name = $"random {++drawn}: {spec.DescribeRegularizers()}";
            yield return spec;
        }
    }

    private ModelSpec Draw(ModelSpec baseSpec, Rng rng)
    {
        var s = baseSpec.Clone();
        s.Name = null;
        s.Dropout = Pick(Dropout, rng);
        s.InputDropout = Pick(InputDropout, rng);
        s.DropConnect = Pick(DropConnect, rng);
        s.BatchNorm = Pick(BatchNorm, rng);
        s.GaussianDropout = Pick(GaussianDropout, rng);
        if (s.Dropout > 0 && s.GaussianDropout > 0)
        {
            if (rng.NextInt(2) == 0)
            {
                s.Dropout = 0;
            }
            else
            {
                s.GaussianDropout = 0;
            }
        }

        s.Training.MaxNorm = Pick(MaxNorm, rng);
        s.Training.L2 = Pick(L2, rng);
        float decay = Pick(WeightDecay, rng);
        s.Training.WeightDecay = decay;
        if (decay > 0)
        {
            s.Training.Optimizer = "adamw";
            s.Training.Momentum = 0;
        }
        else if (s.Training.Optimizer == "adamw")
        {
            s.Training.Optimizer = "adam";
        }

        if (LearningRate is { } range)
        {
            double u = rng.NextFloat();
            double lr = Math.Exp(Math.Log(range.Min) + (u * (Math.Log(range.Max) - Math.Log(range.Min))));
            s.Training.LearningRate = float.Parse(lr.ToString("G3", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        }

        return s;
    }

    /// <summary>
    /// The standard grid of regularizers on one architecture, in the order the literature introduced them: none,
    /// dropout (0.2 on the inputs, 0.5 on the hidden layers, Srivastava et al.), dropout with max-norm 3, Gaussian
    /// dropout 0.5, DropConnect 0.5 (Wan et al.), batch norm (Ioffe &amp; Szegedy), batch norm with dropout 0.2,
    /// and AdamW weight decay 0.01 (Loshchilov &amp; Hutter).
    /// </summary>
    /// <param name="baseSpec">Architecture and training settings; its own regularizers are replaced.</param>
    public static IReadOnlyList<ModelSpec> RegularizerGrid(ModelSpec baseSpec)
    {
        ArgumentNullException.ThrowIfNull(baseSpec);
        baseSpec.Validate();
        ModelSpec Plain(string name)
        {
            var s = baseSpec.Clone();
            s.Name = name;
            s.Dropout = s.InputDropout = s.DropConnect = s.GaussianDropout = 0;
            s.BatchNorm = false;
            s.Training.MaxNorm = null;
            s.Training.L2 = 0;
            s.Training.WeightDecay = 0;
            if (s.Training.Optimizer == "adamw")
            {
                s.Training.Optimizer = "adam";
            }

            return s;
        }

        var none = Plain("none");
        var dropout = Plain("dropout");
        dropout.InputDropout = 0.2f;
        dropout.Dropout = 0.5f;
        var maxNorm = Plain("dropout + max-norm");
        maxNorm.InputDropout = 0.2f;
        maxNorm.Dropout = 0.5f;
        maxNorm.Training.MaxNorm = 3f;
        var gaussian = Plain("Gaussian dropout");
        gaussian.GaussianDropout = 0.5f;
        var dropConnect = Plain("DropConnect");
        dropConnect.DropConnect = 0.5f;
        var batchNorm = Plain("batch norm");
        batchNorm.BatchNorm = true;
        var batchNormDropout = Plain("batch norm + dropout");
        batchNormDropout.BatchNorm = true;
        batchNormDropout.Dropout = 0.2f;
        var weightDecay = Plain("weight decay");
        weightDecay.Training.Optimizer = "adamw";
        weightDecay.Training.Momentum = 0;
        weightDecay.Training.WeightDecay = 0.01f;
        return [none, dropout, maxNorm, gaussian, dropConnect, batchNorm, batchNormDropout, weightDecay];
    }

    private static T Pick<T>(IReadOnlyList<T> values, Rng rng) => values[rng.NextInt(values.Count)];

    private static void NotEmpty<T>(IReadOnlyList<T>? values, string name)
    {
        if (values is null || values.Count == 0)
        {
            throw new ArgumentException($"search dimension {name} needs at least one value.", name);
        }
    }
}
