using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// 2-D convolution (LeCun et al., 1989/1998) over NCHW images, as deep-learning libraries define it (a
/// cross-correlation): y[n, o, i, j] = b[o] + Σ_{c, u, v} W[o, c, u, v] · x[n, c, i·s − pad_top + u·d, j·s − pad_left + v·d],
/// with zero padding, stride s and dilation d. The weight [filters, inC, kh, kw] keeps each filter's inC·kh·kw
/// weights contiguous (fan-in for He initialization and the unit that max-norm constrains), as ONNX Conv takes it.
/// Computed by im2col + GEMM (<see cref="ConvolutionEngine"/>); backward: dW = Σ dYᵀ·cols, db = Σ dY,
/// dx = col2im(dYᵀ · W).
/// </summary>
public sealed class Conv2D : Layer, IFusesActivation
{
    private Parameter? _weight;
    private Parameter? _bias;
    private ConvolutionEngine? _engine;
    private Tensor? _x;
    private Tensor? _dx;

    /// <summary>Creates a convolution with a square kernel.</summary>
    /// <param name="filters">Number of output channels.</param>
    /// <param name="kernelSize">Kernel height and width.</param>
    /// <param name="stride">Step between windows (both axes).</param>
    /// <param name="padding">Zero padding: a number of pixels, <c>"valid"</c> (default, none) or <c>"same"</c>.</param>
    /// <param name="dilation">Spacing between kernel taps (1 = a plain convolution).</param>
    /// <param name="useBias">Whether to add a bias per filter (a BatchNorm right after makes it redundant).</param>
    /// <param name="init">Weight initialization (fan-in inC·kh·kw, fan-out filters·kh·kw).</param>
    public Conv2D(int filters, int kernelSize, int stride = 1, Padding2D padding = default, int dilation = 1, bool useBias = true, WeightInit init = WeightInit.HeUniform)
        : this(filters, (kernelSize, kernelSize), stride, padding, dilation, useBias, init)
    {
    }

    /// <summary>Creates a convolution with a rectangular kernel.</summary>
    /// <param name="filters">Number of output channels.</param>
    /// <param name="kernelSize">Kernel (height, width).</param>
    /// <param name="stride">Step between windows (both axes).</param>
    /// <param name="padding">Zero padding: a number of pixels, <c>"valid"</c> (default, none) or <c>"same"</c>.</param>
    /// <param name="dilation">Spacing between kernel taps (1 = a plain convolution).</param>
    /// <param name="useBias">Whether to add a bias per filter.</param>
    /// <param name="init">Weight initialization.</param>
    public Conv2D(int filters, (int Height, int Width) kernelSize, int stride = 1, Padding2D padding = default, int dilation = 1, bool useBias = true, WeightInit init = WeightInit.HeUniform)
    {
        Settings = ConvSettings.Validate(nameof(Conv2D), filters, kernelSize, stride, dilation);
        Padding = padding;
        UseBias = useBias;
        Init = init;
    }

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

    /// <summary>The padding as configured (explicit pixels or "same").</summary>
    public Padding2D Padding { get; }

    /// <summary>The padding in pixels after building: (top, left, bottom, right), ONNX's <c>pads</c> order being
    /// (top, left, bottom, right) as well.</summary>
    public (int Top, int Left, int Bottom, int Right) ResolvedPadding => Engine.Geometry.Pads;

    /// <summary>Whether the layer has a bias.</summary>
    public bool UseBias { get; }

    /// <summary>The activation this layer applies itself (see <see cref="IFusesActivation"/>).</summary>
    internal GemmActivation FusedActivation { get; set; }

    /// <inheritdoc />
    GemmActivation IFusesActivation.FusedActivation { get => FusedActivation; set => FusedActivation = value; }

    /// <summary>The weight initialization.</summary>
    public WeightInit Init { get; }

    /// <summary>The kernels [filters, inC, kh, kw].</summary>
    public Parameter Weight => _weight ?? throw new InvalidOperationException("Conv2D is not built.");

    /// <summary>The bias [filters], or null without bias.</summary>
    public Parameter? Bias => _bias;

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => _weight is null ? [] : _bias is null ? [_weight] : [_weight, _bias];

    internal ConvSettings Settings { get; }

    private ConvolutionEngine Engine => _engine ?? throw new InvalidOperationException("Conv2D is not built.");

    /// <inheritdoc />
    public override string Describe() => Settings.Describe(Padding) + $", init={Init}" + (UseBias ? "" : ", no bias");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        var y = ctx.Buffer(this, 0, x.BatchSize, OutputShape);
        Engine.Forward(this, x, Weight.Value.Data, 1f, _bias?.Value.Data, y, ctx, FusedActivation == GemmActivation.ReLU);
        if (ctx.IsTraining)
        {
            _x = x;
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

        Engine.Backward(this, dy, x, Weight.Value.Data, Weight.Gradient.Data, _bias?.Gradient.Data, dx, ctx);
        return dx ?? dy;
    }

    /// <summary>ONNX: <c>Conv</c> with kernel_shape, pads (top, left, bottom, right), strides and dilations.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx) =>
        ConvOnnx.Conv(g, Weight.Value.Span, Weight.Value.Shape, _bias is null ? [] : _bias.Value.Span, _bias is not null, Stride, Dilation, ResolvedPadding);

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() =>
        new Conv2D(Filters, (KernelHeight, KernelWidth), Stride, Padding, Dilation, UseBias, Init);

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

/// <summary>The validated hyper-parameters every convolution layer shares.</summary>
internal readonly record struct ConvSettings(int Filters, int KernelHeight, int KernelWidth, int Stride, int Dilation)
{
    public static ConvSettings Validate(string owner, int filters, (int Height, int Width) kernel, int stride, int dilation)
    {
        if (filters <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(filters), filters, $"{owner} needs at least one filter.");
        }

        if (kernel.Height <= 0 || kernel.Width <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(kernel), kernel, $"{owner} kernel sizes must be positive.");
        }

        if (stride <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(stride), stride, $"{owner} stride must be positive.");
        }

        if (dilation <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(dilation), dilation, $"{owner} dilation must be positive.");
        }

        return new ConvSettings(filters, kernel.Height, kernel.Width, stride, dilation);
    }

    public string Describe(Padding2D padding) =>
        FormattableString.Invariant($"filters={Filters}, kernel={KernelHeight}x{KernelWidth}, stride={Stride}, padding={padding}")
        + (Dilation == 1 ? "" : FormattableString.Invariant($", dilation={Dilation}"));
}
