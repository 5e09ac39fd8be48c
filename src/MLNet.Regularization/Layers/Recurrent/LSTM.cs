using System.Numerics;
using System.Numerics.Tensors;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Long short-term memory (Hochreiter &amp; Schmidhuber, 1997, with the forget gate of Gers et al., 2000), in the
/// form the ONNX <c>LSTM</c> operator defines (no peepholes), gate blocks in ONNX order i, o, f, c:
/// <code>
/// i_t = σ(x_t·W_iᵀ + h_{t−1}·R_iᵀ + b_i)     o_t = σ(x_t·W_oᵀ + h_{t−1}·R_oᵀ + b_o)
/// f_t = σ(x_t·W_fᵀ + h_{t−1}·R_fᵀ + b_f)     g_t = tanh(x_t·W_cᵀ + h_{t−1}·R_cᵀ + b_c)
/// c̃_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t            c_t = c̃_t,   h_t = o_t ⊙ tanh(c̃_t)
/// </code>
/// Regularizers change it at their sites (<see cref="RecurrentLayer"/>): g_t ⊙ mask (candidate),
/// c_t = keep ⊙ c_{t−1} + scale ⊙ c̃_t (cell), h_t = keep ⊙ h_{t−1} + scale ⊙ o_t ⊙ tanh(c̃_t) (hidden), and masks on
/// x_t, h_{t−1}·R and the output. The hidden state reads the unblended c̃_t, as zoneout's authors do; for a 0/1 cell
/// mask (RNNDrop) tanh(m ⊙ c̃) = m ⊙ tanh(c̃), the same thing.
/// Backward (per step, δ for dLoss/d·): δh̃ = scale_h ⊙ δh_t; δo = δh̃ ⊙ tanh(c̃); δc̃ = δh̃ ⊙ o ⊙ (1 − tanh²c̃) +
/// scale_c ⊙ δc_t; δc_{t−1} = keep_c ⊙ δc_t + δc̃ ⊙ f; δf = δc̃ ⊙ c_{t−1}; δi = δc̃ ⊙ g̃; δg = δc̃ ⊙ i ⊙ mask_g;
/// then through σ' = s(1 − s) and tanh' = 1 − g². The forget-gate bias starts at 1 (Jozefowicz et al., 2015), so
/// memory is kept from the first step on. Exported as the ONNX <c>LSTM</c> operator with B = [Wb, 0].
/// </summary>
public sealed class LSTM : RecurrentLayer
{
    /// <summary>Creates an LSTM layer.</summary>
    /// <param name="units">Hidden size H.</param>
    /// <param name="returnSequences">Output every step's h_t as [T, H] (to stack another recurrent layer) instead of
    /// the last one as [H] (default).</param>
    /// <param name="regularizers">Regularizers acting inside the layer, such as <see cref="VariationalRecurrentDropout"/>
    /// or <see cref="Zoneout"/> (each on its own sites).</param>
    public LSTM(int units, bool returnSequences = false, params RecurrentRegularizer[] regularizers)
        : base(units, returnSequences, regularizers)
    {
    }

    /// <inheritdoc />
    internal override int Gates => 4;

    /// <inheritdoc />
    internal override string OnnxOperator => "LSTM";

    /// <inheritdoc />
    protected internal override Layer CreateUnbuiltCopy() => new LSTM(Units, ReturnSequences, RegularizerArray);

    /// <summary>Forget-gate bias 1, the others 0.</summary>
    private protected override void InitializeBias(Span<float> bias)
    {
        bias.Clear();
        bias.Slice(2 * Units, Units).Fill(1f);
    }

    /// <inheritdoc />
    private protected override void StepForward(RecurrentPass pass, int t, ReadOnlySpan<float> previous, int threads)
    {
        int batch = pass.Batch, g = 4 * Units;

        // The input projection of step t already sits in Gx; the recurrent product is added in place (beta = 1).
        Gemm.Multiply(false, true, batch, g, Units, 1f, previous, Units, pass.RecurrentWeights.Span, Units, 1f, pass.Gx.Span.Slice(t * batch * g, batch * g), g, threads);
        CellForwardParallel(pass, t, threads);
    }

