using System.Globalization;
using System.Text;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Training;

/// <summary>Issue 18: training from a streaming source (IDX files, CSV text, the binary cache) gives the weights of
/// training on the same rows in memory, bit for bit, so streaming changes where the data is read from and nothing
/// else.</summary>
public sealed class StreamingTests : IDisposable
{
    private const int Rows = 240, Side = 6, Classes = 4;

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    // Dropout (mask stream), batch norm (batch statistics), Adam, a validation split (a view of the source) and the
    // standard normalizer (fitted in passes over the source): every place where streamed data enters training.
    private static Network Net() => Network.Sequential(new Dense(12), new BatchNorm(), new ReLU(), new Dropout(0.3f), new Dense(Classes));

    private static TrainerOptions Options(bool shuffle, int? shuffleBuffer = null, bool prefetch = true) => new()
    {
        Epochs = 3,
        BatchSize = 32,
        Seed = 7,
        Shuffle = shuffle,
        ShuffleBufferSize = shuffleBuffer,
        Prefetch = prefetch,
        ValidationFraction = 0.25,
        Normalization = NormalizationKind.Standard,
        Optimizer = new Adam { LearningRate = 0.01f },
    };

    /// <summary>Pixels whose class shows in a bright band, with noise; rows cycle through the classes.</summary>
    private static (byte[] Pixels, byte[] Labels) Images()
    {
        var rng = new Rng(21);
        var pixels = new byte[Rows * Side * Side];
        var labels = new byte[Rows];
        for (int i = 0; i < Rows; i++)
        {
            labels[i] = (byte)(i % Classes);
            for (int p = 0; p < Side * Side; p++)
            {
                int band = p / Side % Classes == labels[i] ? 120 : 0;
                pixels[(i * Side * Side) + p] = (byte)Math.Min(255, band + rng.NextInt(120));
            }
        }

        return (pixels, labels);
    }

    private (string Images, string Labels) WriteIdx(bool gzip)
    {
        var (pixels, labels) = Images();
        string images = _folder.File(gzip ? "images.idx.gz" : "images.idx"), labelFile = _folder.File(gzip ? "labels.idx.gz" : "labels.idx");
        IdxWriter.WriteImages(images, pixels, Side, Side, gzip);
        IdxWriter.WriteLabels(labelFile, labels, gzip);
        return (images, labelFile);
    }

    /// <summary>The images as CSV text: a label column, then every pixel as the float the IDX reader makes of it
    /// (round-trip formatted, so parsing gives the same bits).</summary>
    private string WriteCsv()
    {
        var (images, labels) = WriteIdx(gzip: false);
        var data = IdxReader.LoadDataset(images, labels);
        var text = new StringBuilder("label," + string.Join(",", Enumerable.Range(0, data.FeatureCount).Select(j => $"p{j}")) + "\n");
        var x = data.Features.Span;
        for (int i = 0; i < data.Count; i++)
        {
            text.Append(data.Labels![i].ToString(CultureInfo.InvariantCulture));
            for (int j = 0; j < data.FeatureCount; j++)
            {
                text.Append(',').Append(x[(i * data.FeatureCount) + j].ToString("R", CultureInfo.InvariantCulture));
            }

            text.Append('\n');
        }

        return _folder.WriteText("data.csv", text.ToString());
    }

    /// <summary>The streaming source of one kind and the same rows loaded into memory by the ordinary readers.</summary>
    private (ExampleSource Source, Dataset Memory) Open(string kind)
    {
        switch (kind)
        {
            case "idx":
            case "idx-gzip":
                var (images, labels) = WriteIdx(gzip: kind == "idx-gzip");
                return (IdxSource.Open(images, labels), IdxReader.LoadDataset(images, labels));

            case "idx-cache":
                var (rawImages, rawLabels) = WriteIdx(gzip: true);
                using (var idx = IdxSource.Open(rawImages, rawLabels))
                {
                    return (ExampleCache.Create(idx, _folder.File("idx.cache")), IdxReader.LoadDataset(rawImages, rawLabels));
                }

            case "csv":
                string csv = WriteCsv();
                return (CsvSource.Open(csv, "label"), CsvReader.Load(csv, "label"));

            case "csv-cache":
                string cached = WriteCsv();
                CsvSource.Open(cached, "label", cachePath: _folder.File("csv.cache")).Dispose(); // the first pass writes it
                return (CsvSource.Open(cached, "label", cachePath: _folder.File("csv.cache")), CsvReader.Load(cached, "label"));

            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown source kind");
        }
    }

