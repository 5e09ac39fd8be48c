using System.Numerics;
using System.Numerics.Tensors;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Gated recurrent unit (Cho et al., 2014) in the "linear before reset" form that ONNX (<c>linear_before_reset = 1</c>),
/// PyTorch, cuDNN and Keras (<c>reset_after = True</c>) use, gate blocks in ONNX order z, r, h:
/// <code>
/// z_t = σ(x_t·W_zᵀ + Wb_z + h_{t−1}·R_zᵀ + Rb_z)     r_t = σ(x_t·W_rᵀ + Wb_r + h_{t−1}·R_rᵀ + Rb_r)
/// n_t = tanh(x_t·W_hᵀ + Wb_h + r_t ⊙ (h_{t−1}·R_hᵀ + Rb_h))
/// h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}
/// </code>
/// The recurrent bias Rb sits inside r_t ⊙ (…) for the candidate, so it is a parameter of its own (folding it into Wb,
/// as one may for the LSTM, would change the model). Regularizers: n_t ⊙ mask (candidate; Semeniuta et al.'s GRU form),
/// h_t = keep ⊙ h_{t−1} + scale ⊙ h̃_t (hidden: zoneout), masks on x_t, h_{t−1}·R, R and the output; the GRU has no
/// memory cell, so RNNDrop does not apply. Backward: δh̃ = scale ⊙ δh_t; δh_{t−1} = keep ⊙ δh_t + δh̃ ⊙ z;
/// δn = δh̃ ⊙ (1 − z) ⊙ mask; δz = δh̃ ⊙ (h_{t−1} − ñ); δa_n = δn ⊙ (1 − n²) goes to the input side as it is and to the
/// recurrent side times r; δr = δa_n ⊙ (h_{t−1}·R_hᵀ + Rb_h). Exported as the ONNX <c>GRU</c> operator with
/// linear_before_reset = 1 and B = [Wb, Rb].
/// </summary>
public sealed class GRU : RecurrentLayer
{
    private Parameter? _recurrentBias;

    /// <summary>Creates a GRU layer.</summary>
    /// <param name="units">Hidden size H.</param>
    /// <param name="returnSequences">Output every step's h_t as [T, H] instead of the last one as [H] (default).</param>
    /// <param name="regularizers">Regularizers acting inside the layer (each on its own sites).</param>
    public GRU(int units, bool returnSequences = false, params RecurrentRegularizer[] regularizers)
        : base(units, returnSequences, regularizers)
    {
    }

    /// <summary>The recurrent-side bias Rb [3H].</summary>
    public Parameter RecurrentBias => _recurrentBias ?? throw new InvalidOperationException("GRU is not built.");

    /// <inheritdoc />
    internal override int Gates => 3;

    /// <inheritdoc />
    internal override string OnnxOperator => "GRU";

    /// <inheritdoc />
    private protected override IReadOnlyList<Parameter> ExtraParameters => _recurrentBias is null ? [] : [_recurrentBias];

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new GRU(Units, ReturnSequences, RegularizerArray);

    /// <inheritdoc />
    private protected override void BuildExtra() =>
        _recurrentBias = new Parameter("recurrent_bias", new Tensor(3 * Units), ParameterKind.Bias);

    /// <inheritdoc />
    private protected override void RecurrentBiasValues(Span<float> rb) => RecurrentBias.Value.Span.CopyTo(rb);

    /// <inheritdoc />
    internal override bool TrySetRecurrentBias(ReadOnlySpan<float> rb)
    {
        rb.CopyTo(RecurrentBias.Value.Span);
        return true;
    }

    /// <inheritdoc />
    private protected override void RecurrentBiasGradient(RecurrentPass pass) => Dense.SumRows(pass.DGh.Span, RecurrentBias.Gradient.Span);

    /// <inheritdoc />
    private protected override void StepForward(RecurrentPass pass, int t, ReadOnlySpan<float> previous, int threads)
    {
        int batch = pass.Batch, g = 3 * Units;
        Gemm.MultiplyAddBias(false, true, batch, g, Units, previous, Units, pass.RecurrentWeights.Span, Units, RecurrentBias.Value.Span, GemmActivation.None, pass.Gh!.Span.Slice(t * batch * g, batch * g), g, threads);
        CellForwardParallel(pass, t, threads);
    }

