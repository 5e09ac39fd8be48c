using System.Numerics.Tensors;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>What one Bernoulli draw of a <see cref="DropConnectConv2D"/> mask covers.</summary>
public enum DropConnectKernelGranularity
{
    /// <summary>Each kernel weight on its own (one draw per weight).</summary>
    Weight,

    /// <summary>A whole 2-D kernel slice W[filter, input channel, :, :]: the filter stops seeing that input channel
    /// (one draw per (filter, input channel)).</summary>
    KernelSlice,

    /// <summary>A whole filter W[filter, :, :, :]: the output channel gets only its bias (one draw per filter).</summary>
    Filter,
}

/// <summary>
/// DropConnect on a convolution's kernels (Wan et al., 2013, "Regularization of neural networks using DropConnect",
/// applied to the kernel weights of a <see cref="Conv2D"/>: "drop convolution kernels"). Training: one mask
/// M ~ Bernoulli(1 − rate) of the kernel's shape [filters, inC, kh, kw] per mini-batch, y = conv(x, M ⊙ W) + b, where
/// one draw covers a single weight, a 2-D kernel slice per (filter, input channel) or a whole filter by
/// <see cref="Granularity"/> (every weight of a dropped group is 0, so each weight is still kept with probability 1 − rate);
/// backward dW = M ⊙ dW_eff, dx = col2im(dYᵀ · (M ⊙ W)). Inference uses the expected kernels E[M ⊙ W] = (1 − rate)·W
/// element-wise (the paper's mean approximation); the bias is never masked. Monte Carlo mode draws masks as in
/// training and keeps nothing for backward.
/// </summary>
public sealed class DropConnectConv2D : Layer
{
    private Parameter? _weight;
    private Parameter? _bias;
    private ConvolutionEngine? _engine;
    private Tensor? _x;
    private Tensor? _mask;
    private Tensor? _effective;
    private Tensor? _dx;

    /// <summary>Creates a DropConnect convolution with a square kernel.</summary>
    /// <param name="filters">Number of output channels.</param>
    /// <param name="kernelSize">Kernel height and width.</param>
    /// <param name="rate">Probability of dropping each kernel weight, in [0, 1).</param>
    /// <param name="stride">Step between windows.</param>
    /// <param name="padding">Zero padding: pixels, <c>"valid"</c> (default) or <c>"same"</c>.</param>
    /// <param name="dilation">Spacing between kernel taps.</param>
    /// <param name="useBias">Whether to add a (never masked) bias per filter.</param>
    /// <param name="init">Weight initialization.</param>
    /// <param name="granularity">What one mask draw covers (default a single weight).</param>
    public DropConnectConv2D(int filters, int kernelSize, float rate, int stride = 1, Padding2D padding = default, int dilation = 1, bool useBias = true, WeightInit init = WeightInit.HeUniform,
        DropConnectKernelGranularity granularity = DropConnectKernelGranularity.Weight)
        : this(filters, (kernelSize, kernelSize), rate, stride, padding, dilation, useBias, init, granularity)
    {
    }

    /// <summary>Creates a DropConnect convolution with a rectangular kernel.</summary>
    /// <param name="filters">Number of output channels.</param>
    /// <param name="kernelSize">Kernel (height, width).</param>
    /// <param name="rate">Probability of dropping each kernel weight, in [0, 1).</param>
    /// <param name="stride">Step between windows.</param>
    /// <param name="padding">Zero padding: pixels, <c>"valid"</c> (default) or <c>"same"</c>.</param>
    /// <param name="dilation">Spacing between kernel taps.</param>
    /// <param name="useBias">Whether to add a bias per filter.</param>
    /// <param name="init">Weight initialization.</param>
    /// <param name="granularity">What one mask draw covers (default a single weight).</param>
    public DropConnectConv2D(int filters, (int Height, int Width) kernelSize, float rate, int stride = 1, Padding2D padding = default, int dilation = 1, bool useBias = true, WeightInit init = WeightInit.HeUniform,
        DropConnectKernelGranularity granularity = DropConnectKernelGranularity.Weight)
    {
        Settings = ConvSettings.Validate(nameof(DropConnectConv2D), filters, kernelSize, stride, dilation);
        if (!Enum.IsDefined(granularity))
        {
            throw new ArgumentOutOfRangeException(nameof(granularity), granularity, "unknown DropConnect kernel granularity.");
        }

        Granularity = granularity;
        Rate = Dropout.CheckRate(rate, nameof(rate));
        Padding = padding;
        UseBias = useBias;
        Init = init;
    }

    /// <summary>The probability of dropping each kernel weight.</summary>
    public float Rate { get; }

    /// <summary>What one mask draw covers: a weight, a kernel slice or a filter.</summary>
    public DropConnectKernelGranularity Granularity { get; }

    /// <summary>Number of output channels.</summary>
    public int Filters => Settings.Filters;

    /// <summary>Kernel height.</summary>
    public int KernelHeight => Settings.KernelHeight;

    /// <summary>Kernel width.</summary>
    public int KernelWidth => Settings.KernelWidth;

    /// <summary>Step between windows.</summary>
    public int Stride => Settings.Stride;

    /// <summary>Spacing between kernel taps.</summary>
    public int Dilation => Settings.Dilation;

    /// <summary>The padding as configured.</summary>
    public Padding2D Padding { get; }

    /// <summary>The padding in pixels after building: (top, left, bottom, right).</summary>
    public (int Top, int Left, int Bottom, int Right) ResolvedPadding => Engine.Geometry.Pads;

    /// <summary>Whether the layer has a bias.</summary>
    public bool UseBias { get; }

    /// <summary>The weight initialization.</summary>
    public WeightInit Init { get; }

