using System.Numerics;
using System.Numerics.Tensors;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>A layer that can apply the activation after it in its own output pass (Dense in the GEMM epilogue,
/// Conv2D while it lays its output out as NCHW, BatchNorm right after normalizing).</summary>
internal interface IFusesActivation
{
    /// <summary><see cref="GemmActivation.ReLU"/> when a built network put a <see cref="ReLU"/> right after this
    /// layer (the network sets it; that ReLU then passes its input through).</summary>
    GemmActivation FusedActivation { get; set; }
}

/// <summary>
/// Base of the element-wise activations: y = f(x), dx = dy · f'(x). The derivative is computed from the kept
/// input and output of the training-mode forward pass.
/// </summary>
public abstract class Activation : Layer
{
    /// <summary>Tensors smaller than this are done on the calling thread (the work is element-wise, so splitting
    /// it never changes a bit).</summary>
    private const int ParallelMinimum = 1 << 16;

    private Tensor? _x;
    private Tensor? _y;
    private Tensor? _dx;

    /// <summary>Set by the network when the previous layer already applied this activation in its own output pass
    /// (<see cref="IFusesActivation"/>): forward passes x through, and backward reads the activation's
    /// derivative off its output, which only an activation whose output sign is its input's (ReLU) allows.</summary>
    internal bool AppliedByPreviousLayer { get; set; }

    /// <summary>Set by the network when the next layer applies this activation's derivative itself (a
    /// <see cref="MaxPool2D"/> after a ReLU routes gradients only to positive inputs): backward passes dy through.</summary>
    internal bool GradientAppliedByNextLayer { get; set; }

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        var y = x;
        if (!AppliedByPreviousLayer)
        {
            y = ctx.Buffer(this, 0, x.Shape);
            if (x.Length < ParallelMinimum || ctx.Threads == 1)
            {
                Apply(x.Span, y.Span);
            }
            else
            {
                StaticParallel.For(x.Length, ctx.Threads, (this, x.Data, y.Data), static (s, from, to) =>
                    s.Item1.Apply(s.Item2.AsSpan(from, to - from), s.Item3.AsSpan(from, to - from)));
            }
        }

        if (ctx.IsTraining)
        {
            _x = x;
            _y = y;
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        if (_x is null || _y is null)
        {
            throw NoForward(Name);
        }

        if (GradientAppliedByNextLayer)
        {
            return dy;
        }

        _dx = Tensor.Reuse(_dx, dy.Shape);
        if (dy.Length < ParallelMinimum || ctx.Threads == 1)
        {
            Derivative(_x.Span, _y.Span, dy.Span, _dx.Span);
        }
        else
        {
            StaticParallel.For(dy.Length, ctx.Threads, (this, _x.Data, _y.Data, dy.Data, _dx.Data), static (s, from, to) =>
                s.Item1.Derivative(s.Item2.AsSpan(from, to - from), s.Item3.AsSpan(from, to - from), s.Item4.AsSpan(from, to - from), s.Item5.AsSpan(from, to - from)));
        }

        return _dx;
    }

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init) => inputShape.ToArray();

    /// <summary>y = f(x).</summary>
    protected internal abstract void Apply(ReadOnlySpan<float> x, Span<float> y);

    /// <summary>dx = dy · f'(x), given x and y = f(x).</summary>
    protected internal abstract void Derivative(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx);
}

/// <summary>Rectified linear unit (Nair &amp; Hinton, 2010): max(0, x).</summary>
public sealed class ReLU : Activation
{
    /// <inheritdoc />
    protected internal override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Max(x, 0f, y);

    /// <inheritdoc />
    protected internal override void Derivative(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        // Branch-free: about half the signs are random, which a branch would mispredict.
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var positive = Vector.GreaterThan(new Vector<float>(x[i..]), Vector<float>.Zero);
                Vector.ConditionalSelect(positive, new Vector<float>(dy[i..]), Vector<float>.Zero).CopyTo(dx[i..]);
            }
        }

        for (; i < x.Length; i++)
        {
            dx[i] = x[i] > 0f ? dy[i] : 0f;
        }
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new ReLU();

    /// <summary>ONNX: <c>Relu</c>.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx) => g.Then("Relu");
}

/// <summary>Leaky ReLU (Maas et al., 2013): x for x &gt; 0, otherwise slope · x.</summary>
public sealed class LeakyReLU : Activation
{
    /// <summary>Creates a leaky ReLU.</summary>
    /// <param name="slope">The slope for negative inputs (default 0.01, as in PyTorch and ONNX LeakyRelu's alpha).</param>
    public LeakyReLU(float slope = 0.01f)
    {
        if (!float.IsFinite(slope) || slope < 0f || slope >= 1f)
        {
            throw new ArgumentOutOfRangeException(nameof(slope), slope, "LeakyReLU slope must be in [0, 1).");
        }

        Slope = slope;
    }

