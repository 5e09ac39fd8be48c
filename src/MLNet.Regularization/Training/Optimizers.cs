using System.Numerics;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Training;

/// <summary>
/// Settings of an optimizer. An instance is a description and may be reused: each <c>Fit</c> creates fresh
/// per-parameter state (momentum, moment estimates) from it.
/// </summary>
public abstract class OptimizerOptions
{
    /// <summary>The base learning rate (before any schedule).</summary>
    public float LearningRate { get; set; } = 1e-3f;

    /// <summary>A short description for logs and metadata.</summary>
    public abstract string Describe();

    internal abstract OptimizerState CreateState(IReadOnlyList<Parameter> parameters);

    internal void Validate()
    {
        if (!(LearningRate > 0f) || !float.IsFinite(LearningRate))
        {
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "learning rate must be a positive number.");
        }

        ValidateMore();
    }

    private protected virtual void ValidateMore()
    {
    }
}

/// <summary>Stochastic gradient descent with optional (Nesterov) momentum:
/// v ← μ v + g; w ← w − lr · v (or w ← w − lr · (g + μ v) with Nesterov), PyTorch's formulation.</summary>
public sealed class Sgd : OptimizerOptions
{
    /// <summary>Creates SGD with learning rate 0.01 and no momentum.</summary>
    public Sgd() => LearningRate = 0.01f;

    /// <summary>Momentum μ in [0, 1); 0 disables it.</summary>
    public float Momentum { get; set; }

    /// <summary>Use Nesterov's accelerated gradient (needs momentum &gt; 0).</summary>
    public bool Nesterov { get; set; }

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"SGD(lr={LearningRate}, momentum={Momentum}{(Nesterov ? ", nesterov" : "")})");

    internal override OptimizerState CreateState(IReadOnlyList<Parameter> parameters) => new SgdState(this, parameters);

    private protected override void ValidateMore()
    {
        if (!(Momentum >= 0f && Momentum < 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(Momentum), Momentum, "SGD momentum must be in [0, 1).");
        }

        if (Nesterov && Momentum == 0f)
        {
            throw new ArgumentException("Nesterov momentum needs Momentum > 0.", nameof(Nesterov));
        }
    }

    private sealed class SgdState(Sgd o, IReadOnlyList<Parameter> ps) : OptimizerState(ps)
    {
        private readonly float[][] _velocity = ps.Select(p => o.Momentum == 0f ? [] : new float[p.Value.Length]).ToArray();

        public override IEnumerable<(string Name, float[] Values)> Moments =>
            _velocity.Select((v, i) => ($"velocity{i}", v));

        // With a pruning mask k (1 kept, 0 pruned) the velocity and the new weight are multiplied by k in the same
        // pass: a pruned weight and its velocity stay exactly 0, a kept one is multiplied by 1 (the same bits).
        protected override void Update(int index, int from, int to, float lr, int step)
        {
            var w = Parameters[index].Value.Span[from..to];
            ReadOnlySpan<float> g = Parameters[index].Gradient.Span[from..to];
            var keep = KeepMask(index, from, to, out bool masked);
            if (o.Momentum == 0f)
            {
                int j = 0;
                if (Vector.IsHardwareAccelerated)
                {
                    var rate = new Vector<float>(lr);
                    for (; j <= w.Length - Vector<float>.Count; j += Vector<float>.Count)
                    {
                        var wj = new Vector<float>(w[j..]) - rate * new Vector<float>(g[j..]);
                        (masked ? wj * new Vector<float>(keep[j..]) : wj).CopyTo(w[j..]);
                    }
                }

                for (; j < w.Length; j++)
                {
                    float wj = w[j] - lr * g[j];
                    w[j] = masked ? wj * keep[j] : wj;
                }

                return;
            }

            var v = _velocity[index].AsSpan(from, to - from);
            float mu = o.Momentum;
            bool nesterov = o.Nesterov;
            int i = 0;
            if (Vector.IsHardwareAccelerated)
            {
                var rate = new Vector<float>(lr);
                var momentum = new Vector<float>(mu);
                for (; i <= w.Length - Vector<float>.Count; i += Vector<float>.Count)
                {
                    var gi = new Vector<float>(g[i..]);
                    var vi = momentum * new Vector<float>(v[i..]) + gi;
                    var wi = new Vector<float>(w[i..]) - rate * (nesterov ? gi + momentum * vi : vi);
                    if (masked)
                    {
                        var ki = new Vector<float>(keep[i..]);
                        vi *= ki;
                        wi *= ki;
                    }

                    vi.CopyTo(v[i..]);
                    wi.CopyTo(w[i..]);
                }
            }

            for (; i < w.Length; i++)
            {
                float vi = mu * v[i] + g[i];
                float wi = w[i] - lr * (nesterov ? g[i] + mu * vi : vi);
                v[i] = masked ? vi * keep[i] : vi;
                w[i] = masked ? wi * keep[i] : wi;
            }
        }
    }
}

