using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Training;

/// <summary>
/// The optimizers' vectorized, multi-threaded update against a plain double-precision implementation of the
/// papers' formulas, written here independently; and 1 thread against 2, bit for bit.
/// </summary>
public class OptimizerTests
{
    // Lengths: shorter than a vector (scalar tail only), vector + tail, and long enough to be split over threads
    // (the split point lands inside a vector, so ranges start unaligned).
    private static readonly int[] Lengths = [1, 7, 37, 70_001];

    public static TheoryData<string> Optimizers => ["sgd", "sgd momentum", "sgd nesterov", "adam", "adamw"];

    private static OptimizerOptions Create(string name) => name switch
    {
        "sgd" => new Sgd { LearningRate = 0.05f },
        "sgd momentum" => new Sgd { LearningRate = 0.05f, Momentum = 0.9f },
        "sgd nesterov" => new Sgd { LearningRate = 0.05f, Momentum = 0.9f, Nesterov = true },
        "adam" => new Adam { LearningRate = 0.01f },
        "adamw" => new AdamW { LearningRate = 0.01f, WeightDecay = 0.1f },
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void Update_matches_the_formula_for_every_length(string name)
    {
        var options = Create(name);
        var parameters = MakeParameters(seed: 5);
        var reference = new ReferenceOptimizer(options, parameters);
        var state = options.CreateState(parameters);
        var rng = new Rng(9);
        for (int step = 1; step <= 4; step++)
        {
            foreach (var p in parameters)
            {
                rng.FillGaussian(p.Gradient.Span);
            }

            reference.Step(options.LearningRate, step);
            state.Step(options.LearningRate, step, threads: 2);
        }

        for (int i = 0; i < parameters.Count; i++)
        {
            var actual = parameters[i].Value.Span;
            for (int j = 0; j < actual.Length; j++)
            {
                double expected = reference.Weights[i][j];
                Assert.True(Math.Abs(actual[j] - expected) <= 1e-5 * Math.Max(1.0, Math.Abs(expected)),
                    $"{name}: parameter {i} (length {actual.Length}) element {j}: {actual[j]} vs formula {expected}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void One_and_two_threads_give_identical_bits(string name)
    {
        var one = MakeParameters(seed: 3);
        var two = MakeParameters(seed: 3);
        var options = Create(name);
        var s1 = options.CreateState(one);
        var s2 = options.CreateState(two);
        for (int step = 1; step <= 3; step++)
        {
            var r1 = new Rng(100 + step);
            var r2 = new Rng(100 + step);
            foreach (var p in one)
            {
                r1.FillGaussian(p.Gradient.Span);
            }

            foreach (var p in two)
            {
                r2.FillGaussian(p.Gradient.Span);
            }

            s1.Step(options.LearningRate, step, threads: 1);
            s2.Step(options.LearningRate, step, threads: 2);
        }

        for (int i = 0; i < one.Count; i++)
        {
            Assert.Equal(one[i].Value.Span.ToArray().Select(BitConverter.SingleToInt32Bits), two[i].Value.Span.ToArray().Select(BitConverter.SingleToInt32Bits));
        }
    }

    [Fact]
    public void AdamW_decays_weights_but_not_biases()
    {
        var weight = new Parameter("weight", new Tensor([2f, -2f], [2]), ParameterKind.Weight);
        var bias = new Parameter("bias", new Tensor([2f, -2f], [2]), ParameterKind.Bias);
        var state = new AdamW { LearningRate = 0.1f, WeightDecay = 0.5f }.CreateState([weight, bias]);

        // With g = 0, Adam's step is 0 and only the decoupled decay w ← w − lr·λ·w moves the weights.
        state.Step(0.1f, 1);

        Assert.Equal(1.9f, weight.Value.Span[0], 6);
        Assert.Equal(-1.9f, weight.Value.Span[1], 6);
        Assert.Equal([2f, -2f], bias.Value.Span.ToArray());
    }

    private static List<Parameter> MakeParameters(int seed)
    {
        var rng = new Rng(seed);
        var list = new List<Parameter>();
        foreach (int length in Lengths)
        {
            var value = new Tensor(length);
            rng.FillGaussian(value.Span);
            list.Add(new Parameter($"w{length}", value, length % 2 == 0 ? ParameterKind.Bias : ParameterKind.Weight));
        }

        return list;
    }

    /// <summary>SGD (PyTorch's momentum form), Adam (Kingma &amp; Ba, Algorithm 1) and AdamW (Loshchilov &amp;
    /// Hutter, decay applied to weights only), element by element in double precision.</summary>
    private sealed class ReferenceOptimizer
    {
        private readonly OptimizerOptions _options;
        private readonly List<Parameter> _parameters;
        private readonly double[][] _m, _v;

        public ReferenceOptimizer(OptimizerOptions options, List<Parameter> parameters)
        {
            _options = options;
            _parameters = parameters;
            Weights = parameters.Select(p => p.Value.Span.ToArray().Select(x => (double)x).ToArray()).ToArray();
            _m = parameters.Select(p => new double[p.Value.Length]).ToArray();
            _v = parameters.Select(p => new double[p.Value.Length]).ToArray();
        }

        public double[][] Weights { get; }

        public void Step(double lr, int t)
        {
            for (int i = 0; i < _parameters.Count; i++)
            {
                var g = _parameters[i].Gradient.Span;
                double[] w = Weights[i], m = _m[i], v = _v[i];
                for (int j = 0; j < w.Length; j++)
                {
                    switch (_options)
                    {
                        case Sgd sgd when sgd.Momentum == 0f:
                            w[j] -= lr * g[j];
                            break;
                        case Sgd sgd:
                            m[j] = sgd.Momentum * m[j] + g[j];
                            w[j] -= lr * (sgd.Nesterov ? g[j] + sgd.Momentum * m[j] : m[j]);
                            break;
                        case Adam adam:
                            double decay = adam is AdamW aw && _parameters[i].Kind == ParameterKind.Weight ? aw.WeightDecay : 0.0;
                            m[j] = adam.Beta1 * m[j] + (1 - adam.Beta1) * g[j];
                            v[j] = adam.Beta2 * v[j] + (1 - adam.Beta2) * g[j] * g[j];
                            double mh = m[j] / (1 - Math.Pow(adam.Beta1, t)), vh = v[j] / (1 - Math.Pow(adam.Beta2, t));
                            w[j] -= lr * mh / (Math.Sqrt(vh) + adam.Epsilon) + lr * decay * w[j];
                            break;
                    }
                }
            }
        }
    }
}
