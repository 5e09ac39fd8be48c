using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Cutout (DeVries &amp; Taylor, 2017, "Improved regularization of convolutional neural networks with cutout"): a
/// training-time augmentation that masks square regions of the input image. With probability
/// <see cref="Probability"/> an example gets <see cref="Count"/> holes of <see cref="Size"/>×<see cref="Size"/> pixels;
/// each hole's centre (cy, cx) is uniform over all pixels, so holes near a border are clipped by the image, as in the
/// paper (which found this better than keeping holes inside). A hole covers rows cy − ⌊size/2⌋ … cy − ⌊size/2⌋ + size − 1
/// (columns alike) and is applied to every channel: y = x outside holes, y = fill inside. Inference is the identity;
/// Monte Carlo mode cuts holes as in training (test-time augmentation) and keeps nothing for backward.
/// Backward: dx = dy outside holes, 0 inside.
/// </summary>
public sealed class Cutout : Layer
{
    private Tensor? _mask;
    private Tensor? _dx;

    /// <summary>Creates a Cutout augmentation.</summary>
    /// <param name="size">Side of each square hole in pixels (the paper used 16 on CIFAR-10, 8 on CIFAR-100).</param>
    /// <param name="count">Holes per augmented example (default 1).</param>
    /// <param name="probability">Probability that an example is augmented at all, in [0, 1] (default 1).</param>
    /// <param name="fill">The value written into holes (default 0; the mean after normalization).</param>
    public Cutout(int size, int count = 1, float probability = 1f, float fill = 0f)
    {
        if (size <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "Cutout hole size must be positive.");
        }

        if (count <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "Cutout needs at least one hole.");
        }

        if (!(probability >= 0f && probability <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(probability), probability, $"Cutout probability must be in [0, 1], got {probability}.");
        }

        if (!float.IsFinite(fill))
        {
            throw new ArgumentOutOfRangeException(nameof(fill), fill, "Cutout fill must be a finite number.");
        }

        Size = size;
        Count = count;
        Probability = probability;
        Fill = fill;
    }

    /// <summary>Side of each square hole in pixels.</summary>
    public int Size { get; }

    /// <summary>Holes per augmented example.</summary>
    public int Count { get; }

    /// <summary>Probability that an example is augmented.</summary>
    public float Probability { get; }

    /// <summary>The value inside holes.</summary>
    public float Fill { get; }

    /// <inheritdoc />
    public override bool IsStochastic => Probability > 0f;

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"size={Size}, count={Count}, p={Probability}, fill={Fill}");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        if (!ctx.IsStochastic || Probability == 0f)
        {
            if (ctx.IsTraining)
            {
                _mask = null;
            }

            return x;
        }

        int n = x.BatchSize, c = InputShape[0], h = InputShape[1], w = InputShape[2], hw = h * w;
        var mask = ctx.Buffer(this, 1, [n, h, w]);
        DrawHoles(mask.Data, n, h, w, ctx.Rng);
        var y = ctx.Buffer(this, 0, x.Shape);
        var xs = x.Span;
        var ys = y.Span;
        var ms = mask.Span;
        for (int i = 0; i < n; i++)
        {
            var m = ms.Slice(i * hw, hw);
            for (int ch = 0; ch < c; ch++)
            {
                int o = (i * c + ch) * hw;
                for (int p = 0; p < hw; p++)
                {
                    ys[o + p] = m[p] != 0f ? xs[o + p] : Fill;
                }
            }
        }

        if (ctx.IsTraining)
        {
            _mask = mask;
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        if (_mask is null)
        {
            return dy;
        }

        _dx = Tensor.Reuse(_dx, dy.Shape);
        int c = InputShape[0], hw = InputShape[1] * InputShape[2];
        var ms = _mask.Span;
        for (int i = 0; i < dy.BatchSize; i++)
        {
            for (int ch = 0; ch < c; ch++)
            {
                int o = (i * c + ch) * hw;
                System.Numerics.Tensors.TensorPrimitives.Multiply(dy.Span.Slice(o, hw), ms.Slice(i * hw, hw), _dx.Span.Slice(o, hw));
            }
        }

        return _dx;
    }

    /// <summary>ONNX: nothing, as the layer is the identity at inference; a Monte Carlo export of it is refused.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx) => ConvOnnx.TrainingOnly(this, ctx);

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new Cutout(Size, Count, Probability, Fill);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 3)
        {
            throw new ArgumentException($"Cutout expects images [channels, height, width], got {Tensor.FormatShape(inputShape)}.");
        }

        return inputShape.ToArray();
    }

    /// <summary>Fills mask [n, h, w] with 1 and 0 inside holes. Example i uses counters start + i·(1 + 2·count): one
    /// draw for "augment at all", then (row, column) of each hole's centre.</summary>
    private void DrawHoles(float[] mask, int n, int h, int w, Rng rng)
    {
        int perExample = 1 + 2 * Count;
        ulong start = rng.Reserve(checked(n * perExample));
        uint threshold = Rng.BernoulliThreshold(Probability);
        Array.Fill(mask, 1f, 0, n * h * w);
        for (int i = 0; i < n; i++)
        {
            ulong c0 = start + (ulong)(i * perExample);
            if (!rng.Fires(c0, threshold))
            {
                continue; // not augmented
            }

            for (int hole = 0; hole < Count; hole++)
            {
                int cy = UniformInt(rng.At(c0 + 1 + (ulong)(2 * hole)), h);
                int cx = UniformInt(rng.At(c0 + 2 + (ulong)(2 * hole)), w);
                int top = cy - Size / 2, left = cx - Size / 2;
                int r0 = Math.Max(0, top), r1 = Math.Min(h, top + Size);
                int q0 = Math.Max(0, left), q1 = Math.Min(w, left + Size);
                for (int r = r0; r < r1; r++)
                {
                    mask.AsSpan(i * h * w + r * w + q0, q1 - q0).Clear();
                }
            }
        }
    }

    /// <summary>Lemire's multiply-shift: a uniform integer in [0, n) from 32 random bits.</summary>
    internal static int UniformInt(ulong bits, int n) => (int)(((bits >> 32) * (ulong)n) >> 32);
}
