using System.Numerics.Tensors;
using MLNet.Regularization.Onnx;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// A bidirectional recurrent layer (Schuster &amp; Paliwal, 1997): one <see cref="LSTM"/> or <see cref="GRU"/> reads the
/// sequence forward, a second one with its own weights (and its own masks, drawn from the same regularizer settings)
/// reads it backward, and their states are concatenated per step:
/// <code>
/// y_t = [h→_t, h←_t]   (every step, [T, 2H])        y = [h→_{T−1}, h←_0]   (last step, [2H])
/// </code>
/// where h←_t is the backward reader's state after x_{T−1} … x_t. The backward reader runs on the time-reversed input,
/// so its step s is position T − 1 − s; backward passes split dy the same way and add the reversed input gradient.
/// Exported as one ONNX <c>LSTM</c> / <c>GRU</c> node with <c>direction = "bidirectional"</c> (W, R and B stacked
/// forward then reverse), whose Y [T, 2, batch, H] or Y_h [2, batch, H] is transposed and reshaped into the
/// concatenation above. No Monte Carlo ONNX form.
/// </summary>
public sealed class Bidirectional : Layer
{
    private readonly RecurrentLayer _forward;
    private readonly RecurrentLayer _backward;

    /// <summary>Wraps an unbuilt recurrent layer; a copy of it (same settings, own weights) reads backward.</summary>
    /// <param name="layer">The forward reader, such as <c>new LSTM(64, returnSequences: true)</c>.</param>
    public Bidirectional(RecurrentLayer layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        if (layer.IsBuilt)
        {
            throw new ArgumentException("Bidirectional wraps an unbuilt layer (it builds both directions itself).", nameof(layer));
        }

        _forward = layer;
        _backward = (RecurrentLayer)layer.CreateUnbuiltCopy();
    }

    /// <summary>The forward reader.</summary>
    public RecurrentLayer ForwardLayer => _forward;

    /// <summary>The backward reader (on the time-reversed sequence).</summary>
    public RecurrentLayer BackwardLayer => _backward;

    /// <inheritdoc />
    public override string Name => $"Bidirectional{_forward.Name}";

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => [.. _forward.Parameters, .. _backward.Parameters];

    /// <inheritdoc />
    public override bool IsStochastic => _forward.IsStochastic;

    /// <inheritdoc />
    public override string Describe() => _forward.Describe();

    /// <inheritdoc />
    public override Tensor Forward(Tensor x, ForwardContext ctx)
    {
        CheckInput(x);
        int batch = x.BatchSize, steps = InputShape[0], h = _forward.Units;
        var reversed = ctx.Buffer(this, 0, x.Shape);
        ReverseTime(x.Span, reversed.Span, batch, steps, InputShape[1]);
        var forward = _forward.Forward(x, ctx);
        var backward = _backward.Forward(reversed, ctx);
        var y = ctx.Buffer(this, 1, batch, OutputShape);
        int outputSteps = _forward.ReturnSequences ? steps : 1;
        for (int b = 0; b < batch; b++)
        {
            for (int s = 0; s < outputSteps; s++)
            {
                var row = y.Span.Slice(((b * outputSteps) + s) * 2 * h, 2 * h);
                forward.Span.Slice(((b * outputSteps) + s) * h, h).CopyTo(row);
                backward.Span.Slice(((b * outputSteps) + (outputSteps - 1 - s)) * h, h).CopyTo(row[h..]);
            }
        }

        return y;
    }

    /// <inheritdoc />
    public override Tensor Backward(Tensor dy, ForwardContext ctx)
    {
        int batch = dy.BatchSize, steps = InputShape[0], h = _forward.Units;
        int outputSteps = _forward.ReturnSequences ? steps : 1;
        var dForward = ctx.Buffer(this, 2, batch, _forward.OutputShape);
        var dBackward = ctx.Buffer(this, 3, batch, _forward.OutputShape);
        for (int b = 0; b < batch; b++)
        {
            for (int s = 0; s < outputSteps; s++)
            {
                var row = dy.Span.Slice(((b * outputSteps) + s) * 2 * h, 2 * h);
                row[..h].CopyTo(dForward.Span.Slice(((b * outputSteps) + s) * h, h));
                row[h..].CopyTo(dBackward.Span.Slice(((b * outputSteps) + (outputSteps - 1 - s)) * h, h));
            }
        }

        _forward.NeedsInputGradient = NeedsInputGradient;
        _backward.NeedsInputGradient = NeedsInputGradient;
        var dxForward = _forward.Backward(dForward, ctx);
        var dxBackward = _backward.Backward(dBackward, ctx);
        if (!NeedsInputGradient)
        {
            return dy;
        }

        var dx = ctx.Buffer(this, 4, batch, InputShape);
        ReverseTime(dxBackward.Span, dx.Span, batch, steps, InputShape[1]);
        TensorPrimitives.Add(dx.Span, dxForward.Span, dx.Span);
        return dx;
    }

    /// <summary>ONNX: one recurrent node with direction "bidirectional" (see the class remarks).</summary>
    internal override void ExportOnnx(OnnxGraphBuilder g, OnnxExportContext ctx)
    {
        if (ctx.MonteCarlo && IsStochastic)
        {
            throw new NotSupportedException($"{Name}: a bidirectional layer has no Monte Carlo ONNX form; export without MonteCarlo (its regularizers vanish at inference) or run Monte Carlo prediction in C#.");
        }

        _forward.ExportOnnx(g, ctx, _backward);
    }

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new Bidirectional((RecurrentLayer)_forward.CreateUnbuiltCopy());

    /// <inheritdoc />
    protected override int[] OnBuild(ReadOnlySpan<int> inputShape, Rng init)
    {
        _forward.Build(inputShape, init);
        _backward.Build(inputShape, init);
        return _forward.ReturnSequences ? [inputShape[0], 2 * _forward.Units] : [2 * _forward.Units];
    }

    private static void ReverseTime(ReadOnlySpan<float> source, Span<float> target, int batch, int steps, int width)
    {
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < steps; t++)
            {
                source.Slice(((b * steps) + t) * width, width).CopyTo(target.Slice(((b * steps) + (steps - 1 - t)) * width, width));
            }
        }
    }
}
