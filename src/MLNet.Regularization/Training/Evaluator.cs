using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;

namespace MLNet.Regularization.Training;

/// <summary>Loss and accuracy of a network on a dataset in inference mode, in batches.</summary>
internal sealed class Evaluator(Loss loss, int threads, int batchSize = 512)
{
    private readonly ForwardContext _ctx = new(ForwardMode.Inference, null, threads);

    public (double Loss, double Accuracy) Run(Network net, Dataset data)
    {
        var batcher = new Batcher(data);
        double lossSum = 0;
        long correct = 0;
        int n = data.Count;
        Span<int> idx = new int[Math.Min(batchSize, n)];
        for (int start = 0; start < n; start += batchSize)
        {
            int size = Math.Min(batchSize, n - start);
            var slice = idx[..size];
            for (int i = 0; i < size; i++)
            {
                slice[i] = start + i;
            }

            var (x, targets, labels) = batcher.Gather(slice);
            var output = net.Forward(x, _ctx);
            lossSum += (double)loss.Compute(output, targets, batcher.Gradient(output)) * size;
            correct += CountCorrect(output, labels, data.Task);
        }

        return (lossSum / n, data.Task == TaskKind.Regression ? double.NaN : (double)correct / n);
    }

    /// <summary>Counts correct predictions: arg-max for multiclass, logit &gt; 0 for binary, none for regression.</summary>
    public static long CountCorrect(Tensor output, ReadOnlySpan<int> labels, TaskKind task)
    {
        if (task == TaskKind.Regression)
        {
            return 0;
        }

        long correct = 0;
        int k = output.SampleSize;
        var o = output.Span;
        for (int i = 0; i < output.BatchSize; i++)
        {
            int predicted = task == TaskKind.Binary ? (o[i] > 0f ? 1 : 0) : ArgMax(o.Slice(i * k, k));
            if (predicted == labels[i])
            {
                correct++;
            }
        }

        return correct;
    }

    /// <summary>Index of the largest value (the first on ties, as ONNX ArgMax with select_last_index = 0).</summary>
    public static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int j = 1; j < v.Length; j++)
        {
            if (v[j] > v[best])
            {
                best = j;
            }
        }

        return best;
    }
}
