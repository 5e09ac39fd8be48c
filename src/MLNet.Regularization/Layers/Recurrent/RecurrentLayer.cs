using System.Numerics.Tensors;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// What <see cref="LSTM"/> and <see cref="GRU"/> share: input [batch, T, D], output [T, H] (every step) or [H] (the
/// last step), weights stored as the ONNX operators take them (W [G·H, D] and R [G·H, H] with the gate blocks in ONNX
/// order, one row of incoming weights per gate unit), and backpropagation through time with the matrix products
/// batched wherever the math allows.
/// </summary>
/// <remarks>
/// <para>Forward, for a batch: the input is copied time-major (and masked at <see cref="RecurrentSite.Input"/>), one
/// GEMM computes every step's input projection X·Wᵀ + Wb at once, and then each step t runs one GEMM
/// h_{t−1}·R̃ᵀ over the whole batch (R̃ = R, or R ⊙ weight mask; h_{t−1} masked at
/// <see cref="RecurrentSite.RecurrentState"/>) followed by the cell's element-wise update, split over the threads by
/// examples. Backward walks the steps in reverse: the element-wise derivatives give each step's gate gradients, one
/// GEMM per step carries dh back through R̃, and after the loop three GEMMs over all steps at once give dW, dR and dX.
/// </para>
/// <para>Every regularizer enters through one of the sites of <see cref="RecurrentMasks"/>: a mask that multiplies
/// the input, the output, h_{t−1} in the recurrent product, R, or the candidate; or a blend
/// new = keep ⊙ previous + scale ⊙ new of the LSTM cell or the hidden state. A site without a mask costs nothing.
/// Sequences start from zero states. Element-wise work is split by whole examples and every GEMM keeps each element's
/// sum order, so results are bit-identical with any thread count.</para>
/// </remarks>
public abstract class RecurrentLayer : Layer
{
    private const int SlotOutput = 0, SlotXt = 1, SlotGx = 2, SlotGh = 3, SlotHs = 4, SlotCs = 5, SlotTanhCell = 6, SlotMaskedState = 7;
    private const int SlotDGx = 10, SlotDGh = 11, SlotDH = 12, SlotDC = 13, SlotDRecurrent = 14, SlotDXt = 15, SlotDX = 16, SlotDY = 17;

    private readonly RecurrentRegularizer[] _regularizers;
    private Parameter? _weight;
    private Parameter? _recurrentWeight;
    private Parameter? _bias;
    private RecurrentPass? _training;

    /// <summary>Creates the layer.</summary>
    /// <param name="units">Hidden size H.</param>
    /// <param name="returnSequences">Output every step's h_t ([T, H]) instead of the last one ([H]).</param>
    /// <param name="regularizers">Regularizers acting inside the layer, on different sites.</param>
    private protected RecurrentLayer(int units, bool returnSequences, RecurrentRegularizer[]? regularizers)
    {
        if (units <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(units), units, $"{GetType().Name} needs at least one unit.");
        }

