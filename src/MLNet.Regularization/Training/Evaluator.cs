using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;

namespace MLNet.Regularization.Training;

/// <summary>Loss and accuracy of a network on a dataset in inference mode, in batches.</summary>
internal sealed class Evaluator(Loss loss, int threads, int batchSize = 512)
{
    private readonly ForwardContext _ctx = new(ForwardMode.Inference, null, threads);
    private Tensor? _gradient;

    /// <summary>Evaluates on <paramref name="data"/>, normalized by <paramref name="normalizer"/> batch by batch.</summary>
    public (double Loss, double Accuracy) Run(Network net, ExampleSource data, Normalizer? normalizer)
    {
        using var feed = new BatchFeed(data, normalizer, prefetch: false);
        return Run(net, feed);
    }

    /// <summary>Evaluates on every example of <paramref name="feed"/>'s source, in order (the trainer keeps one feed for
    /// its validation data, whose batches are then prepared on a background thread).</summary>
    public (double Loss, double Accuracy) Run(Network net, BatchFeed feed)
    {
        var data = feed.Source;
        int n = data.Count;
        var schedule = BatchSchedule.Fixed(n, batchSize);
        feed.StartInOrder(schedule);
        double lossSum = 0;
        long correct = 0;
        for (int b = 0; b < schedule.Count; b++)
        {
            var (x, targets, labels) = feed.Next();
            var output = net.Forward(x, _ctx);
            _gradient = Tensor.Reuse(_gradient, output.Shape);
            lossSum += (double)loss.Compute(output, targets, _gradient) * x.BatchSize;
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