    /// <summary>The slope for negative inputs.</summary>
    public float Slope { get; }

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"slope={Slope}");

    /// <inheritdoc />
    protected internal override void Apply(ReadOnlySpan<float> x, Span<float> y)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var slope = new Vector<float>(Slope);
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var v = new Vector<float>(x[i..]);
                Vector.ConditionalSelect(Vector.GreaterThan(v, Vector<float>.Zero), v, slope * v).CopyTo(y[i..]);
            }
        }

        for (; i < x.Length; i++)
        {
            y[i] = x[i] > 0f ? x[i] : Slope * x[i];
        }
    }

    /// <inheritdoc />
    protected internal override void Derivative(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var slope = new Vector<float>(Slope);
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var positive = Vector.GreaterThan(new Vector<float>(x[i..]), Vector<float>.Zero);
                var g = new Vector<float>(dy[i..]);
                Vector.ConditionalSelect(positive, g, slope * g).CopyTo(dx[i..]);
            }
        }

        for (; i < x.Length; i++)
        {
            dx[i] = x[i] > 0f ? dy[i] : Slope * dy[i];
        }
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new LeakyReLU(Slope);

    /// <summary>ONNX: <c>LeakyRelu</c> with alpha = slope.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx) => g.Then("LeakyRelu", null, OnnxAttribute.Float("alpha", Slope));
}

/// <summary>Hyperbolic tangent: dx = dy · (1 − y²).</summary>
public sealed class Tanh : Activation
{
    /// <inheritdoc />
    protected internal override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Tanh(x, y);

    /// <inheritdoc />
    protected internal override void Derivative(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++)
        {
            dx[i] = dy[i] * (1f - y[i] * y[i]);
        }
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new Tanh();

    /// <summary>ONNX: <c>Tanh</c>.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx) => g.Then("Tanh");
}

/// <summary>Logistic sigmoid 1 / (1 + e^−x): dx = dy · y · (1 − y).</summary>
public sealed class Sigmoid : Activation
{
    /// <inheritdoc />
    protected internal override void Apply(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Sigmoid(x, y);

    /// <inheritdoc />
    protected internal override void Derivative(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++)
        {
            dx[i] = dy[i] * y[i] * (1f - y[i]);
        }
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new Sigmoid();

    /// <summary>ONNX: <c>Sigmoid</c>.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx) => g.Then("Sigmoid");
}

/// <summary>
/// Gaussian error linear unit (Hendrycks &amp; Gimpel, 2016), exact form: x · Φ(x) with Φ(x) = ½(1 + erf(x/√2));
/// dx = dy · (Φ(x) + x · φ(x)). Computed in double precision so that it matches ONNX's Gelu/Erf to float rounding.
/// </summary>
public sealed class GELU : Activation
{
    private const double InvSqrt2 = 0.70710678118654752440;
    private const double InvSqrt2Pi = 0.39894228040143267794;

    /// <inheritdoc />
    protected internal override void Apply(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            y[i] = (float)(0.5 * v * (1.0 + MathExtras.Erf(v * InvSqrt2)));
        }
    }

    /// <inheritdoc />
    protected internal override void Derivative(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            double cdf = 0.5 * (1.0 + MathExtras.Erf(v * InvSqrt2));
            double pdf = InvSqrt2Pi * Math.Exp(-0.5 * v * v);
            dx[i] = (float)(dy[i] * (cdf + v * pdf));
        }
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new GELU();

    /// <summary>ONNX: the exact Erf form 0.5 · (x · (1 + Erf(x / √2))), as five nodes Div, Erf, Add, Mul, Mul
    /// (opset 17 has no Gelu operator; opset 20's Gelu computes the same function).</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        string x = g.Current;
        string t = g.AddNode("Div", [x, g.AddScalar("sqrt2", Sqrt2)]);
        t = g.AddNode("Erf", [t]);
        t = g.AddNode("Add", [t, g.AddScalar("one", 1f)]);
        t = g.AddNode("Mul", [x, t]);
        g.Current = g.AddNode("Mul", [t, g.AddScalar("half", 0.5f)]);
    }

    /// <summary>√2 as the float the exported graph divides by.</summary>
    internal const float Sqrt2 = 1.41421356237309504880f;
}
