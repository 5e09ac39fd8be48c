using MLNet.Regularization.Data;

namespace MLNet.Regularization.Training;

/// <summary>
/// A loss over a mini-batch that returns its mean value and writes dLoss/dOutput in one pass. Targets are given
/// per example as floats: the class index for classification, 0/1 for binary, the target row for regression.
/// </summary>
public abstract class Loss
{
    /// <summary>Returns the batch-mean loss and writes its gradient with respect to <paramref name="output"/>.</summary>
    /// <param name="output">Network outputs [batch, k] (logits for the classification losses).</param>
    /// <param name="targets">batch class indices, or batch·k regression targets.</param>
    /// <param name="gradient">Receives dLoss/dOutput, same shape as output.</param>
    public abstract float Compute(Tensor output, ReadOnlySpan<float> targets, Tensor gradient);

    /// <summary>The loss that fits a task: softmax cross-entropy, binary cross-entropy with logits, or MSE.</summary>
    public static Loss For(TaskKind task) => task switch
    {
        TaskKind.Multiclass => new SoftmaxCrossEntropy(),
        TaskKind.Binary => new BinaryCrossEntropy(),
        TaskKind.Regression => new MeanSquaredError(),
        _ => throw new ArgumentOutOfRangeException(nameof(task), task, "unknown task."),
    };
}

/// <summary>
/// Softmax and cross-entropy fused: L = −log softmax(z)_y, computed as logsumexp(z) − z_y with the maximum
/// subtracted first, so no exponent overflows; dL/dz = softmax(z) − onehot(y), divided by the batch size.
/// </summary>
public sealed class SoftmaxCrossEntropy : Loss
{
    /// <inheritdoc />
    public override float Compute(Tensor output, ReadOnlySpan<float> targets, Tensor gradient)
    {
        int n = output.BatchSize, k = output.SampleSize;
        if (targets.Length != n)
        {
            throw new ArgumentException($"{targets.Length} targets for a batch of {n}.", nameof(targets));
        }

        var z = output.Span;
        var g = gradient.Span;
        double total = 0;
        float invN = 1f / n;
        for (int i = 0; i < n; i++)
        {
            var zi = z.Slice(i * k, k);
            var gi = g.Slice(i * k, k);
            int label = (int)targets[i];
            double logSumExp = Softmax(zi, gi);
            total += logSumExp - zi[label];
            for (int j = 0; j < k; j++)
            {
                gi[j] *= invN;
            }

            gi[label] -= invN;
        }

        return (float)(total / n);
    }

    /// <summary>Writes softmax(z) into <paramref name="p"/> and returns logsumexp(z), both computed stably.</summary>
    public static double Softmax(ReadOnlySpan<float> z, Span<float> p)
    {
        float max = float.NegativeInfinity;
        foreach (float v in z)
        {
            max = Math.Max(max, v);
        }

        double sum = 0;
        for (int j = 0; j < z.Length; j++)
        {
            double e = Math.Exp(z[j] - max);
            p[j] = (float)e;
            sum += e;
        }

        float inv = (float)(1.0 / sum);
        for (int j = 0; j < z.Length; j++)
        {
            p[j] *= inv;
        }

        return max + Math.Log(sum);
    }
}

/// <summary>
/// Binary cross-entropy on one logit per example, fused with the sigmoid:
/// L = max(z, 0) − z·t + log(1 + e^−|z|) (stable for any z); dL/dz = (σ(z) − t) / batch.
/// </summary>
public sealed class BinaryCrossEntropy : Loss
{
    /// <inheritdoc />
    public override float Compute(Tensor output, ReadOnlySpan<float> targets, Tensor gradient)
    {
        var z = output.Span;
        var g = gradient.Span;
        if (targets.Length != z.Length)
        {
            throw new ArgumentException($"{targets.Length} targets for {z.Length} outputs.", nameof(targets));
        }

        double total = 0;
        float invN = 1f / output.BatchSize;
        for (int i = 0; i < z.Length; i++)
        {
            double v = z[i], t = targets[i];
            total += Math.Max(v, 0) - v * t + Math.Log(1 + Math.Exp(-Math.Abs(v)));
            double s = 1.0 / (1.0 + Math.Exp(-v));
            g[i] = (float)((s - t) * invN);
        }

        return (float)(total / output.BatchSize);
    }
}

/// <summary>Mean squared error: L = (1/batch) Σ_i Σ_j (y_ij − t_ij)² / k, the mean over every value (as PyTorch's
/// MSELoss); dL/dy = 2 (y − t) / (batch · k).</summary>
public sealed class MeanSquaredError : Loss
{
    /// <inheritdoc />
    public override float Compute(Tensor output, ReadOnlySpan<float> targets, Tensor gradient)
    {
        var y = output.Span;
        var g = gradient.Span;
        if (targets.Length != y.Length)
        {
            throw new ArgumentException($"{targets.Length} targets for {y.Length} outputs.", nameof(targets));
        }

        double total = 0;
        float scale = 2f / y.Length;
        for (int i = 0; i < y.Length; i++)
        {
            float d = y[i] - targets[i];
            total += (double)d * d;
            g[i] = scale * d;
        }

        return (float)(total / y.Length);
    }
}
