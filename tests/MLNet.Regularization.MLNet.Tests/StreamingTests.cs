using Microsoft.ML;
using Microsoft.ML.Transforms;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.MLNet.Tests;

/// <summary>Issue 18: an IDataView streamed to the trainer through row cursors trains to the weights of the same rows
/// in memory, bit for bit, and the adapter's Fit reads its data through cursors instead of copying it.</summary>
public sealed class StreamingTests
{
    private const int Count = 600;

    private static Network Net() => Network.Sequential(new Dense(16), new BatchNorm(), new ReLU(), new Dropout(0.3f), new Dense(10));

    private static TrainerOptions Options() => new()
    {
        Epochs = 2,
        BatchSize = 32,
        Seed = 7,
        Shuffle = false,
        Normalization = NormalizationKind.Standard,
        Optimizer = new Adam { LearningRate = 0.01f },
    };

    /// <summary>The first rows of the committed Fashion-MNIST subset, in memory and as an IDataView with a key label
    /// whose key k + 1 is class k.</summary>
    private static (Dataset Memory, IDataView View) Data(int from, int count)
    {
        var (train, _, rows, _) = Rows.FashionMnist();
        var indices = Enumerable.Range(from, count).ToArray();
        var ml = new MLContext(seed: 1);
        var raw = ml.Data.LoadFromEnumerable(rows.GetRange(from, count));
        var view = ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(raw).Transform(raw);
        return (train.Subset(indices), view);
    }

    private static void AssertSameWeights(Network expected, Network actual)
    {
        for (int i = 0; i < expected.Layers.Count; i++)
        {
            var a = expected.Layers[i].Parameters.Select(p => p.Value).Concat(expected.Layers[i].State).ToList();
            var b = actual.Layers[i].Parameters.Select(p => p.Value).Concat(actual.Layers[i].State).ToList();
            Assert.Equal(a.Count, b.Count);
            for (int t = 0; t < a.Count; t++)
            {
                Assert.True(
                    a[t].Span.ToArray().Select(BitConverter.SingleToInt32Bits).SequenceEqual(b[t].Span.ToArray().Select(BitConverter.SingleToInt32Bits)),
                    $"layer {i} ({expected.Layers[i].Name}) tensor {t} differs");
            }
        }
    }

    [Fact]
    public void A_streamed_IDataView_without_shuffling_gives_the_in_memory_weights_bit_for_bit()
    {
        var (memory, view) = Data(0, Count);
        var (memoryValidation, validationView) = Data(Count, 200);
        using var source = DataViewSource.Create(view, "Features", "Label", TaskKind.Multiclass, [784]);
        using var validation = DataViewSource.Create(validationView, "Features", "Label", TaskKind.Multiclass, [784], "validation data");
        Assert.False(source.SupportsRandomAccess);
        Assert.Equal(memory.Labels!.ToArray(), source.Labels.ToArray());
        Assert.Equal(memory.ClassCount, source.ClassCount);

        var streamed = new Trainer(Options()).Fit(Net(), source, validation);
        var inMemory = new Trainer(Options()).Fit(Net(), memory, memoryValidation);
        AssertSameWeights(inMemory.Network, streamed.Network);
        Assert.Equal(inMemory.History.Epochs.Select(e => e.ValidationLoss), streamed.History.Epochs.Select(e => e.ValidationLoss));

        // Two epochs, the normalizer's two passes and one validation pass per epoch all read through cursors.
        Assert.True(source.BytesRead >= 4L * Count * 784 * sizeof(float), $"{source.BytesRead} bytes read");
        Assert.True(validation.BytesRead >= 2L * 200 * 784 * sizeof(float), $"{validation.BytesRead} validation bytes read");
    }

    [Fact]
    public void The_adapter_fit_reads_rows_through_cursors_once_per_epoch_and_learns()
    {
        var (_, view) = Data(0, Count);
        var counting = new CursorCountingView(view);
        var ml = new MLContext(seed: 1);
        var options = new RegularizedNetworkOptions { HiddenLayers = { 32 }, Epochs = 3, BatchSize = 32, LearningRate = 0.005f, Seed = 3, MaxThreads = 1, ShuffleBufferSize = 100 };
        var model = ml.MulticlassClassification.Trainers.RegularizedNetwork(options).Fit(counting);

        // One cursor over the labels, the normalizer's passes, then one per epoch: rows are streamed, not copied once.
        Assert.True(counting.FeatureCursors >= 3, $"{counting.FeatureCursors} cursors over the features column");
        var scored = model.Transform(view);
        var metrics = ml.MulticlassClassification.Evaluate(scored);
        Assert.True(metrics.MicroAccuracy > 0.6, $"accuracy {metrics.MicroAccuracy} on the training rows");
    }

    /// <summary>An IDataView that counts the cursors opened over its Features column.</summary>
    private sealed class CursorCountingView(IDataView inner) : IDataView
    {
        private int _featureCursors;

        public int FeatureCursors => _featureCursors;

        public bool CanShuffle => inner.CanShuffle;

        public DataViewSchema Schema => inner.Schema;

        public long? GetRowCount() => inner.GetRowCount();

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            var columns = columnsNeeded.ToList();
            if (columns.Any(c => c.Name == "Features"))
            {
                Interlocked.Increment(ref _featureCursors);
            }

            return inner.GetRowCursor(columns, rand);
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
            [GetRowCursor(columnsNeeded, rand)];
    }
}
