using System.Collections.Concurrent;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Uncertainty;

namespace MLNet.Regularization.Training;

/// <summary>
/// A trained network in inference mode together with the normalization fitted on its training data and the
/// history of its training. Immutable in use: predictions never change it and may run on several threads at once
/// (each call borrows its own workspace).
/// </summary>
public sealed class TrainedModel
{
    private readonly ConcurrentBag<ForwardContext> _contexts = new();
    private readonly int _threads;
    private readonly Network _monteCarloNetwork;

    /// <summary>Creates a model from a built network (used by the trainer and the ONNX importer).</summary>
    public TrainedModel(Network network, Normalizer? normalizer, TrainingHistory history, TaskKind task, int classCount, int targetSize, IReadOnlyList<string>? classNames, int seed, string trainingSettings)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (!network.IsBuilt)
        {
            throw new ArgumentException("the network must be built.", nameof(network));
        }

        Network = network;
        InferenceNetwork = InferenceFolding.ForInference(network);
        _monteCarloNetwork = InferenceFolding.ForMonteCarlo(network);
        foreach (var dense in InferenceNetwork.Layers.Concat(_monteCarloNetwork.Layers).OfType<Dense>())
        {
            dense.FreezeForInference();
        }
        Normalizer = normalizer;
        History = history;
        Task = task;
        ClassCount = classCount;
        TargetSize = targetSize;
        ClassNames = classNames;
        Seed = seed;
        TrainingSettings = trainingSettings;
        _threads = Environment.ProcessorCount;
    }

    /// <summary>The trained network as training left it. Predictions run on copies derived from it when the model
    /// was created (see <see cref="InferenceNetwork"/>), so changing its weights afterwards changes nothing.</summary>
    public Network Network { get; }

    /// <summary>The network deterministic predictions run on, derived once from <see cref="Network"/>: each
    /// DropConnect layer replaced by a Dense with the expected weights (1 − p)·W, and each batch norm that directly
    /// follows a Dense folded into it. The ONNX exporter writes exactly this network (unless told not to fold batch
    /// norm), so C#, ONNX Runtime and a re-imported model compute the same thing. Treat it as read-only: its Dense
    /// layers keep a packed copy of their weights for predictions on a few rows at a time.</summary>
    public Network InferenceNetwork { get; }

    /// <summary>The normalization applied to raw features before the network, or null.</summary>
    public Normalizer? Normalizer { get; }

    /// <summary>Every epoch of the training run.</summary>
    public TrainingHistory History { get; }

    /// <summary>The task the model was trained for.</summary>
    public TaskKind Task { get; }

    /// <summary>Number of classes (classification), 0 for regression.</summary>
    public int ClassCount { get; }

    /// <summary>Number of regression outputs, 0 for classification.</summary>
    public int TargetSize { get; }

    /// <summary>Class names, if the training data had them.</summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>The training seed.</summary>
    public int Seed { get; }

    /// <summary>The trainer settings used, as one line.</summary>
    public string TrainingSettings { get; }

    /// <summary>The per-example input shape.</summary>
    public int[] InputShape => Network.InputShape.ToArray();

    /// <summary>Raw network outputs (logits, or values for regression) for a batch of raw features [N, ...].</summary>
    public Tensor PredictRaw(Tensor features) => Run(features, InferenceNetwork, ForwardMode.Inference, null, (net, x, ctx) => net.Forward(x, ctx).Clone());

    /// <summary>Class probabilities: N×K for multiclass (softmax); for binary N×2 with columns P(0), P(1).</summary>
    public float[] PredictProbabilities(Tensor features)
    {
        RequireClassification();
        var raw = PredictRaw(features);
        return OutputsToProbabilities(raw.Span, raw.BatchSize);
    }

    /// <summary>Predicted class per example.</summary>
    public int[] PredictLabels(Tensor features)
    {
        var p = PredictProbabilities(features);
        int k = ProbabilityWidth, n = p.Length / k;
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = Evaluator.ArgMax(p.AsSpan(i * k, k));
        }

        return labels;
    }

    /// <summary>Regression outputs, N × TargetSize.</summary>
    public float[] PredictValues(Tensor features)
    {
        if (Task != TaskKind.Regression)
        {
            throw new InvalidOperationException($"PredictValues is for regression models; this one is {Task}: use PredictProbabilities.");
        }

        return PredictRaw(features).Data;
    }

    /// <summary>Monte Carlo dropout (Gal &amp; Ghahramani, 2016): <paramref name="samples"/> stochastic passes with
    /// dropout (and DropConnect masks) on and batch norm in inference mode, on a copy of <see cref="Network"/> whose
    /// batch norms that directly follow a Dense are folded into it, as in <see cref="InferenceNetwork"/>; returns mean probabilities, predictive entropy, per-class
    /// variance and mutual information.</summary>
    public UncertaintyPrediction PredictWithUncertainty(Tensor features, int samples = 50, int seed = 0)
    {
        RequireClassification();
        if (samples < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(samples), samples, "Monte Carlo dropout needs at least 2 samples.");
        }

        return Run(features, _monteCarloNetwork, ForwardMode.MonteCarlo, new Rng(seed), (net, x, ctx) =>
            MonteCarloDropout.Sample(net, x, ctx, samples, ProbabilityWidth, OutputsToProbabilities));
    }

    /// <summary>Loss and accuracy on labelled data (inference mode).</summary>
    public (double Loss, double Accuracy) Evaluate(Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Task != Task)
        {
            throw new ArgumentException($"the data is labelled for {data.Task}, the model for {Task}.", nameof(data));
        }

        CheckShape(data.Features);
        using var source = new DatasetSource(data);
        return new Evaluator(Loss.For(Task), _threads).Run(InferenceNetwork, source, Normalizer);
    }

    /// <summary>Width of a probability row: K for multiclass, 2 for binary.</summary>
    public int ProbabilityWidth => Task == TaskKind.Binary ? 2 : ClassCount;

    private float[] OutputsToProbabilities(ReadOnlySpan<float> raw, int n)
    {
        int k = ProbabilityWidth;
        var p = new float[n * k];
        for (int i = 0; i < n; i++)
        {
            if (Task == TaskKind.Binary)
            {
                float p1 = 1f / (1f + MathF.Exp(-raw[i]));
                p[2 * i] = 1f - p1;
                p[2 * i + 1] = p1;
            }
            else
            {
                SoftmaxCrossEntropy.Softmax(raw.Slice(i * k, k), p.AsSpan(i * k, k));
            }
        }

        return p;
    }

    private T Run<T>(Tensor features, Network network, ForwardMode mode, Rng? rng, Func<Network, Tensor, ForwardContext, T> body)
    {
        ArgumentNullException.ThrowIfNull(features);
        CheckShape(features);
        Dataset.CheckFinite(features.Span, features.SampleSize);
        var x = features;
        if (Normalizer is not null)
        {
            x = new Tensor(features.Shape.ToArray());
            Normalizer.Apply(features.Span, x.Span);
        }

        if (!_contexts.TryTake(out var ctx))
        {
            ctx = new ForwardContext(ForwardMode.Inference, null, _threads);
        }

        try
        {
            ctx.Mode = mode;
            ctx.Rng = rng ?? ctx.Rng;
            return body(network, x, ctx);
        }
        finally
        {
            ctx.Mode = ForwardMode.Inference;
            _contexts.Add(ctx);
        }
    }

    private void CheckShape(Tensor features)
    {
        var expected = Network.InputShape;
        if (features.Rank != expected.Length + 1 || !features.Shape[1..].SequenceEqual(expected))
        {
            throw new ArgumentException($"features have shape {features.ShapeText}; the model expects [N, {string.Join(", ", expected.ToArray())}] ({Network.InputShape.ToArray().Aggregate(1, (a, b) => a * b)} values per example).", nameof(features));
        }
    }

    private void RequireClassification()
    {
        if (Task == TaskKind.Regression)
        {
            throw new InvalidOperationException("this is a regression model: use PredictValues.");
        }
    }
}