        Units = units;
        ReturnSequences = returnSequences;
        _regularizers = regularizers?.ToArray() ?? [];
        var seen = new Dictionary<RecurrentSite, RecurrentRegularizer>();
        for (int i = 0; i < _regularizers.Length; i++)
        {
            var r = _regularizers[i] ?? throw new ArgumentException($"regularizer {i} is null.", nameof(regularizers));
            foreach (var site in r.Sites)
            {
                if (!seen.TryAdd(site, r))
                {
                    throw new ArgumentException($"{seen[site].Name} and {r.Name} both mask the {site} site of the same {GetType().Name}; give each site to one regularizer.", nameof(regularizers));
                }
            }
        }
    }

    /// <summary>The hidden size H.</summary>
    public int Units { get; }

    /// <summary>True when the output holds every step ([T, H]); false for the last step only ([H]).</summary>
    public bool ReturnSequences { get; }

    /// <summary>The regularizers acting inside this layer.</summary>
    public IReadOnlyList<RecurrentRegularizer> Regularizers => _regularizers;

    /// <summary>The input weights W [G·H, D] (G gate blocks in ONNX order).</summary>
    public Parameter Weight => _weight ?? throw NotBuiltError();

    /// <summary>The recurrent weights R [G·H, H].</summary>
    public Parameter RecurrentWeight => _recurrentWeight ?? throw NotBuiltError();

    /// <summary>The input-side bias Wb [G·H].</summary>
    public Parameter Bias => _bias ?? throw NotBuiltError();

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => _weight is null ? [] : [_weight, _recurrentWeight!, _bias!, .. ExtraParameters];

    /// <inheritdoc />
    public override bool IsStochastic => _regularizers.Any(r => r.IsStochastic);

    /// <summary>The number of gate blocks G (4 for the LSTM, 3 for the GRU).</summary>
    internal abstract int Gates { get; }

    /// <summary>The ONNX operator this layer becomes (<c>LSTM</c> or <c>GRU</c>).</summary>
    internal abstract string OnnxOperator { get; }

    /// <summary>Parameters after W, R and Wb (the GRU's recurrent bias).</summary>
    private protected virtual IReadOnlyList<Parameter> ExtraParameters => [];

    /// <inheritdoc />
    public override string Describe()
    {
        string text = $"units={Units}, {(ReturnSequences ? "sequences" : "last step")}";
        return _regularizers.Length == 0 ? text : text + ", " + string.Join(", ", _regularizers.Select(r => r.Summary));
    }

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        int batch = x.BatchSize, steps = InputShape[0], inputs = InputShape[1], h = Units, g = Gates * h;
        var pass = ctx.Scratch<RecurrentPass>(this);
        pass.Batch = batch;
        pass.Steps = steps;
        pass.X = x;
        var masks = pass.Masks;
        masks.Begin(this, ctx, batch, steps, ReturnSequences ? steps : 1);
        for (int i = 0; i < _regularizers.Length; i++)
        {
            if (ctx.IsStochastic)
            {
                _regularizers[i].Draw(masks, i);
            }
            else
            {
                _regularizers[i].SetInference(masks, i);
            }
        }

        // Time-major input (masked), then every step's input projection in one GEMM.
        pass.Xt = ctx.Buffer(this, SlotXt, [steps * batch, inputs]);
        ToTimeMajor(x.Span, pass.Xt.Span, batch, steps, inputs, masks.Input);
        pass.Gx = ctx.Buffer(this, SlotGx, [steps * batch, g]);
        Gemm.MultiplyAddBias(false, true, steps * batch, g, inputs, pass.Xt.Span, inputs, Weight.Value.Span, inputs, Bias.Value.Span, GemmActivation.None, pass.Gx.Span, g, ctx.Threads);

        pass.RecurrentWeights = masks.MaskedWeights ?? RecurrentWeight.Value;
        pass.Hs = ctx.Buffer(this, SlotHs, [(steps + 1) * batch, h]);
        pass.Hs.Span[..(batch * h)].Clear();
        pass.Gh = Gates == 3 ? ctx.Buffer(this, SlotGh, [steps * batch, g]) : null;
        if (Gates == 4)
        {
            pass.Cs = ctx.Buffer(this, SlotCs, [(steps + 1) * batch, h]);
            pass.Cs.Span[..(batch * h)].Clear();
            pass.TanhCell = ctx.Buffer(this, SlotTanhCell, [steps * batch, h]);
        }

        pass.MaskedState = masks.RecurrentState.IsActive ? ctx.Buffer(this, SlotMaskedState, [steps * batch, h]) : null;
        for (int t = 0; t < steps; t++)
        {
            var previous = pass.Hs.Span.Slice(t * batch * h, batch * h);
            if (pass.MaskedState is { } maskedState)
            {
                var masked = maskedState.Span.Slice(t * batch * h, batch * h);
                var mask = masks.RecurrentState.Scale!.Span;
                TensorPrimitives.Multiply(previous, masks.RecurrentState.PerStep ? mask.Slice(t * batch * h, batch * h) : mask, masked);
                previous = masked;
            }

            StepForward(pass, t, previous, ctx.Threads);
        }

        var y = ReturnSequences ? ctx.Buffer(this, SlotOutput, [batch, steps, h]) : ctx.Buffer(this, SlotOutput, [batch, h]);
        WriteOutput(pass, y.Span, masks.Output);
        if (ctx.IsTraining)
        {
            // Only training writes to the layer: predictions on other threads leave it alone.
            _training = pass;
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        var pass = _training ?? throw NoForward(Name);
        var masks = pass.Masks;
        int batch = pass.Batch, steps = pass.Steps, inputs = InputShape[1], h = Units, g = Gates * h;
        int outputSteps = ReturnSequences ? steps : 1;

        // dLoss/dh of every output step, time-major, through the output mask.
        var dyt = ctx.Buffer(this, SlotDY, [outputSteps * batch, h]);
        ToTimeMajor(dy.Span, dyt.Span, batch, outputSteps, h, masks.Output);
        pass.DGx = ctx.Buffer(this, SlotDGx, [steps * batch, g]);
        pass.DGh = Gates == 3 ? ctx.Buffer(this, SlotDGh, [steps * batch, g]) : pass.DGx;
        pass.DH = ctx.Buffer(this, SlotDH, [batch, h]);
        dyt.Span.Slice((outputSteps - 1) * batch * h, batch * h).CopyTo(pass.DH.Span);
        if (Gates == 4)
        {
            pass.DC = ctx.Buffer(this, SlotDC, [batch, h]);
            pass.DC.Span.Clear();
        }

        var dRecurrent = ctx.Buffer(this, SlotDRecurrent, [batch, h]);
        var r = pass.RecurrentWeights.Span;
        for (int t = steps - 1; t >= 0; t--)
        {
            // The cell's derivatives: gate gradients of step t, and in DH / DC the direct parts for step t − 1.
            StaticParallel.For(batch, ctx.Threads, (this, pass, t), static (s, from, to) => s.Item1.CellBackward(s.pass, s.t, from, to));
            if (t == 0)
            {
                break;
            }

            // dh_{t−1} += (dG_t · R̃) ⊙ state mask + dLoss/dY_{t−1}.
            Gemm.Multiply(false, false, batch, h, g, 1f, pass.DGh.Span.Slice(t * batch * g, batch * g), g, r, h, 0f, dRecurrent.Span, h, ctx.Threads);
            var dh = pass.DH.Span;
            if (masks.RecurrentState.Scale is { } stateMask)
            {
                // Step t multiplied R̃ with h_{t−1} ⊙ mask_t.
                var mask = masks.RecurrentState.PerStep ? stateMask.Span.Slice(t * batch * h, batch * h) : stateMask.Span;
                TensorPrimitives.MultiplyAdd(dRecurrent.Span, mask, dh, dh);
            }
            else
            {
                TensorPrimitives.Add(dh, dRecurrent.Span, dh);
            }

            if (ReturnSequences)
            {
                TensorPrimitives.Add(dh, dyt.Span.Slice((t - 1) * batch * h, batch * h), dh);
            }
        }

        // Parameter gradients over all steps at once.
        int rows = steps * batch;
        Gemm.Multiply(true, false, g, inputs, rows, 1f, pass.DGx.Span, g, pass.Xt.Span, inputs, 0f, Weight.Gradient.Span, inputs, ctx.Threads);
        Dense.SumRows(pass.DGx.Span, Bias.Gradient.Span);
        var states = pass.MaskedState is { } masked ? masked.Span : pass.Hs.Span[..(rows * h)];
        Gemm.Multiply(true, false, g, h, rows, 1f, pass.DGh.Span, g, states, h, 0f, RecurrentWeight.Gradient.Span, h, ctx.Threads);
        if (masks.WeightMask is { } weightMask)
        {
            DropConnectDense.MaskGradient(RecurrentWeight.Gradient.Data, weightMask.Data, ctx.Threads);
        }

        RecurrentBiasGradient(pass);
        if (!NeedsInputGradient)
        {
            return dy;
        }

        var dxt = ctx.Buffer(this, SlotDXt, [rows, inputs]);
        Gemm.Multiply(false, false, rows, inputs, g, 1f, pass.DGx.Span, g, Weight.Value.Span, inputs, 0f, dxt.Span, inputs, ctx.Threads);
        var dx = ctx.Buffer(this, SlotDX, [batch, steps, inputs]);
        FromTimeMajor(dxt.Span, dx.Span, batch, steps, inputs, masks.Input);
        return dx;
    }

    /// <summary>One step forward: the recurrent product with <paramref name="previous"/> (h_{t−1}, masked) and the
    /// cell's element-wise update, writing h_t (and c_t) into the pass.</summary>
    private protected abstract void StepForward(RecurrentPass pass, int t, ReadOnlySpan<float> previous, int threads);

    /// <summary>The cell's element-wise backward for examples [from, to) at step t: reads DH (and DC) as the gradients
    /// at h_t (c_t), writes the gate gradients of step t into DGx / DGh, and leaves in DH (DC) the parts of the gradient
    /// at h_{t−1} (c_{t−1}) that do not pass through R.</summary>
    private protected abstract void CellBackward(RecurrentPass pass, int t, int from, int to);

    /// <summary>Gradient of biases on the recurrent side (the GRU's Rb); nothing by default.</summary>
    private protected virtual void RecurrentBiasGradient(RecurrentPass pass)
    {
    }

    /// <summary>The cell's per-example update runs split over the threads by examples.</summary>
    private protected void CellForwardParallel(RecurrentPass pass, int t, int threads) =>
        StaticParallel.For(pass.Batch, threads, (this, pass, t), static (s, from, to) => s.Item1.CellForward(s.pass, s.t, from, to));

    /// <summary>The cell's element-wise update for examples [from, to) at step t.</summary>
    private protected abstract void CellForward(RecurrentPass pass, int t, int from, int to);

    /// <summary>dest = keep ⊙ previous + scale ⊙ next (scale 1 and keep 0 where the site has none); dest may be next.</summary>
    private protected static void Blend(SiteMask site, int t, int b, int batch, ReadOnlySpan<float> previous, ReadOnlySpan<float> next, Span<float> dest)
    {
        int width = dest.Length;
        var scale = site.ScaleRow(t, b, batch, width);
        if (scale.IsEmpty)
        {
            if (!next.Overlaps(dest))
            {
                next.CopyTo(dest);
            }
        }
        else
        {
            TensorPrimitives.Multiply(next, scale, dest);
        }

        var keep = site.KeepRow(t, b, batch, width);
        if (!keep.IsEmpty)
        {
            TensorPrimitives.MultiplyAdd(keep, previous, dest, dest);
        }
    }

    /// <summary>Initial weights: W and R uniform on ±1/√H (as PyTorch's recurrent layers); biases from
    /// <see cref="InitializeBias"/>.</summary>
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 2)
        {
            throw new ArgumentException($"{Name} expects sequences [T, D] per example (time steps, features per step), got {Tensor.FormatShape(inputShape)}.");
        }

        int inputs = inputShape[1], rows = Gates * Units;
        float limit = 1f / MathF.Sqrt(Units);
        var w = new Tensor(rows, inputs);
        var r = new Tensor(rows, Units);
        FillUniform(w.Span, limit, init);
        FillUniform(r.Span, limit, init);
        _weight = new Parameter("weight", w, ParameterKind.Weight, inputs);
        _recurrentWeight = new Parameter("recurrent_weight", r, ParameterKind.Weight, Units);
        var b = new Tensor(rows);
        InitializeBias(b.Span);
        _bias = new Parameter("bias", b, ParameterKind.Bias);
        BuildExtra();
        foreach (var regularizer in _regularizers)
        {
            regularizer.CheckFits(this);
        }

        return ReturnSequences ? [inputShape[0], Units] : [Units];
    }

    /// <summary>Sets the initial input-side bias (zero by default).</summary>
    private protected virtual void InitializeBias(Span<float> bias) => bias.Clear();

    /// <summary>Creates parameters beyond W, R and Wb.</summary>
    private protected virtual void BuildExtra()
    {
    }

    /// <summary>The regularizers, for copies of this layer (they are immutable settings and can be shared).</summary>
    private protected RecurrentRegularizer[] RegularizerArray => _regularizers;

    /// <summary>ONNX: the input turned time-major (<c>Transpose</c> perm [1, 0, 2]), the ONNX <see cref="OnnxOperator"/>
    /// node (layout 0, forward direction, default activations; W, R and B as [1, G·H, D], [1, G·H, H], [1, 2·G·H]), then
    /// for every step <c>Squeeze</c>(Y, axis 1) and <c>Transpose</c> back to [batch, T, H], or for the last step
    /// <c>Squeeze</c>(Y_h, axis 0) to [batch, H]. ONNX Runtime runs only layout 0, hence the transposes. Regularizers
    /// vanish at inference; zoneout, whose inference blends with the previous state, is refused. Monte Carlo: the
    /// regularizers that act outside the recurrence become active nodes (per-step input and output dropout as
    /// <c>Dropout</c> nodes, weight drop as a masked R); the others are refused.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx) => ExportOnnx(g, ctx, null);

    /// <summary>The ONNX node for this layer alone, or with <paramref name="reverse"/> as the reverse direction of a
    /// bidirectional node (see <see cref="Bidirectional"/>).</summary>
    internal void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx, RecurrentLayer? reverse)
    {
        foreach (var r in _regularizers.Where(r => r.ChangesInference))
        {
            throw new NotSupportedException($"{Name} with {r.Summary} cannot be exported to ONNX: zoneout's inference keeps z·previous + (1 − z)·new state at every step, which the ONNX {OnnxOperator} operator cannot express. Train without zoneout to export, or predict in C#.");
        }

        var monteCarlo = new RecurrentOnnxMonteCarlo();
        if (ctx.MonteCarlo && reverse is null)
        {
            foreach (var r in _regularizers.Where(r => r.IsStochastic))
            {
                var part = r.MonteCarloOnnx(this);
                monteCarlo = new RecurrentOnnxMonteCarlo(
                    Math.Max(monteCarlo.InputRate, part.InputRate), Math.Max(monteCarlo.OutputRate, part.OutputRate), Math.Max(monteCarlo.WeightRate, part.WeightRate));
            }
        }

        if (monteCarlo.InputRate > 0f)
        {
            MonteCarloDropoutNodes(g, ctx, monteCarlo.InputRate, "input");
        }

        RecurrentLayer[] directions = reverse is null ? [this] : [this, reverse];
        int rows = Gates * Units, inputs = InputShape[1], count = directions.Length;
        g.Then("Transpose", null, OnnxAttribute.Ints("perm", 1, 0, 2));
        string w = g.AddInitializer("W", Stack(directions, l => l.Weight.Value.Span), [count, rows, inputs]);
        string r2 = g.AddInitializer("R", Stack(directions, l => l.RecurrentWeight.Value.Span), [count, rows, Units]);
        if (monteCarlo.WeightRate > 0f)
        {
            // Weight drop: a fresh mask over R per run, kept entries scaled by 1/(1 − p), shared by the batch.
            string[] dropped = g.AddNode("Dropout", [r2, g.AddScalar("weight_ratio", monteCarlo.WeightRate), g.AddBoolScalar("weight_training_mode", true)], 2, Dropout.SeedAttribute(ctx));
            string mask = g.AddNode("Cast", [dropped[1]], [OnnxAttribute.Int("to", (long)OnnxElementType.Float)]);
            mask = g.AddNode("Mul", [mask, g.AddScalar("weight_kept_scale", 1f / (1f - monteCarlo.WeightRate))]);
            r2 = g.AddNode("Mul", [r2, mask]);
        }

        var biases = new float[count * 2 * rows];
        for (int d = 0; d < count; d++)
        {
            directions[d].Bias.Value.Span.CopyTo(biases.AsSpan(d * 2 * rows));
            directions[d].RecurrentBiasValues(biases.AsSpan((d * 2 * rows) + rows, rows));
        }

        string b = g.AddInitializer("B", biases, [count, 2 * rows]);
        var attributes = new List<OnnxAttribute> { OnnxAttribute.Int("hidden_size", Units) };
        if (Gates == 3)
        {
            attributes.Add(OnnxAttribute.Int("linear_before_reset", 1));
        }

        if (reverse is not null)
        {
            attributes.Add(OnnxAttribute.String("direction", "bidirectional"));
        }

        string[] outputs = g.AddNode(OnnxOperator, [g.Current, w, r2, b], 2, [.. attributes]);
        if (reverse is not null)
        {
            // Y [T, 2, batch, H] → [batch, T, 2, H] → [batch, T, 2H]; Y_h [2, batch, H] → [batch, 2, H] → [batch, 2H].
            g.Current = ReturnSequences
                ? g.AddNode("Transpose", [outputs[0]], [OnnxAttribute.Ints("perm", 2, 0, 1, 3)])
                : g.AddNode("Transpose", [outputs[1]], [OnnxAttribute.Ints("perm", 1, 0, 2)]);
            g.Then("Reshape", [g.AddInt64s("shape", ReturnSequences ? [0, 0, 2 * Units] : [0, 2 * Units])]);
        }
        else if (ReturnSequences)
        {
            g.Current = g.AddNode("Squeeze", [outputs[0], g.AddInt64s("axis_direction", [1])]);
            g.Then("Transpose", null, OnnxAttribute.Ints("perm", 1, 0, 2));
        }
        else
        {
            g.Current = g.AddNode("Squeeze", [outputs[1], g.AddInt64s("axis_direction", [0])]);
        }

        if (monteCarlo.OutputRate > 0f)
        {
            MonteCarloDropoutNodes(g, ctx, monteCarlo.OutputRate, "output");
        }
    }

    private static float[] Stack(RecurrentLayer[] layers, Func<RecurrentLayer, ReadOnlySpan<float>> values)
    {
        int length = values(layers[0]).Length;
        var stacked = new float[layers.Length * length];
        for (int i = 0; i < layers.Length; i++)
        {
            values(layers[i]).CopyTo(stacked.AsSpan(i * length));
        }

        return stacked;
    }

    /// <summary>The recurrent-side bias Rb of the ONNX B input (zero unless the cell has one).</summary>
    private protected virtual void RecurrentBiasValues(Span<float> rb) => rb.Clear();

    /// <summary>Sets the recurrent-side bias from an imported model; false when the cell keeps no such bias and
    /// <paramref name="rb"/> is not all zero.</summary>
    internal virtual bool TrySetRecurrentBias(ReadOnlySpan<float> rb) => !rb.ContainsAnyExcept(0f);

    private static void MonteCarloDropoutNodes(OnnxGraphBuilder g, OnnxExportContext ctx, float rate, string where)
    {
        // The same nodes as an inverted Dropout layer's Monte Carlo form (per element: a fresh mask at every step), in
        // a scope of their own so that the input's and the output's constants get distinct names.
        string scope = g.Scope, description = g.Description;
        g.BeginScope($"{scope}_{where}", description);
        new Dropout(rate).ExportOnnx(g, ctx);
        g.BeginScope(scope, description);
    }

    /// <summary>x [B, steps, W] → [steps·B, W], times the site's mask.</summary>
    private static void ToTimeMajor(ReadOnlySpan<float> source, Span<float> target, int batch, int steps, int width, SiteMask mask) =>
        Transpose(source, target, batch, steps, width, mask, toTimeMajor: true);

    /// <summary>[steps·B, W] → [B, steps, W], times the site's mask (the input mask's backward, and the output).</summary>
    private static void FromTimeMajor(ReadOnlySpan<float> source, Span<float> target, int batch, int steps, int width, SiteMask mask) =>
        Transpose(source, target, batch, steps, width, mask, toTimeMajor: false);

    private static void Transpose(ReadOnlySpan<float> source, Span<float> target, int batch, int steps, int width, SiteMask mask, bool toTimeMajor)
    {
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < steps; t++)
            {
                int batchMajor = ((b * steps) + t) * width, timeMajor = ((t * batch) + b) * width;
                var from = source.Slice(toTimeMajor ? batchMajor : timeMajor, width);
                var to = target.Slice(toTimeMajor ? timeMajor : batchMajor, width);
                var scale = mask.ScaleRow(t, b, batch, width);
                if (scale.IsEmpty)
                {
                    from.CopyTo(to);
                }
                else
                {
                    TensorPrimitives.Multiply(from, scale, to);
                }
            }
        }
    }

    /// <summary>The output: h_t of every step ([B, T, H]) or of the last ([B, H]), times the output mask.</summary>
    private void WriteOutput(RecurrentPass pass, Span<float> y, SiteMask mask)
    {
        int batch = pass.Batch, outputSteps = ReturnSequences ? pass.Steps : 1, first = pass.Steps + 1 - outputSteps;
        FromTimeMajor(pass.Hs.Span[(first * batch * Units)..], y, batch, outputSteps, Units, mask);
    }

    private static void FillUniform(Span<float> values, float limit, Rng rng)
    {
        rng.FillUniform(values);
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = ((2f * values[i]) - 1f) * limit;
        }
    }

    private InvalidOperationException NotBuiltError() => new($"{Name} is not built.");
}