/// <summary>Adam (Kingma &amp; Ba, 2015): m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², w ← w − lr·m̂/(√v̂ + ε) with
/// bias-corrected m̂, v̂. L2 weight decay from the trainer is added to g (coupled); use <see cref="AdamW"/> for
/// decoupled decay.</summary>
public class Adam : OptimizerOptions
{
    /// <summary>Exponential decay of the first moment (default 0.9).</summary>
    public float Beta1 { get; set; } = 0.9f;

    /// <summary>Exponential decay of the second moment (default 0.999).</summary>
    public float Beta2 { get; set; } = 0.999f;

    /// <summary>Denominator epsilon (default 1e-8).</summary>
    public float Epsilon { get; set; } = 1e-8f;

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"Adam(lr={LearningRate}, beta1={Beta1}, beta2={Beta2})");

    /// <summary>Decoupled weight decay per step, as a fraction of lr (0 for Adam).</summary>
    internal virtual float DecoupledDecay => 0f;

    internal override OptimizerState CreateState(IReadOnlyList<Parameter> parameters) => new AdamState(this, parameters);

    private protected override void ValidateMore()
    {
        if (!(Beta1 >= 0f && Beta1 < 1f) || !(Beta2 >= 0f && Beta2 < 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(Beta1), "Adam betas must be in [0, 1).");
        }

        if (!(Epsilon > 0f))
        {
            throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, "Adam epsilon must be positive.");
        }
    }

    private sealed class AdamState(Adam o, IReadOnlyList<Parameter> ps) : OptimizerState(ps)
    {
        private readonly float[][] _m = ps.Select(p => new float[p.Value.Length]).ToArray();
        private readonly float[][] _v = ps.Select(p => new float[p.Value.Length]).ToArray();

        public override IEnumerable<(string Name, float[] Values)> Moments =>
            _m.Select((m, i) => ($"m{i}", m)).Concat(_v.Select((v, i) => ($"v{i}", v)));

        // One fused pass over w, g, m and v (the update is bound by memory traffic). The vector loop does the
        // scalar loop's operations in the same order, without fused multiply-adds, so both give the same bits
        // and the split into ranges cannot change a result. With a pruning mask k (1 kept, 0 pruned) the moments
        // and the new weight are multiplied by k in the same pass: a pruned weight and its moments stay exactly 0,
        // a kept one is multiplied by 1 (the same bits as without a mask).
        protected override void Update(int index, int from, int to, float lr, int step)
        {
            var w = Parameters[index].Value.Span[from..to];
            ReadOnlySpan<float> g = Parameters[index].Gradient.Span[from..to];
            var keep = KeepMask(index, from, to, out bool masked);
            var m = _m[index].AsSpan(from, to - from);
            var v = _v[index].AsSpan(from, to - from);
            float b1 = o.Beta1, b2 = o.Beta2, eps = o.Epsilon;
            float c1 = 1f / (1f - MathF.Pow(b1, step));
            float c2 = 1f / (1f - MathF.Pow(b2, step));
            float decay = Parameters[index].Kind == ParameterKind.Weight ? lr * o.DecoupledDecay : 0f;
            int i = 0;
            if (Vector.IsHardwareAccelerated)
            {
                Vector<float> vb1 = new(b1), vb2 = new(b2), va1 = new(1f - b1), va2 = new(1f - b2);
                Vector<float> vc1 = new(c1), vc2 = new(c2), vlr = new(lr), veps = new(eps), vdecay = new(decay);
                for (; i <= w.Length - Vector<float>.Count; i += Vector<float>.Count)
                {
                    var gi = new Vector<float>(g[i..]);
                    var mi = vb1 * new Vector<float>(m[i..]) + va1 * gi;
                    var vi = vb2 * new Vector<float>(v[i..]) + va2 * gi * gi;
                    var wi = new Vector<float>(w[i..]);
                    wi -= vlr * (mi * vc1) / (Vector.SquareRoot(vi * vc2) + veps) + vdecay * wi;
                    if (masked)
                    {
                        var ki = new Vector<float>(keep[i..]);
                        mi *= ki;
                        vi *= ki;
                        wi *= ki;
                    }

                    mi.CopyTo(m[i..]);
                    vi.CopyTo(v[i..]);
                    wi.CopyTo(w[i..]);
                }
            }

            for (; i < w.Length; i++)
            {
                float gi = g[i];
                float mi = b1 * m[i] + (1f - b1) * gi;
                float vi = b2 * v[i] + (1f - b2) * gi * gi;
                float mh = mi * c1, vh = vi * c2;
                float wi = w[i] - (lr * mh / (MathF.Sqrt(vh) + eps) + decay * w[i]);
                float ki = masked ? keep[i] : 1f;
                m[i] = mi * ki;
                v[i] = vi * ki;
                w[i] = wi * ki;
            }
        }
    }
}