    /// <summary>The kernels [filters, inC, kh, kw] (training-time weights; inference uses (1 − rate)·W).</summary>
    public Parameter Weight => _weight ?? throw new InvalidOperationException("DropConnectConv2D is not built.");

    /// <summary>The bias [filters], or null without bias.</summary>
    public Parameter? Bias => _bias;

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => _weight is null ? [] : _bias is null ? [_weight] : [_weight, _bias];

    /// <inheritdoc />
    public override bool IsStochastic => Rate > 0f;

    internal ConvSettings Settings { get; }

    private ConvolutionEngine Engine => _engine ?? throw new InvalidOperationException("DropConnectConv2D is not built.");

    /// <inheritdoc />
    public override string Describe() =>
        Settings.Describe(Padding) + FormattableString.Invariant($", rate={Rate}, init={Init}") + (UseBias ? "" : ", no bias")
        + (Granularity == DropConnectKernelGranularity.Weight ? "" : $", granularity={Granularity}");

    /// <summary>The expected kernels (1 − rate)·W that inference uses (a new tensor).</summary>
    public Tensor ExpectedWeights()
    {
        var w = Weight.Value.Clone();
        TensorPrimitives.Multiply(w.Span, 1f - Rate, w.Span);
        return w;
    }

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        var y = ctx.Buffer(this, 0, x.BatchSize, OutputShape);
        float[] bias = _bias?.Value.Data!;
        if (!ctx.IsStochastic || Rate == 0f)
        {
            Engine.Forward(this, x, Weight.Value.Data, 1f - Rate, bias, y, ctx);
            if (ctx.IsTraining)
            {
                _x = x;
                _mask = null;
                _effective = Weight.Value;
            }

            return y;
        }

        var mask = ctx.Buffer(this, 1, Weight.Value.Shape);
        var effective = ctx.Buffer(this, 2, Weight.Value.Shape);
        if (Granularity == DropConnectKernelGranularity.Weight)
        {
            DropConnectDense.DrawMaskedWeights(ctx.Rng, Rate, Weight.Value.Data, mask.Data, effective.Data, ctx.Threads);
        }
        else
        {
            DrawGroupMask(ctx, mask.Span);
            TensorPrimitives.Multiply(Weight.Value.Span, mask.Span, effective.Span);
        }
        Engine.Forward(this, x, effective.Data, 1f, bias, y, ctx);
        if (ctx.IsTraining)
        {
            _x = x;
            _mask = mask;
            _effective = effective;
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        var x = _x ?? throw NoForward(Name);
        Tensor? dx = null;
        if (NeedsInputGradient)
        {
            dx = _dx = Tensor.Reuse(_dx, dy.BatchSize, InputShape);
        }

        Engine.Backward(this, dy, x, _effective!.Data, Weight.Gradient.Data, _bias?.Gradient.Data, dx, ctx);
        if (_mask is not null)
        {
            DropConnectDense.MaskGradient(Weight.Gradient.Data, _mask.Data, ctx.Threads);
        }

        return dx ?? dy;
    }

    /// <summary>ONNX: <c>Conv</c> with the expected kernels (1 − p)·W (the exporter normally sees this layer already
    /// folded into a <see cref="Conv2D"/>). Monte Carlo export of a convolutional DropConnect is not supported.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        if (ctx.MonteCarlo && Rate > 0f)
        {
            throw new NotSupportedException("DropConnectConv2D has no Monte Carlo ONNX form yet; export without MonteCarlo, where it becomes a Conv with the expected kernels (1 − p)·W.");
        }

        ConvOnnx.Conv(g, ExpectedWeights().Span, Weight.Value.Shape, _bias is null ? [] : _bias.Value.Span, _bias is not null, Stride, Dilation, ResolvedPadding, "expected_weight");
    }

    /// <summary>The number of weights one mask draw covers: kh·kw for a kernel slice, inC·kh·kw for a filter, 1 for a weight.</summary>
    public int GroupSize => Granularity switch
    {
        DropConnectKernelGranularity.KernelSlice => KernelHeight * KernelWidth,
        DropConnectKernelGranularity.Filter => Weight.Value.Length / Filters,
        _ => 1,
    };

    /// <summary>A mask of whole groups: one Bernoulli(1 − rate) draw per group of <see cref="GroupSize"/> consecutive
    /// weights (the kernel slices and filters are contiguous in [filters, inC, kh, kw]), group g using counter start + g
    /// of a range reserved here, then spread over its weights.</summary>
    private void DrawGroupMask(ForwardContext ctx, Span<float> mask)
    {
        int size = GroupSize, groups = mask.Length / size;
        var draws = ctx.Buffer(this, 3, [groups]).Span;
        ctx.Rng.FillBernoulli(draws, Rate, 1f);
        for (int group = 0; group < groups; group++)
        {
            mask.Slice(group * size, size).Fill(draws[group]);
        }
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() =>
        new DropConnectConv2D(Filters, (KernelHeight, KernelWidth), Rate, Stride, Padding, Dilation, UseBias, Init, Granularity);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        var g = ConvGeometry.Create(Name, inputShape, KernelHeight, KernelWidth, Stride, Dilation, Padding);
        _engine = new ConvolutionEngine(g, Filters);
        var w = new Tensor(Filters, g.Channels, KernelHeight, KernelWidth);
        WeightInitializer.Fill(w.Span, Init, g.PatchSize, Filters * KernelHeight * KernelWidth, init);
        _weight = new Parameter("weight", w, ParameterKind.Weight, g.PatchSize);
        _bias = UseBias ? new Parameter("bias", new Tensor(Filters), ParameterKind.Bias) : null;
        return [Filters, g.OutHeight, g.OutWidth];
    }
}
