using MLNet.Regularization.Pruning;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Rewrites a trained network into the network that inference runs, so that the C# predictions, the exported
/// ONNX graph and a re-imported model all compute the very same arithmetic:
/// <list type="bullet">
/// <item><see cref="DropConnectDense"/> becomes a <see cref="Dense"/> holding the expected weights (1 − p)·W,
/// formed element by element (Wan et al.'s mean approximation); likewise <see cref="DropConnectConv2D"/> becomes a
/// <see cref="Conv2D"/> holding the expected kernels.</item>
/// <item>A <see cref="BatchNorm"/> directly after a <see cref="Dense"/> is folded into it with the running
/// statistics: s = γ/√(var + ε) per unit, W' = s·W (row by row), b' = (b − mean)·s + β (Ioffe &amp; Szegedy's
/// inference form, as every deployment toolchain applies it). Computed in double, rounded once. A batch norm directly
/// after a <see cref="Conv2D"/> folds the same way per output channel: W'[o] = s_o·W[o], b'_o = (b_o − mean_o)·s_o + β_o
/// (a convolution without bias gets one).</item>
/// <item>The learned-noise layers: <see cref="VariationalDense"/> becomes a <see cref="Dense"/> with its means θ;
/// <see cref="SparseVariationalDense"/> a Dense with θ and its log α mask (<see cref="Pruning.WeightMask"/>), so the
/// export is the masked sparse network; <see cref="StructuredBayesianPruning"/> disappears into the input columns of
/// the next Dense, Conv2D, Standout or fast dropout layer, scaled by E[θ] (fast dropout's variance scales by E[θ]²
/// through its W ⊙ W, as it should); a <see cref="DropConnectDense"/> with Gaussian moment-matching inference
/// and the activation after it become one <see cref="DropConnectGaussianInference"/>.</item>
/// </list>
/// Pruning masks carry over weight by weight. <see cref="Dropout"/> and <see cref="GaussianDropout"/> stay: at inference they are the identity (or classic
/// dropout's scaling), and in Monte Carlo mode they draw their masks. Folding a batch norm stays valid in Monte
/// Carlo mode, where batch norm also uses its running statistics.
/// </summary>
internal static class InferenceFolding
{
    /// <summary>The inference network: DropConnect replaced by its expected weights, and (when
    /// <paramref name="foldBatchNorm"/>) each batch norm that directly follows a Dense folded into it.</summary>
    public static Network ForInference(Network source, bool foldBatchNorm = true) => Fold(source, replaceDropConnect: true, foldBatchNorm);

    /// <summary>The Monte Carlo network: every stochastic layer kept (DropConnect and the learned-noise layers included), batch norms that
    /// directly follow a Dense folded into it when <paramref name="foldBatchNorm"/>.</summary>
    public static Network ForMonteCarlo(Network source, bool foldBatchNorm = true) => Fold(source, replaceDropConnect: false, foldBatchNorm);

