using System.Numerics.Tensors;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Fully connected layer: y = x · Wᵀ + b, with W of shape [units, inputs] (one contiguous row of incoming weights
/// per unit, which is what max-norm constrains and what ONNX Gemm takes with transB = 1).
/// Backward: dW = dYᵀ · X, db = Σ_batch dY, dX = dY · W. The bias (and, inside a network, a ReLU right after)
/// is applied in the GEMM's epilogue while each block of y is still in cache.
/// </summary>
public sealed class Dense : Layer, IFusesActivation
{
    private Parameter? _weight;
    private Parameter? _bias;
    private Tensor? _x;
    private Tensor? _dx;
    private bool _frozen;
    private PackedWeights? _packed;

    /// <summary>Creates a fully connected layer.</summary>
    /// <param name="units">Number of outputs.</param>
    /// <param name="init">Weight initialization (He for ReLU-family layers, Glorot for tanh/sigmoid).</param>
    /// <param name="useBias">Whether to add a bias (a BatchNorm right after makes it redundant).</param>
    public Dense(int units, WeightInit init = WeightInit.HeUniform, bool useBias = true)
    {
        if (units <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(units), units, "Dense needs at least one unit.");
        }

        Units = units;
        Init = init;
        UseBias = useBias;
    }

    /// <summary>The number of outputs.</summary>
    public int Units { get; }

    /// <summary>The weight initialization.</summary>
    public WeightInit Init { get; }

    /// <summary>Whether the layer has a bias.</summary>
    public bool UseBias { get; }

    /// <summary>The activation this layer applies itself (see <see cref="IFusesActivation"/>).</summary>
    internal GemmActivation FusedActivation { get; set; }

    /// <inheritdoc />
    GemmActivation IFusesActivation.FusedActivation { get => FusedActivation; set => FusedActivation = value; }

    /// <summary>The weight [units, inputs].</summary>
    public Parameter Weight => _weight ?? throw new InvalidOperationException("Dense is not built.");

    /// <summary>The bias [units], or null without bias.</summary>
    public Parameter? Bias => _bias;

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => _weight is null ? [] : _bias is null ? [_weight] : [_weight, _bias];

    /// <inheritdoc />
    public override string Describe() => $"units={Units}, init={Init}" + (UseBias ? "" : ", no bias");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        int batch = x.BatchSize, inputs = InputShape[0];
        var y = ctx.Buffer(this, 0, [batch, Units]);
        var bias = _bias is null ? default : _bias.Value.Span;
        if (_frozen && !ctx.IsTraining && batch <= PackedWeights.MaxRows)
        {
            // One row (or a handful) at inference: a GEMV over weights packed once, not a GEMM that packs them per call.
            // Bit-identical to the GEMM below (see PackedWeights).
            var packed = _packed ?? Pack();
            packed.Multiply(batch, x.Span, inputs, bias, FusedActivation, y.Span, Units, ctx.Threads);
            return y;
        }

        Gemm.MultiplyAddBias(false, true, batch, Units, inputs, x.Span, inputs, Weight.Value.Span, inputs, bias, FusedActivation, y.Span, Units, ctx.Threads);

        if (ctx.IsTraining)
        {
            // Training changes the weights: a packed copy would go stale.
            _frozen = false;
            _packed = null;
            _x = x;
        }

        return y;
    }

    /// <summary>
    /// Declares the weights final (a <see cref="Training.TrainedModel"/>'s inference networks, derived once and never
    /// trained): forward passes of at most <see cref="PackedWeights.MaxRows"/> rows outside training then run as a GEMV
    /// over a copy of the weights packed on first use. A training forward pass undoes this.
    /// </summary>
    internal void FreezeForInference() => _frozen = true;

    private PackedWeights Pack()
    {
        var packed = new PackedWeights(Weight.Value.Data, Units, InputShape[0]);
        return Interlocked.CompareExchange(ref _packed, packed, null) ?? packed;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        var x = _x ?? throw NoForward(Name);
        int batch = x.BatchSize, inputs = InputShape[0];
        Gemm.Multiply(true, false, Units, inputs, batch, 1f, dy.Span, Units, x.Span, inputs, 0f, Weight.Gradient.Span, inputs, ctx.Threads);
        if (_bias is not null)
        {
            SumRows(dy.Span, _bias.Gradient.Span);
        }

        if (!NeedsInputGradient)
        {
            return dy;
        }

        _dx = Tensor.Reuse(_dx, x.Shape);
        Gemm.Multiply(false, false, batch, inputs, Units, 1f, dy.Span, Units, Weight.Value.Span, inputs, 0f, _dx.Span, inputs, ctx.Threads);
        return _dx;
    }

    /// <summary>ONNX: <c>Gemm(x, W, b)</c> with transB = 1, the weight stored [units, inputs] as here (without bias,
    /// Gemm's optional C input is left out).</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        string w = g.AddInitializer("weight", Weight.Value.Span, Weight.Value.Shape);
        string[] more = _bias is null ? [w] : [w, g.AddInitializer("bias", _bias.Value.Span, _bias.Value.Shape)];
        g.Then("Gemm", more, OnnxAttribute.Int("transB", 1));
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new Dense(Units, Init, UseBias);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 1)
        {
            throw new ArgumentException($"Dense expects flat input [features], got {Tensor.FormatShape(inputShape)}; put a Flatten layer before it.");
        }

        int inputs = inputShape[0];
        var w = new Tensor(Units, inputs);
        WeightInitializer.Fill(w.Span, Init, inputs, Units, init);
        _weight = new Parameter("weight", w, ParameterKind.Weight, inputs);
        _bias = UseBias ? new Parameter("bias", new Tensor(Units), ParameterKind.Bias) : null;
        return [Units];
    }

    /// <summary>s = Σ_rows y[i, :].</summary>
    internal static void SumRows(ReadOnlySpan<float> y, Span<float> s)
    {
        s.Clear();
        for (int r = 0; r < y.Length; r += s.Length)
        {
            TensorPrimitives.Add(s, y.Slice(r, s.Length), s);
        }
    }
}