    /// <inheritdoc />
    private protected override void CellForward(RecurrentPass pass, int t, int from, int to)
    {
        int batch = pass.Batch, h = Units;
        var masks = pass.Masks;
        for (int b = from; b < to; b++)
        {
            var x = RecurrentPass.Row(pass.Gx, t, b, batch, 3 * h);
            var recurrent = RecurrentPass.Row(pass.Gh!, t, b, batch, 3 * h);
            var zr = x[..(2 * h)];
            TensorPrimitives.Add(zr, recurrent[..(2 * h)], zr);
            TensorPrimitives.Sigmoid(zr, zr);
            var z = x[..h];
            var r = x.Slice(h, h);
            var n = x.Slice(2 * h, h);
            TensorPrimitives.MultiplyAdd(r, recurrent.Slice(2 * h, h), n, n);
            TensorPrimitives.Tanh(n, n);
            var hPrevious = RecurrentPass.Row(pass.Hs, t, b, batch, h);
            var hidden = RecurrentPass.Row(pass.Hs, t + 1, b, batch, h);
            var candidate = masks.Candidate.ScaleRow(t, b, batch, h);
            // h̃ = ñ + z ⊙ (h_{t−1} − ñ) = (1 − z) ⊙ ñ + z ⊙ h_{t−1}, with ñ = n ⊙ candidate mask.
            if (candidate.IsEmpty)
            {
                TensorPrimitives.Subtract(hPrevious, n, hidden);
                TensorPrimitives.MultiplyAdd(z, hidden, n, hidden);
            }
            else
            {
                var masked = RecurrentPass.Row(pass.Gh!, t, b, batch, 3 * h)[..h]; // z's recurrent part is no longer needed
                TensorPrimitives.Multiply(n, candidate, masked);
                TensorPrimitives.Subtract(hPrevious, masked, hidden);
                TensorPrimitives.MultiplyAdd(z, hidden, masked, hidden);
            }

            Blend(masks.Hidden, t, b, batch, hPrevious, hidden, hidden);
        }
    }

    /// <inheritdoc />
    private protected override void CellBackward(RecurrentPass pass, int t, int from, int to)
    {
        int batch = pass.Batch, h = Units;
        var masks = pass.Masks;
        for (int b = from; b < to; b++)
        {
            var x = RecurrentPass.Row(pass.Gx, t, b, batch, 3 * h);
            var recurrent = RecurrentPass.Row(pass.Gh!, t, b, batch, 3 * h);
            var dx = RecurrentPass.Row(pass.DGx, t, b, batch, 3 * h);
            var dr = RecurrentPass.Row(pass.DGh, t, b, batch, 3 * h);
            var hPrevious = RecurrentPass.Row(pass.Hs, t, b, batch, h);
            var dh = pass.DH.Data.AsSpan(b * h, h);
            var candidate = masks.Candidate.ScaleRow(t, b, batch, h);
            var hiddenScale = masks.Hidden.ScaleRow(t, b, batch, h);
            var hiddenKeep = masks.Hidden.KeepRow(t, b, batch, h);
            int u = 0;
            if (Vector.IsHardwareAccelerated)
            {
                // The scalar loop's operations a vector of units at a time (same bits; see LSTM.CellBackward).
                var one = Vector<float>.One;
                for (; u <= h - Vector<float>.Count; u += Vector<float>.Count)
                {
                    var z = new Vector<float>(x[u..]);
                    var r = new Vector<float>(x[(h + u)..]);
                    var n = new Vector<float>(x[((2 * h) + u)..]);
                    var vdh = new Vector<float>(dh[u..]);
                    var m = candidate.IsEmpty ? one : new Vector<float>(candidate[u..]);
                    var nm = n * m;
                    var dhNew = hiddenScale.IsEmpty ? vdh : vdh * new Vector<float>(hiddenScale[u..]);
                    var dhPrevious = (hiddenKeep.IsEmpty ? Vector<float>.Zero : vdh * new Vector<float>(hiddenKeep[u..])) + (dhNew * z);
                    var dn = dhNew * (one - z) * m;
                    var dz = dhNew * (new Vector<float>(hPrevious[u..]) - nm);
                    var dan = dn * (one - (n * n));
                    var dReset = dan * new Vector<float>(recurrent[((2 * h) + u)..]);
                    var daz = dz * z * (one - z);
                    var dar = dReset * r * (one - r);
                    daz.CopyTo(dx[u..]);
                    daz.CopyTo(dr[u..]);
                    dar.CopyTo(dx[(h + u)..]);
                    dar.CopyTo(dr[(h + u)..]);
                    dan.CopyTo(dx[((2 * h) + u)..]);
                    (dan * r).CopyTo(dr[((2 * h) + u)..]);
                    dhPrevious.CopyTo(dh[u..]);
                }
            }

            for (; u < h; u++)
            {
                float z = x[u], r = x[h + u], n = x[(2 * h) + u];
                float m = candidate.IsEmpty ? 1f : candidate[u], nm = n * m;
                float dhNew = hiddenScale.IsEmpty ? dh[u] : dh[u] * hiddenScale[u];
                float dhPrevious = (hiddenKeep.IsEmpty ? 0f : dh[u] * hiddenKeep[u]) + (dhNew * z);
                float dn = dhNew * (1f - z) * m, dz = dhNew * (hPrevious[u] - nm);
                float dan = dn * (1f - (n * n));
                float dReset = dan * recurrent[(2 * h) + u];
                float daz = dz * z * (1f - z), dar = dReset * r * (1f - r);
                dx[u] = daz;
                dr[u] = daz;
                dx[h + u] = dar;
                dr[h + u] = dar;
                dx[(2 * h) + u] = dan;
                dr[(2 * h) + u] = dan * r;
                dh[u] = dhPrevious;
            }
        }
    }
}
