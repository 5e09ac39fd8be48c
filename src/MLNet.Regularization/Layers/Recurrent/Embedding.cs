using System.Globalization;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// A lookup table of learned vectors for token ids: each example is T ids (stored as floats holding whole numbers in
/// 0..V−1) and becomes [T, E], row t = table[id_t]. Backward scatters: δtable[id] += δy_t for every occurrence.
/// Embedding dropout (Gal &amp; Ghahramani, 2016, §4.2 "dropping words"; AWD-LSTM's <c>dropoute</c>) drops whole word
/// types: one Bernoulli(1 − p) draw per vocabulary row and per sequence, so every occurrence of a word in a sequence is
/// dropped or kept together, kept rows scaled by 1/(1 − p):
/// <code>
/// y_t = table[id_t] ⊙ m_{id_t} / (1 − p),   m_v ~ Bernoulli(1 − p) for each word v, one draw per sequence
/// </code>
/// The draws are never stored: the mask bit of (example b, word v) is the generator's value at counter
/// start + b·V + v, regenerated in backward. Inference: the plain lookup. Monte Carlo: fresh masks per sequence; no
/// Monte Carlo ONNX form (a mask per sequence and word type is not one ONNX node). ONNX: <c>Cast</c> to int64, then
/// <c>Gather</c>(table, ids) on axis 0. Initial table: N(0, 1), as PyTorch's.
/// </summary>
public sealed class Embedding : Layer
{
    private Parameter? _table;
    private Tensor? _ids;
    private Rng? _maskRng;
    private ulong _maskStart;

    /// <summary>Creates an embedding layer.</summary>
    /// <param name="vocabularySize">Number of token ids V (ids run 0..V−1).</param>
    /// <param name="dimension">Vector size E.</param>
    /// <param name="dropout">Embedding dropout: probability of dropping a word type for a whole sequence, in [0, 1).</param>
    public Embedding(int vocabularySize, int dimension, float dropout = 0f)
    {
        if (vocabularySize <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(vocabularySize), vocabularySize, "Embedding needs a vocabulary of at least one token.");
        }

        if (dimension <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "Embedding needs a dimension of at least 1.");
        }

        VocabularySize = vocabularySize;
        Dimension = dimension;
        DropoutRate = Dropout.CheckRate(dropout, nameof(dropout));
    }

    /// <summary>The vocabulary size V.</summary>
    public int VocabularySize { get; }

    /// <summary>The vector size E.</summary>
    public int Dimension { get; }

    /// <summary>The embedding dropout rate (per word type and sequence).</summary>
    public float DropoutRate { get; }

    /// <summary>The table [V, E].</summary>
    public Parameter Table => _table ?? throw new InvalidOperationException("Embedding is not built.");

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => _table is null ? [] : [_table];

    /// <inheritdoc />
    public override bool IsStochastic => DropoutRate > 0f;

    /// <inheritdoc />
    public override string Describe() => string.Create(CultureInfo.InvariantCulture, $"vocabulary={VocabularySize}, dimension={Dimension}, dropout={DropoutRate}");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        int batch = x.BatchSize, steps = InputShape[0], e = Dimension, v = VocabularySize;
        CheckIds(x.Span, steps);
        var y = ctx.Buffer(this, 0, [batch, steps, e]);
        var table = Table.Value.Span;
        bool masked = ctx.IsStochastic && DropoutRate > 0f;
        ulong start = masked ? ctx.Rng.Reserve(checked(batch * v)) : 0;
        uint threshold = Rng.BernoulliThreshold(DropoutRate);
        float scale = 1f / (1f - DropoutRate);
        for (int i = 0; i < batch * steps; i++)
        {
            int id = (int)x.Data[i];
            var row = y.Span.Slice(i * e, e);
            if (!masked)
            {
                table.Slice(id * e, e).CopyTo(row);
            }
            else if (ctx.Rng.Fires(start + ((ulong)(i / steps) * (ulong)v) + (ulong)id, threshold))
            {
                row.Clear();
            }
            else
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(table.Slice(id * e, e), scale, row);
            }
        }

        if (ctx.IsTraining)
        {
            _ids = x;
            _maskRng = masked ? ctx.Rng : null;
            _maskStart = start;
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        var ids = _ids ?? throw NoForward(Name);
        int steps = InputShape[0], e = Dimension, v = VocabularySize;
        var gradient = Table.Gradient.Span;
        gradient.Clear();
        uint threshold = Rng.BernoulliThreshold(DropoutRate);
        float scale = _maskRng is null ? 1f : 1f / (1f - DropoutRate);
        for (int i = 0; i < ids.Length; i++)
        {
            int id = (int)ids.Data[i];
            if (_maskRng is { } rng && rng.Fires(_maskStart + ((ulong)(i / steps) * (ulong)v) + (ulong)id, threshold))
            {
                continue;
            }

            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(dy.Span.Slice(i * e, e), scale, gradient.Slice(id * e, e), gradient.Slice(id * e, e));
        }

        if (!NeedsInputGradient)
        {
            return dy;
        }

        // Token ids are not differentiable: whatever came before receives no gradient.
        var dx = ctx.Buffer(this, 1, ids.Shape);
        dx.Span.Clear();
        return dx;
    }

    /// <summary>ONNX: <c>Gather</c>(table, <c>Cast</c>(ids, int64)) on axis 0. A Monte Carlo export of a layer with
    /// embedding dropout is refused.</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        if (ctx.MonteCarlo && DropoutRate > 0f)
        {
            throw new NotSupportedException("Embedding dropout draws one mask per sequence and word type, which no ONNX node sequence of this exporter expresses, so there is no Monte Carlo ONNX form; export without MonteCarlo (embedding dropout vanishes at inference) or run Monte Carlo prediction in C#.");
        }

        string ids = g.AddNode("Cast", [g.Current], [OnnxAttribute.Int("to", (long)OnnxElementType.Int64)]);
        string table = g.AddInitializer("table", Table.Value.Span, Table.Value.Shape);
        g.Current = g.AddNode("Gather", [table, ids], [OnnxAttribute.Int("axis", 0)]);
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new Embedding(VocabularySize, Dimension, DropoutRate);

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        if (inputShape.Length != 1)
        {
            throw new ArgumentException($"Embedding expects token ids [T] per example, got {Tensor.FormatShape(inputShape)}.");
        }

        var table = new Tensor(VocabularySize, Dimension);
        init.FillGaussian(table.Span);
        _table = new Parameter("table", table, ParameterKind.Weight, Dimension);
        return [inputShape[0], Dimension];
    }

    private void CheckIds(ReadOnlySpan<float> ids, int steps)
    {
        for (int i = 0; i < ids.Length; i++)
        {
            float id = ids[i];
            if (!(id >= 0f && id < VocabularySize && id == MathF.Floor(id)))
            {
                throw new ArgumentException($"Embedding: token id {id.ToString(CultureInfo.InvariantCulture)} in example {i / steps}, step {i % steps} is not a whole number in 0..{VocabularySize - 1} (are the features normalized? token ids must not be).");
            }
        }
    }
}