    /// <inheritdoc />
    private protected override void CellForward(RecurrentPass pass, int t, int from, int to)
    {
        int batch = pass.Batch, h = Units;
        var masks = pass.Masks;
        for (int b = from; b < to; b++)
        {
            var z = RecurrentPass.Row(pass.Gx, t, b, batch, 4 * h);
            var sigmoids = z[..(3 * h)];
            TensorPrimitives.Sigmoid(sigmoids, sigmoids);
            var gate = z.Slice(3 * h, h);
            TensorPrimitives.Tanh(gate, gate);
            var i = z[..h];
            var o = z.Slice(h, h);
            var f = z.Slice(2 * h, h);
            var cPrevious = RecurrentPass.Row(pass.Cs!, t, b, batch, h);
            var c = RecurrentPass.Row(pass.Cs!, t + 1, b, batch, h);
            var hPrevious = RecurrentPass.Row(pass.Hs, t, b, batch, h);
            var hidden = RecurrentPass.Row(pass.Hs, t + 1, b, batch, h);
            var cell = RecurrentPass.Row(pass.TanhCell!, t, b, batch, h);

            // c̃ = f ⊙ c_{t−1} + i ⊙ g ⊙ candidate mask, kept in 'cell' until it becomes tanh(c̃).
            TensorPrimitives.Multiply(i, gate, cell);
            var candidate = masks.Candidate.ScaleRow(t, b, batch, h);
            if (!candidate.IsEmpty)
            {
                TensorPrimitives.Multiply(cell, candidate, cell);
            }

            TensorPrimitives.MultiplyAdd(f, cPrevious, cell, cell);
            Blend(masks.Cell, t, b, batch, cPrevious, cell, c);
            TensorPrimitives.Tanh(cell, cell);
            TensorPrimitives.Multiply(o, cell, hidden);
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
            var z = RecurrentPass.Row(pass.Gx, t, b, batch, 4 * h);
            var dz = RecurrentPass.Row(pass.DGx, t, b, batch, 4 * h);
            var tanhCell = RecurrentPass.Row(pass.TanhCell!, t, b, batch, h);
            var cPrevious = RecurrentPass.Row(pass.Cs!, t, b, batch, h);
            var dh = pass.DH.Data.AsSpan(b * h, h);
            var dc = pass.DC!.Data.AsSpan(b * h, h);
            var candidate = masks.Candidate.ScaleRow(t, b, batch, h);
            var cellScale = masks.Cell.ScaleRow(t, b, batch, h);
            var cellKeep = masks.Cell.KeepRow(t, b, batch, h);
            var hiddenScale = masks.Hidden.ScaleRow(t, b, batch, h);
            var hiddenKeep = masks.Hidden.KeepRow(t, b, batch, h);
            var i = z[..h];
            var o = z.Slice(h, h);
            var f = z.Slice(2 * h, h);
            var g = z.Slice(3 * h, h);
            int u = 0;
            if (Vector.IsHardwareAccelerated)
            {
                // The same operations as the scalar loop below (no fused multiply-add), a vector of units at a time:
                // identical bits whichever way the units fall, and the row's split never depends on the thread count.
                var one = Vector<float>.One;
                for (; u <= h - Vector<float>.Count; u += Vector<float>.Count)
                {
                    var vi = new Vector<float>(i[u..]);
                    var vo = new Vector<float>(o[u..]);
                    var vf = new Vector<float>(f[u..]);
                    var vg = new Vector<float>(g[u..]);
                    var tc = new Vector<float>(tanhCell[u..]);
                    var vdh = new Vector<float>(dh[u..]);
                    var vdc = new Vector<float>(dc[u..]);
                    var dhNew = hiddenScale.IsEmpty ? vdh : vdh * new Vector<float>(hiddenScale[u..]);
                    var dhPrevious = hiddenKeep.IsEmpty ? Vector<float>.Zero : vdh * new Vector<float>(hiddenKeep[u..]);
                    var dcNew = (dhNew * vo * (one - (tc * tc))) + (cellScale.IsEmpty ? vdc : vdc * new Vector<float>(cellScale[u..]));
                    var dcPrevious = (cellKeep.IsEmpty ? Vector<float>.Zero : vdc * new Vector<float>(cellKeep[u..])) + (dcNew * vf);
                    var m = candidate.IsEmpty ? one : new Vector<float>(candidate[u..]);
                    var di = dcNew * vg * m;
                    var df = dcNew * new Vector<float>(cPrevious[u..]);
                    var dg = dcNew * vi * m;
                    var dO = dhNew * tc;
                    (di * vi * (one - vi)).CopyTo(dz[u..]);
                    (dO * vo * (one - vo)).CopyTo(dz[(h + u)..]);
                    (df * vf * (one - vf)).CopyTo(dz[((2 * h) + u)..]);
                    (dg * (one - (vg * vg))).CopyTo(dz[((3 * h) + u)..]);
                    dhPrevious.CopyTo(dh[u..]);
                    dcPrevious.CopyTo(dc[u..]);
                }
            }

            for (; u < h; u++)
            {
                float iu = i[u], ou = o[u], fu = f[u], gu = g[u], tc = tanhCell[u];
                float dhNew = hiddenScale.IsEmpty ? dh[u] : dh[u] * hiddenScale[u];
                float dhPrevious = hiddenKeep.IsEmpty ? 0f : dh[u] * hiddenKeep[u];
                float dcNew = (dhNew * ou * (1f - (tc * tc))) + (cellScale.IsEmpty ? dc[u] : dc[u] * cellScale[u]);
                float dcPrevious = (cellKeep.IsEmpty ? 0f : dc[u] * cellKeep[u]) + (dcNew * fu);
                float m = candidate.IsEmpty ? 1f : candidate[u];
                float di = dcNew * gu * m, df = dcNew * cPrevious[u], dg = dcNew * iu * m, dO = dhNew * tc;
                dz[u] = di * iu * (1f - iu);
                dz[h + u] = dO * ou * (1f - ou);
                dz[(2 * h) + u] = df * fu * (1f - fu);
                dz[(3 * h) + u] = dg * (1f - (gu * gu));
                dh[u] = dhPrevious;
                dc[u] = dcPrevious;
            }
        }
    }
}
