using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Training;

/// <summary>
/// One optimization step on a mini-batch, split in two so the trainer can check the loss before touching the
/// weights: <see cref="Forward"/> (training-mode forward pass and loss) and <see cref="Update"/> (backward, the layers'
/// own regularizers such as a KL term, L2, optimizer, max-norm). The trainer's loop and the benchmarks run exactly this code.
/// </summary>
internal sealed class TrainingStep
{
    private readonly Network _net;
    private readonly Loss _loss;
    private readonly TrainerOptions _options;
    private readonly TaskKind _task;
    private readonly List<Parameter> _parameters;
    private readonly OptimizerState _optimizer;
    private readonly IRegularizedLayer[] _regularized;
    private readonly double _inverseExamples;
    private readonly int _stepsPerEpoch;
    private Tensor? _gradient;
    private int _steps;

    /// <summary>Creates the step for <paramref name="examples"/> training examples (the KL terms of Bayesian layers
    /// weigh 1/<paramref name="examples"/> against the mean data loss, and their warm-up counts epochs of
    /// ⌈examples / BatchSize⌉ steps).</summary>
    public TrainingStep(Network net, Loss loss, TrainerOptions options, Rng maskRng, TaskKind task, int examples)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(examples, 1);
        _net = net;
        _loss = loss;
        _options = options;
        _task = task;
        _parameters = net.Parameters.ToList();
        foreach (var p in _parameters)
        {
            // Pruned weights start at exactly 0 (whatever was written into them since the mask was set); the
            // optimizer keeps them there, so every forward pass computes with M ⊙ W.
            p.ApplyMask();
        }

        _optimizer = options.Optimizer.CreateState(_parameters);
        _regularized = net.Layers.OfType<IRegularizedLayer>().ToArray();
        _inverseExamples = 1.0 / examples;
        _stepsPerEpoch = (examples + options.BatchSize - 1) / options.BatchSize;
        Context = new ForwardContext(ForwardMode.Train, maskRng, options.MaxThreads);
    }

    /// <summary>The optimizer's per-parameter state (moments), saved in checkpoints.</summary>
    internal OptimizerState Optimizer => _optimizer;

    /// <summary>Optimizer steps taken so far (Adam's bias correction depends on it), saved in checkpoints.</summary>
    internal int Steps
    {
        get => _steps;
        set => _steps = value;
    }

    /// <summary>The training-mode context (its random source draws every mask).</summary>
    public ForwardContext Context { get; }

    /// <summary>Forward pass and loss; returns the batch-mean loss and counts correct predictions.</summary>
    public float Forward(Tensor x, ReadOnlySpan<float> targets, ReadOnlySpan<int> labels, out long correct)
    {
        var output = _net.Forward(x, Context);
        return Loss(output, targets, labels, out correct);
    }

    /// <summary>The loss of a forward pass's <paramref name="output"/>; keeps dLoss/dOutput for <see cref="Update"/>.</summary>
    internal float Loss(Tensor output, ReadOnlySpan<float> targets, ReadOnlySpan<int> labels, out long correct)
    {
        _gradient = Tensor.Reuse(_gradient, output.Shape);
        float value = _loss.Compute(output, targets, _gradient);
        correct = Evaluator.CountCorrect(output, labels, _task);
        return value;
    }

    /// <summary>dLoss/dOutput of the last <see cref="Loss"/> (the profiler backpropagates it layer by layer).</summary>
    internal Tensor OutputGradient => _gradient ?? throw new InvalidOperationException("no loss computed yet.");

    /// <summary>Backward pass, L2 penalty, optimizer step at <paramref name="learningRate"/>, max-norm.</summary>
    public void Update(float learningRate)
    {
        _net.Backward(_gradient ?? throw new InvalidOperationException("Update needs a Forward first."), Context);
        ApplyGradients(learningRate);
    }

    /// <summary>The layers' own regularizers (KL terms), gradient clipping, L2 and slimming penalties, optimizer step and
    /// max-norm on the gradients a backward pass left in the parameters.</summary>
    internal void ApplyGradients(float learningRate)
    {
        // The KL terms are part of the objective, so their gradients join the data gradient before it is clipped.
        double epoch = (double)_steps / _stepsPerEpoch;
        foreach (var layer in _regularized)
        {
            layer.AddRegularizerGradient(_inverseExamples, epoch);
        }

        if (_options.GradientClipNorm is float clip)
        {
            ClipByGlobalNorm(_parameters, clip);
        }

        if (_options.L2 > 0)
        {
            AddPenalty(_parameters, ParameterKind.Weight, _options.L2, sign: false);
        }

        if (_options.BatchNormScaleL1 > 0)
        {
            AddPenalty(_parameters, ParameterKind.Scale, _options.BatchNormScaleL1, sign: true);
        }

        _optimizer.Step(learningRate, ++_steps, _options.MaxThreads);
        if (_options.MaxNorm is float c)
        {
            Trainer.ApplyMaxNorm(_parameters, c);
        }
    }

    /// <summary>Scales every gradient by <paramref name="maxNorm"/> / ‖g‖ when the global norm ‖g‖ (all parameters
    /// together, summed in double in parameter order, so it does not depend on threads) exceeds it; returns ‖g‖.</summary>
    internal static double ClipByGlobalNorm(List<Parameter> parameters, float maxNorm)
    {
        double sum = 0;
        foreach (var p in parameters)
        {
            foreach (float g in p.Gradient.Span)
            {
                sum += (double)g * g;
            }
        }

        double norm = Math.Sqrt(sum);
        if (norm > maxNorm)
        {
            float scale = (float)(maxNorm / norm);
            foreach (var p in parameters)
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(p.Gradient.Span, scale, p.Gradient.Span);
            }
        }

        return norm;
    }

    /// <summary>Adds a penalty's gradient to every parameter of one kind: λ·w for the L2 penalty λ/2·‖w‖² on weights,
    /// λ·sign(γ) for network slimming's λ·Σ|γ| on batch-norm scales (Liu et al., 2017, a subgradient).</summary>
    private static void AddPenalty(List<Parameter> parameters, ParameterKind kind, float lambda, bool sign)
    {
        foreach (var p in parameters)
        {
            if (p.Kind != kind)
            {
                continue;
            }

            var v = p.Value.Span;
            var g = p.Gradient.Span;
            for (int i = 0; i < v.Length; i++)
            {
                g[i] += lambda * (sign ? MathF.Sign(v[i]) : v[i]);
            }
        }
    }
}