/// <summary>AdamW (Loshchilov &amp; Hutter, 2019): Adam with decoupled weight decay w ← w − lr·λ·w applied to
/// weights (not to biases or batch-norm parameters).</summary>
public sealed class AdamW : Adam
{
    /// <summary>Decoupled decay λ (default 0.01, as PyTorch).</summary>
    public float WeightDecay { get; set; } = 0.01f;

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"AdamW(lr={LearningRate}, weight_decay={WeightDecay})");

    internal override float DecoupledDecay => WeightDecay;

    private protected override void ValidateMore()
    {
        base.ValidateMore();
        if (!(WeightDecay >= 0f) || !float.IsFinite(WeightDecay))
        {
            throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "AdamW weight decay must be non-negative.");
        }
    }
}

/// <summary>Per-parameter optimizer state for one training run.</summary>
internal abstract class OptimizerState(IReadOnlyList<Parameter> parameters)
{
    /// <summary>Parameters smaller than this are updated on the calling thread: a worker's wake-up costs more.</summary>
    private const int ParallelMinimum = 1 << 15;

    protected IReadOnlyList<Parameter> Parameters { get; } = parameters;

    /// <summary>Every per-parameter array the optimizer keeps between steps, by a stable name: what a checkpoint must
    /// save and restore for a resumed run to continue bit for bit.</summary>
    public abstract IEnumerable<(string Name, float[] Values)> Moments { get; }

    /// <summary>Applies one update with the given learning rate; <paramref name="step"/> counts from 1. Large
    /// parameters are split into <paramref name="threads"/> ranges; every element's update depends only on its
    /// own values, so the result does not depend on the split.</summary>
    public void Step(float learningRate, int step, int threads = 1)
    {
        for (int i = 0; i < Parameters.Count; i++)
        {
            int length = Parameters[i].Value.Length;
            if (threads <= 1 || length < ParallelMinimum)
            {
                Update(i, 0, length, learningRate, step);
            }
            else
            {
                StaticParallel.For(length, threads, (this, i, learningRate, step), static (s, from, to) => s.Item1.Update(s.Item2, from, to, s.Item3, s.Item4));
            }
        }
    }

    /// <summary>Updates elements [<paramref name="from"/>, <paramref name="to"/>) of parameter <paramref name="index"/>.</summary>
    protected abstract void Update(int index, int from, int to, float lr, int step);

    /// <summary>The pruning mask of elements [<paramref name="from"/>, <paramref name="to"/>) of parameter
    /// <paramref name="index"/> (1 kept, 0 pruned), read at every step so that a mask set between steps takes effect
    /// at once; <paramref name="masked"/> is false (and the span empty) when the parameter has none.</summary>
    protected ReadOnlySpan<float> KeepMask(int index, int from, int to, out bool masked)
    {
        var mask = Parameters[index].Mask;
        masked = mask is not null;
        return masked ? mask!.Keep[from..to] : default;
    }
}
