using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>Where <see cref="MaxDrop"/> looks for the maximal activation it may drop.</summary>
public enum MaxDropMode
{
    /// <summary>Feature-wise: the maximum of each feature map (per example and channel, over H·W positions).</summary>
    FeatureWise,

    /// <summary>Channel-wise: the maximum across channels at each spatial position (per example and pixel, over C
    /// channels).</summary>
    ChannelWise,
}

/// <summary>
/// Max-drop (Park &amp; Kwak, 2016, "Analysis on the dropout effect in convolutional neural networks"): instead of
/// dropping random units, drop the most activated one. Training: for every group — a feature map
/// (<see cref="MaxDropMode.FeatureWise"/>: example n, channel c, all H·W positions) or a pixel's channel vector
/// (<see cref="MaxDropMode.ChannelWise"/>: example n, position (i, j), all C channels) — the unit with the largest
/// value (the first in memory order on ties) is set to 0 with probability p = <see cref="Rate"/>, independently per
/// group; every other unit passes unchanged. No rescaling: what is removed depends on the data, so no constant
/// factor restores the expectation, and the paper, like dropout at test time, uses all activations unchanged at
/// inference, which is therefore the identity. Backward: dx = dy except 0 at the dropped units. Monte Carlo mode
/// drops as in training and keeps nothing.
/// </summary>
public sealed class MaxDrop : Layer
{
    private int[] _dropped = [];
    private int _droppedCount = -1;
    private Tensor? _dx;

    /// <summary>Creates max-drop.</summary>
    /// <param name="rate">Probability of dropping each group's maximum, in [0, 1).</param>
    /// <param name="mode">Feature-wise (default) or channel-wise groups.</param>
    public MaxDrop(float rate, MaxDropMode mode = MaxDropMode.FeatureWise)
    {
        Rate = Dropout.CheckRate(rate, nameof(rate));
        Mode = mode;
    }

    /// <summary>The probability of dropping a group's maximum.</summary>
    public float Rate { get; }

    /// <summary>Feature-wise or channel-wise.</summary>
    public MaxDropMode Mode { get; }

    /// <inheritdoc />
    public override bool IsStochastic => Rate > 0f;

    /// <inheritdoc />
    public override string Describe() => FormattableString.Invariant($"rate={Rate}, mode={Mode}");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        if (!ctx.IsStochastic || Rate == 0f)
        {
            if (ctx.IsTraining)
            {
                _droppedCount = 0;
            }

            return x;
        }

        int n = x.BatchSize, c = InputShape[0], hw = InputShape[1] * InputShape[2];
        int groups = Mode == MaxDropMode.FeatureWise ? n * c : n * hw;
        var y = ctx.Buffer(this, 0, x.Shape);
        x.Span.CopyTo(y.Span);
        int[]? dropped = ctx.IsTraining ? (_dropped.Length >= groups ? _dropped : _dropped = new int[groups]) : null; // kept for backward only
        int count = 0;
        ulong start = ctx.Rng.Reserve(groups);
        uint threshold = Rng.BernoulliThreshold(Rate);
        var xs = x.Span;
        for (int group = 0; group < groups; group++)
        {
            if (!ctx.Rng.Fires(start + (ulong)group, threshold))
            {
                continue; // this group's maximum survives
            }

            // Feature-wise: a contiguous map of hw values. Channel-wise: C values hw apart.
            int first, step, length;
            if (Mode == MaxDropMode.FeatureWise)
            {
                (first, step, length) = (group * hw, 1, hw);
            }
            else
            {
                int image = group / hw, pixel = group % hw;
                (first, step, length) = (image * c * hw + pixel, hw, c);
            }

            int best = first;
            for (int t = 1, idx = first + step; t < length; t++, idx += step)
            {
                if (xs[idx] > xs[best])
                {
                    best = idx;
                }
            }

            y.Data[best] = 0f;
            if (dropped is not null)
            {
                dropped[count++] = best;
            }
        }

        if (ctx.IsTraining)
        {
            _droppedCount = count;
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        if (_droppedCount < 0)
        {
            throw NoForward(Name);
        }

        if (_droppedCount == 0)
        {
            return dy;
        }

        _dx = Tensor.Reuse(_dx, dy.Shape);
        dy.Span.CopyTo(_dx.Span);
        for (int i = 0; i < _droppedCount; i++)
        {
            _dx.Data[_dropped[i]] = 0f;
        }

        return _dx;
    }

    /// <summary>The flat indices dropped by the last training pass (tests).</summary>
    internal ReadOnlySpan<int> DroppedIndices => _dropped.AsSpan(0, Math.Max(0, _droppedCount));

    /// <summary>ONNX: nothing, as the layer is the identity at inference; a Monte Carlo export of it is refused.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx) => ConvOnnx.TrainingOnly(this, ctx);

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new MaxDrop(Rate, Mode);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 3)
        {
            throw new ArgumentException($"MaxDrop expects feature maps [channels, height, width], got {Tensor.FormatShape(inputShape)}.");
        }

        return inputShape.ToArray();
    }
}