    private static void AssertSameRun(TrainedModel expected, TrainedModel actual)
    {
        CheckpointResumeTests.AssertSameWeights(expected.Network, actual.Network);
        Assert.Equal(expected.History.Epochs.Select(e => e.TrainLoss), actual.History.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(expected.History.Epochs.Select(e => e.ValidationLoss), actual.History.Epochs.Select(e => e.ValidationLoss));
        Assert.Equal(expected.Normalizer!.Offset.ToArray(), actual.Normalizer!.Offset.ToArray());
        Assert.Equal(expected.Normalizer.Scale.ToArray(), actual.Normalizer.Scale.ToArray());
    }

    [Theory]
    [InlineData("idx")]
    [InlineData("idx-gzip")]
    [InlineData("idx-cache")]
    [InlineData("csv")]
    [InlineData("csv-cache")]
    public void Streaming_without_shuffling_gives_the_in_memory_weights_bit_for_bit(string kind)
    {
        var (source, memory) = Open(kind);
        using (source)
        {
            Assert.Equal(memory.Count, source.Count);
            var streamed = new Trainer(Options(shuffle: false)).Fit(Net(), source);
            var inMemory = new Trainer(Options(shuffle: false)).Fit(Net(), memory);
            AssertSameRun(inMemory, streamed);
            Assert.True(source.BytesRead >= 3L * source.Count * source.RowBytes, $"{kind}: {source.BytesRead} bytes read, fewer than three epochs' worth");
        }
    }

    [Theory]
    [InlineData("idx")]
    [InlineData("idx-cache")]
    [InlineData("csv-cache")]
    public void A_source_read_by_index_is_shuffled_as_in_memory(string kind)
    {
        var (source, memory) = Open(kind);
        using (source)
        {
            Assert.True(source.SupportsRandomAccess);
            AssertSameRun(new Trainer(Options(shuffle: true)).Fit(Net(), memory), new Trainer(Options(shuffle: true)).Fit(Net(), source));
        }
    }

    [Fact]
    public void A_shuffle_buffer_that_holds_every_example_is_the_full_permutation_of_memory()
    {
        var (source, memory) = Open("idx-gzip");
        using (source)
        {
            Assert.False(source.SupportsRandomAccess);
            AssertSameRun(new Trainer(Options(shuffle: true)).Fit(Net(), memory), new Trainer(Options(shuffle: true, shuffleBuffer: Rows)).Fit(Net(), source));
        }
    }

    [Fact]
    public void A_bounded_shuffle_buffer_shuffles_and_results_do_not_depend_on_prefetch()
    {
        var (source, memory) = Open("idx-gzip");
        using (source)
        {
            var buffered = new Trainer(Options(shuffle: true, shuffleBuffer: 40)).Fit(Net(), source);
            AssertSameRun(buffered, new Trainer(Options(shuffle: true, shuffleBuffer: 40, prefetch: false)).Fit(Net(), source));

            // A different order from the unshuffled run: the buffer did reorder the examples.
            var unshuffled = new Trainer(Options(shuffle: false)).Fit(Net(), memory);
            Assert.NotEqual(unshuffled.History.Epochs[0].TrainLoss, buffered.History.Epochs[0].TrainLoss);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(50)]
    [InlineData(500)]
    public void The_shuffle_buffer_order_is_a_permutation_that_never_looks_further_ahead_than_the_buffer(int capacity)
    {
        const int n = 300;
        var order = new int[n];
        ExampleOrder.ShuffleBuffer(order, capacity, new Rng(3));
        Assert.Equal(Enumerable.Range(0, n), order.Order());
        for (int p = 0; p < n; p++)
        {
            // When position p is emitted the reader has read at most p + capacity examples.
            Assert.True(order[p] < p + capacity, $"position {p} emits example {order[p]} with a buffer of {capacity}");
        }

        if (capacity == 1)
        {
            Assert.Equal(Enumerable.Range(0, n), order);
        }
        else
        {
            Assert.NotEqual(Enumerable.Range(0, n), order);
        }
    }

    [Fact]
    public void Streamed_image_bytes_become_the_floats_of_the_in_memory_reader()
    {
        var (source, memory) = Open("idx");
        using (source)
        {
            Assert.Equal(FeatureStorage.Byte, source.Storage);
            Assert.Equal(Side * Side, source.RowBytes); // a quarter of the floats' size
            var row = new byte[source.RowBytes];
            var floats = new float[source.FeatureCount];
            for (int i = 0; i < source.Count; i += 37)
            {
                source.ReadFeatures(i, row);
                ExampleSource.ToSingles(source.Storage, row, floats);
                Assert.Equal(memory.Features.Span.Slice(i * source.FeatureCount, source.FeatureCount).ToArray(), floats);
            }
        }
    }

    [Fact]
    public void The_csv_cache_is_reused_while_the_file_is_unchanged_and_rewritten_when_it_changes()
    {
        string csv = WriteCsv(), cache = _folder.File("csv.cache");
        using (CsvSource.Open(csv, "label", cachePath: cache))
        {
        }

        var written = File.GetLastWriteTimeUtc(cache);
        using (var again = CsvSource.Open(csv, "label", cachePath: cache))
        {
            Assert.True(again.SupportsRandomAccess);
        }

        Assert.Equal(written, File.GetLastWriteTimeUtc(cache));

        // One more row: the cache no longer matches the file, so the next open parses the text and writes a new cache.
        File.AppendAllText(csv, "1," + string.Join(",", Enumerable.Repeat("0.5", Side * Side)) + "\n");
        File.SetLastWriteTimeUtc(csv, written.AddMinutes(1));
        using var changed = CsvSource.Open(csv, "label", cachePath: cache);
        Assert.Equal(Rows + 1, changed.Count);
        Assert.Empty(Directory.GetFiles(_folder.Path, "*.tmp"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData(50)]
    public void After_warm_up_preparing_a_batch_allocates_nothing(int? shuffleBuffer)
    {
        // Prefetch off, so the batches are prepared on this thread, where allocations can be counted; the prefetch
        // thread runs the same code. A buffer of 50 reads the raw file in order through its cursor.
        var (source, _) = Open("idx");
        using (source)
        {
            var options = new TrainerOptions { ShuffleBufferSize = shuffleBuffer };
            var order = ExampleOrder.For(source, options);
            using var feed = new BatchFeed(source, Normalizer.Fit(NormalizationKind.Standard, source), prefetch: false, order);
            var schedule = BatchSchedule.Balanced(source.Count, 32);
            var positions = Enumerable.Range(0, source.Count).ToArray();
            var rng = new Rng(4);
            long Epoch()
            {
                order.Shuffle(positions, rng);
                feed.Start(positions, schedule, 0);
                feed.Next(); // the first batch of a pass opens the file's cursor
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int b = 1; b < schedule.Count; b++)
                {
                    feed.Next();
                }

                return GC.GetAllocatedBytesForCurrentThread() - before;
            }

            Epoch(); // warm-up: one buffer set per batch size
            Assert.Equal(0, Epoch());
        }
    }

    [Fact]
    public void A_non_finite_feature_in_a_cache_file_is_named_by_a_read_by_index_and_by_a_pass_in_order()
    {
        // The one distinctive value of a CSV is found among the cache file's features and overwritten with NaN.
        string csv = _folder.WriteText("marked.csv", "label,a,b\n0,0.25,0.5\n1,1234.5,0.75\n0,0.125,0.375\n");
        string cachePath = _folder.File("marked.cache");
        CsvSource.Open(csv, "label", cachePath: cachePath).Dispose();
        byte[] bytes = File.ReadAllBytes(cachePath);
        byte[] mark = BitConverter.GetBytes(1234.5f);
        int at = bytes.AsSpan().IndexOf(mark);
        Assert.True(at >= 0 && bytes.AsSpan(at + 1).IndexOf(mark) < 0, "the marked value is in the cache exactly once");
        BitConverter.GetBytes(float.NaN).CopyTo(bytes, at);
        File.WriteAllBytes(cachePath, bytes);

        using var cache = ExampleCache.Open(cachePath);
        var row = new byte[cache.RowBytes];
        Assert.Contains("row 1", Assert.Throws<InvalidDataException>(() => cache.ReadFeatures(1, row)).Message);
        using var cursor = cache.OpenCursor();
        Assert.True(cursor.MoveNext(row));
        Assert.Contains("row 1", Assert.Throws<InvalidDataException>(() => cursor.MoveNext(row)).Message);
    }

    [Fact]
    public void A_corrupt_cache_is_named_on_opening()
    {
        string cache = _folder.WriteBytes("bad.cache", Enumerable.Repeat((byte)7, 200).ToArray());
        var e = Assert.Throws<InvalidDataException>(() => ExampleCache.Open(cache));
        Assert.Contains("bad.cache", e.Message);
    }
}
