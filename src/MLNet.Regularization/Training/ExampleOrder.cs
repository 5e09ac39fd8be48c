using MLNet.Regularization.Data;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Training;

/// <summary>
/// How an epoch orders the training examples and how they are read. A source with random access (in memory, a raw
/// IDX file, the cache) — or one whose shuffle buffer would hold every example anyway — gets a full random permutation
/// (Fisher–Yates), read by index. A source read in order (CSV text, gzip, an IDataView), or any source when
/// <see cref="TrainerOptions.ShuffleBufferSize"/> is set, gets the order of a bounded shuffle buffer, read in file order.
/// </summary>
/// <remarks>
/// The shuffle buffer (as in tf.data): fill it with the first S examples; then for each further example, emit a
/// uniformly chosen buffered one and put the new one in its place; at the end emit what remains in random order. The
/// emitted order depends only on N, S and the random stream, so it is drawn up front as a permutation of indices —
/// the epoch's order that checkpoints already save — and the reader holds at most S examples to deliver it while it
/// reads the file once, in order. With shuffling off every source reads 0, 1, 2, ...: the same batches, bit for bit.
/// </remarks>
internal sealed class ExampleOrder
{
    /// <summary>The shuffle buffer's default size in bytes of stored features (when the option is null).</summary>
    public const long DefaultBufferBytes = 64L << 20;

    private ExampleOrder(int buffer, bool sequential, int count)
    {
        BufferSize = buffer;
        Sequential = sequential;
        FullPermutation = !sequential || buffer >= count;
    }

    /// <summary>Examples the reader may hold (0 for a permutation read by index).</summary>
    public int BufferSize { get; }

    /// <summary>True when the examples are read in file order through the buffer.</summary>
    public bool Sequential { get; }

    /// <summary>True when epochs draw a full permutation (Fisher–Yates, as in memory).</summary>
    public bool FullPermutation { get; }

    /// <summary>What the run's checkpoints must match (null for a full permutation: no setting then changes the order,
    /// and checkpoints of earlier versions stay valid).</summary>
    public string? Fingerprint => FullPermutation ? null : $"shuffle-buffer={BufferSize}";

    /// <summary>The ordering for <paramref name="source"/> under <paramref name="options"/>.</summary>
    public static ExampleOrder For(ExampleSource source, TrainerOptions options)
    {
        int n = source.Count;
        bool sequential = !source.SupportsRandomAccess || options.ShuffleBufferSize is not null;
        int buffer = 0;
        if (sequential)
        {
            long size = options.ShuffleBufferSize ?? Math.Max(1, DefaultBufferBytes / source.RowBytes);
            buffer = (int)Math.Min(size, n);
            if ((long)buffer * source.RowBytes > Array.MaxLength)
            {
                throw new ArgumentException($"a shuffle buffer of {buffer:N0} examples of {source.RowBytes:N0} bytes ({(long)buffer * source.RowBytes:N0} bytes) is larger than one array; lower TrainerOptions.ShuffleBufferSize.", nameof(options));
            }
        }

        return new ExampleOrder(buffer, sequential, n);
    }

    /// <summary>Draws the next epoch's order into <paramref name="order"/>.</summary>
    public void Shuffle(int[] order, Rng rng)
    {
        if (FullPermutation)
        {
            DataSplit.Shuffle(order, rng);
        }
        else
        {
            ShuffleBuffer(order, BufferSize, rng);
        }
    }

    /// <summary>The order in which a shuffle buffer of <paramref name="capacity"/> examples emits 0..N-1.</summary>
    internal static void ShuffleBuffer(Span<int> order, int capacity, Rng rng)
    {
        int n = order.Length, s = Math.Min(capacity, n), emitted = 0;
        var buffer = new int[s];
        for (int i = 0; i < s; i++)
        {
            buffer[i] = i;
        }

        for (int next = s; next < n; next++)
        {
            int j = rng.NextInt(s);
            order[emitted++] = buffer[j];
            buffer[j] = next;
        }

        for (int left = s; left > 0; left--)
        {
            int j = rng.NextInt(left);
            order[emitted++] = buffer[j];
            buffer[j] = buffer[left - 1];
        }
    }
}