    private static Network Fold(Network source, bool replaceDropConnect, bool foldBatchNorm)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!source.IsBuilt)
        {
            throw new ArgumentException("only a built network can be folded for inference.", nameof(source));
        }

        // Each step: a fresh unbuilt layer and the values (parameters, then state) to give it once built.
        var steps = new List<(Layer Layer, float[][] Values)>();
        var sparse = new Dictionary<int, SparseVariationalDense>();
        int gaussianStep = -1;
        DropConnectDense? gaussianSource = null;
        (double[] Factors, int Units)? pendingNoise = null;
        foreach (var layer in source.Layers)
        {
            int before = steps.Count;
            if (replaceDropConnect && layer is DropConnectDense dc)
            {
                steps.Add((new Dense(dc.Units, dc.Init), [dc.ExpectedWeights().Data, (float[])dc.Bias.Value.Data.Clone()]));
                if (dc.Inference == DropConnectInference.GaussianMomentMatching && dc.Rate > 0f)
                {
                    // A Dense for now: it becomes the moment-matching layer if an activation follows (after a batch norm
                    // folded into it), and stays the mean rule otherwise.
                    (gaussianStep, gaussianSource) = (steps.Count - 1, dc);
                }
            }
            else if (replaceDropConnect && layer is DropConnectConv2D dcc)
            {
                var conv = new Conv2D(dcc.Filters, (dcc.KernelHeight, dcc.KernelWidth), dcc.Stride, dcc.Padding, dcc.Dilation, dcc.UseBias, dcc.Init);
                float[] expected = dcc.ExpectedWeights().Data;
                steps.Add((conv, dcc.Bias is { } b ? [expected, (float[])b.Value.Data.Clone()] : [expected]));
            }
            else if (replaceDropConnect && layer is VariationalDense vd)
            {
                steps.Add((new Dense(vd.Units, vd.Init), [(float[])vd.Weight.Value.Data.Clone(), (float[])vd.Bias.Value.Data.Clone()]));
            }
            else if (replaceDropConnect && layer is SparseVariationalDense svd)
            {
                sparse[steps.Count] = svd;
                steps.Add((new Dense(svd.Units, svd.Init), [(float[])svd.Weight.Value.Data.Clone(), (float[])svd.Bias.Value.Data.Clone()]));
            }
            else if (replaceDropConnect && layer is StructuredBayesianPruning sbp)
            {
                pendingNoise = (sbp.ExpectedNoise(), sbp.Units);
                continue;
            }
            else if (replaceDropConnect && layer is Activation activation && gaussianStep == steps.Count - 1 && gaussianSource is { } g)
            {
                var values = steps[^1].Values;
                steps[^1] = (new DropConnectGaussianInference(g.Units, g.Rate, g.InferenceSamples, (Activation)activation.CreateUnbuiltCopy()), values);
                gaussianStep = -1;
                continue;
            }
            else if (foldBatchNorm && layer is BatchNorm bn && steps.Count > 0 && steps[^1].Layer is Dense dense)
            {
                steps[^1] = (new Dense(dense.Units, dense.Init), FoldBatchNorm(steps[^1].Values, dense.UseBias, bn));
                continue;
            }
            else if (foldBatchNorm && layer is BatchNorm cbn && steps.Count > 0 && steps[^1].Layer is Conv2D c)
            {
                var folded = new Conv2D(c.Filters, (c.KernelHeight, c.KernelWidth), c.Stride, c.Padding, c.Dilation, useBias: true, c.Init);
                steps[^1] = (folded, FoldBatchNorm(steps[^1].Values, c.UseBias, cbn));
                continue;
            }
            else
            {
                float[][] values = layer.Parameters.Select(p => (float[])p.Value.Data.Clone())
                    .Concat(layer.State.Select(t => (float[])t.Data.Clone())).ToArray();
                steps.Add((layer.CreateUnbuiltCopy(), values));
            }

            if (steps.Count > before && pendingNoise is { } noise && OutputsOf(steps[^1].Layer) is int outputs)
            {
                ScaleInputColumns(steps[^1].Values[0], outputs, noise.Factors, noise.Units);
                pendingNoise = null;
            }

            if (steps.Count > before && gaussianStep != steps.Count - 1)
            {
                gaussianStep = -1;
            }
        }

        // Folding neither adds nor removes a weight (DropConnect and the variational layers become a Dense, batch norm
        // folds into the weight before it, structured Bayesian pruning into the weight after it), so the k-th weight
        // keeps the k-th mask; its pruned entries stay exactly 0 ((1 − p)·0, s·0, E[θ]·0). A sparse variational layer's
        // Dense gets its log α mask on top.
        var result = Network.Assemble(source.InputShape, steps);
        NetworkSparsity.CopyMasks(source, result);
        foreach (var (index, svd) in sparse)
        {
            ((Dense)result.Layers[index]).Weight.SetMask(svd.KeepMask());
        }

        return result;
    }

    /// <summary>The outputs of a layer whose first value array is a weight [outputs, fan-in] that structured Bayesian
    /// pruning's E[θ] can scale column by column (the layer computes from W·x alone, so W·(θ ⊙ x) = (W diag θ)·x), or null.</summary>
    private static int? OutputsOf(Layer layer) => layer switch
    {
        Dense d => d.Units,
        Conv2D c => c.Filters,
        StandoutDense s => s.Units,
        FastDropoutDense f => f.Units,
        _ => null,
    };

    /// <summary>Multiplies the input columns of a weight [outputs, fan-in] by the factor of the unit each column reads:
    /// column j of a Dense reads unit j / (fan-in / units) (1 column per unit, or a flattened H·W block), and of a
    /// convolution input channel j / (kh·kw), the same rule since its fan-in is inC·kh·kw in channel-major order.</summary>
    private static void ScaleInputColumns(float[] weight, int outputs, double[] factors, int units)
    {
        int fanIn = weight.Length / outputs, group = fanIn / units;
        if (group * units != fanIn)
        {
            throw new InvalidOperationException($"a weight with fan-in {fanIn} cannot read {units} units of structured Bayesian pruning.");
        }

        for (int o = 0; o < outputs; o++)
        {
            for (int j = 0; j < fanIn; j++)
            {
                weight[o * fanIn + j] *= (float)factors[j / group];
            }
        }
    }

    /// <summary>W' = s·W row by row (a Dense unit's row, or a convolution filter's kernels) and b' = (b − mean)·s + β
    /// with s = γ/√(var + ε).</summary>
    private static float[][] FoldBatchNorm(float[][] denseValues, bool hasBias, BatchNorm bn)
    {
        float[] w = denseValues[0];
        int units = bn.Channels, inputs = w.Length / units;
        float[] bias = hasBias ? denseValues[1] : new float[units];
        var gamma = bn.Gamma.Value.Span;
        var beta = bn.Beta.Value.Span;
        var mean = bn.RunningMean.Span;
        var variance = bn.RunningVariance.Span;
        var foldedW = new float[w.Length];
        var foldedB = new float[units];
        for (int u = 0; u < units; u++)
        {
            double s = gamma[u] / Math.Sqrt((double)variance[u] + bn.Epsilon);
            for (int j = u * inputs; j < (u + 1) * inputs; j++)
            {
                foldedW[j] = (float)(w[j] * s);
            }

            foldedB[u] = (float)((bias[u] - (double)mean[u]) * s + beta[u]);
        }

        return [foldedW, foldedB];
    }
}
