using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using MLNet.Regularization.Data;

namespace MLNet.Regularization.Training;

/// <summary>How an epoch's examples are cut into mini-batches.</summary>
internal readonly struct BatchSchedule
{
    private readonly int _size;
    private readonly int _larger;
    private readonly bool _balanced;

    private BatchSchedule(int examples, int count, int size, int larger, bool balanced)
    {
        Examples = examples;
        Count = count;
        _size = size;
        _larger = larger;
        _balanced = balanced;
    }

    /// <summary>The examples of one pass.</summary>
    public int Examples { get; }

    /// <summary>The number of batches.</summary>
    public int Count { get; }

    /// <summary>⌈n / maxBatch⌉ batches whose sizes differ by at most one, the larger first (training: no tiny last batch
    /// whose statistics would disturb batch norm).</summary>
    public static BatchSchedule Balanced(int examples, int maxBatch)
    {
        int count = (examples + maxBatch - 1) / maxBatch;
        return new BatchSchedule(examples, count, examples / count, examples % count, balanced: true);
    }

    /// <summary>Batches of <paramref name="batch"/> examples and a smaller last one (evaluation).</summary>
    public static BatchSchedule Fixed(int examples, int batch) => new(examples, (examples + batch - 1) / batch, batch, 0, balanced: false);

    /// <summary>The size of batch <paramref name="b"/>.</summary>
    public int SizeOf(int b) => _balanced ? _size + (b < _larger ? 1 : 0) : Math.Min(_size, Examples - (b * _size));

    /// <summary>The position (in the epoch's order) of batch <paramref name="b"/>'s first example.</summary>
    public int StartOf(int b) => _balanced ? (b * _size) + Math.Min(b, _larger) : b * _size;
}

/// <summary>
/// Prepares mini-batches from an <see cref="ExampleSource"/>: reads the examples of each batch in the epoch's order,
/// converts them from their stored form to floats and normalizes them — on a background thread, one batch ahead of the
/// training step (or on the caller's thread when prefetching is off). Two sets of batch buffers alternate, so the
/// batch being trained on (which the layers keep for their backward pass) is never overwritten; each set keeps one
/// buffer per batch size (an epoch has at most two), so after the first epoch no batch allocates.
/// </summary>
internal sealed class BatchFeed : IDisposable
{
    private readonly ExampleSource _source;
    private readonly Normalizer? _normalizer;
    private readonly OrderReader _reader;
    private readonly Slot[] _slots;
    private readonly int _targetWidth;
    private readonly object _gate = new();
    private int[]? _identity;
    private Thread? _worker;

    // The plan, and how far producer and consumer are in it; all guarded by _gate.
    private int[] _order = [];
    private BatchSchedule _schedule;
    private bool _active;
    private int _version;
    private int _filled;   // batches of the plan ready (or being consumed)
    private int _next;     // the next batch the consumer takes
    private int _released; // batches before this one are given back: their slots may be refilled
    private bool _busy;    // the worker is filling a slot outside the lock
    private bool _disposed;
    private ExceptionDispatchInfo? _failure;

    /// <summary>A feed over <paramref name="source"/>.</summary>
    /// <param name="source">The examples.</param>
    /// <param name="normalizer">Applied to every batch, or null.</param>
    /// <param name="prefetch">Prepare the next batch on a background thread while the current one trains.</param>
    /// <param name="order">How the training epochs order and read the examples; null reads in order (evaluation).</param>
    public BatchFeed(ExampleSource source, Normalizer? normalizer, bool prefetch, ExampleOrder? order = null)
    {
        _source = source;
        _normalizer = normalizer;
        _targetWidth = source.Task == TaskKind.Regression ? source.TargetSize : 1;
        // A pass in order (evaluation) reads through the source's cursor even when it has random access: a file is
        // then streamed, not read through its memory map (whose pages would stay resident in the process).
        bool sequential = order?.Sequential ?? true;
        _reader = sequential ? new BufferReader(source, order?.BufferSize ?? 0) : new IndexReader(source);
        _slots = prefetch ? [new Slot(), new Slot()] : [new Slot()];
    }

    /// <summary>The examples fed.</summary>
    public ExampleSource Source => _source;

    private bool Prefetching => _slots.Length > 1;

    /// <summary>Starts (or resumes, from batch <paramref name="firstBatch"/>) a pass over the examples in
    /// <paramref name="order"/>, which must not change until the pass ends or <see cref="Stop"/> is called.</summary>
    public void Start(int[] order, BatchSchedule schedule, int firstBatch)
    {
        lock (_gate)
        {
            StopLocked();
            _failure = null;
            _order = order;
            _schedule = schedule;
            _filled = firstBatch;
            _next = firstBatch;
            _released = firstBatch;
            _reader.Begin(order, firstBatch < schedule.Count ? schedule.StartOf(firstBatch) : schedule.Examples);
            _active = true;
            if (Prefetching && _worker is null)
            {
                _worker = new Thread(Work) { IsBackground = true, Name = "MLNet.Regularization batch prefetch" };
                _worker.Start();
            }

            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Starts a pass over every example in source order (evaluation).</summary>
    public void StartInOrder(BatchSchedule schedule)
    {
        if (_identity is null)
        {
            _identity = new int[_source.Count];
            for (int i = 0; i < _identity.Length; i++)
            {
                _identity[i] = i;
            }
        }

        Start(_identity, schedule, 0);
    }

    /// <summary>The next batch of the pass. The batch returned before is given back: its buffers may be refilled.</summary>
    public (Tensor X, float[] Targets, int[] Labels) Next()
    {
        if (!Prefetching)
        {
            RequireBatchLeft();
            Fill(_slots[0], _next++);
            return _slots[0].Current;
        }

        Slot slot;
        lock (_gate)
        {
            RequireBatchLeft();
            _released = _next; // every batch before this one is given back: the worker may refill their slots
            Monitor.PulseAll(_gate);
            while (_filled <= _next && _failure is null)
            {
                Monitor.Wait(_gate);
            }

            _failure?.Throw();
            slot = _slots[_next % _slots.Length];
            _next++;
        }

        return slot.Current;
    }

    private void RequireBatchLeft()
    {
        if (!_active || _next >= _schedule.Count)
        {
            throw new InvalidOperationException("the feed has no batch left in this pass.");
        }
    }

    /// <summary>Abandons the pass (the order may change afterwards); waits for a batch being prepared.</summary>
    public void Stop()
    {
        lock (_gate)
        {
            StopLocked();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            Monitor.PulseAll(_gate);
        }

        _worker?.Join();
        _reader.Dispose();
    }

    private void StopLocked()
    {
        _active = false;
        _version++;
        while (_busy)
        {
            Monitor.Wait(_gate);
        }
    }

    /// <summary>The prefetch thread: fills the next slot whenever one is free, until disposed.</summary>
    private void Work()
    {
        while (true)
        {
            int batch, version;
            lock (_gate)
            {
                // Batch b goes into slot b % 2, which is free once the consumer has given back batch b - 2.
                while (!_disposed && !(_active && _failure is null && _filled < _schedule.Count && _filled < _released + _slots.Length))
                {
                    Monitor.Wait(_gate);
                }

                if (_disposed)
                {
                    return;
                }

                batch = _filled;
                version = _version;
                _busy = true;
            }

            ExceptionDispatchInfo? failure = null;
            try
            {
                Fill(_slots[batch % _slots.Length], batch);
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }

            lock (_gate)
            {
                _busy = false;
                if (version == _version)
                {
                    if (failure is null)
                    {
                        _filled++;
                    }
                    else
                    {
                        _failure = failure;
                    }
                }

                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>Reads, converts and normalizes batch <paramref name="batch"/> of the pass into <paramref name="slot"/>.</summary>
    private void Fill(Slot slot, int batch)
    {
        int size = _schedule.SizeOf(batch), start = _schedule.StartOf(batch);
        var buffers = slot.For(size, _source, _targetWidth);
        int rowBytes = _source.RowBytes;
        var x = buffers.X.Span;
        if (_source.Storage == FeatureStorage.Single)
        {
            var bytes = MemoryMarshal.AsBytes(x);
            for (int i = 0; i < size; i++)
            {
                _reader.Read(start + i, bytes.Slice(i * rowBytes, rowBytes));
            }
        }
        else
        {
            var staging = buffers.Staging.AsSpan();
            for (int i = 0; i < size; i++)
            {
                _reader.Read(start + i, staging.Slice(i * rowBytes, rowBytes));
            }

            ExampleSource.ToSingles(_source.Storage, staging, x);
        }

        _normalizer?.Apply(x, x);
        var order = _order.AsSpan(start, size);
        var labels = _source.Labels;
        var targets = _source.Targets;
        for (int i = 0; i < size; i++)
        {
            int e = order[i];
            if (!labels.IsEmpty)
            {
                buffers.Labels[i] = labels[e];
                buffers.Targets[i] = labels[e];
            }
            else
            {
                targets.Slice(e * _targetWidth, _targetWidth).CopyTo(buffers.Targets.AsSpan(i * _targetWidth, _targetWidth));
            }
        }

        slot.Current = (buffers.X, buffers.Targets, buffers.Labels);
    }

    /// <summary>One set of batch buffers: one per batch size (an epoch has at most two).</summary>
    private sealed class Slot
    {
        private readonly Buffers?[] _bySize = new Buffers?[2];
        private int _last;

        public (Tensor X, float[] Targets, int[] Labels) Current { get; set; }

        public Buffers For(int size, ExampleSource source, int targetWidth)
        {
            for (int i = 0; i < _bySize.Length; i++)
            {
                if (_bySize[i]?.X.BatchSize == size)
                {
                    _last = i;
                    return _bySize[i]!;
                }
            }

            _last = _bySize[0] is null ? 0 : _bySize[1] is null ? 1 : 1 - _last;
            return _bySize[_last] = new Buffers(
                Tensor.Reuse(null, size, source.Shape),
                new float[size * targetWidth],
                new int[size],
                source.Storage == FeatureStorage.Single ? [] : new byte[size * source.RowBytes]);
        }
    }

    private sealed record Buffers(Tensor X, float[] Targets, int[] Labels, byte[] Staging);

    /// <summary>Reads the examples at the positions of an epoch's order, position after position.</summary>
    private abstract class OrderReader : IDisposable
    {
        /// <summary>A pass over <paramref name="order"/> that begins at position <paramref name="start"/>.</summary>
        public abstract void Begin(int[] order, int start);

        /// <summary>The features of the example at <paramref name="position"/> (positions ascend within a pass).</summary>
        public abstract void Read(int position, Span<byte> destination);

        public virtual void Dispose()
        {
        }
    }

    /// <summary>Random access: each example by index.</summary>
    private sealed class IndexReader(ExampleSource source) : OrderReader
    {
        private int[] _order = [];

        public override void Begin(int[] order, int start) => _order = order;

        public override void Read(int position, Span<byte> destination) => source.ReadFeatures(_order[position], destination);
    }

    /// <summary>
    /// Reads the source once per pass, in file order, and holds each example that comes before its turn in a buffer of
    /// a fixed number of examples until its position arrives. An order drawn by <see cref="ExampleOrder.ShuffleBuffer"/>
    /// of the same capacity never needs more; an order that does (a checkpoint of other settings) is refused.
    /// </summary>
    private sealed class BufferReader : OrderReader
    {
        private readonly ExampleSource _source;
        private readonly int _capacity;
        private readonly int _rowBytes;
        private readonly byte[] _slots;
        private readonly int[] _free;
        private int[] _positionOf = [];
        private int[] _slotOf = [];
        private int _freeCount;
        private int[] _order = [];
        private int _start;
        private int _read;
        private ExampleCursor? _cursor;

        public BufferReader(ExampleSource source, int capacity)
        {
            _source = source;
            _capacity = capacity;
            _rowBytes = source.RowBytes;
            _slots = new byte[(long)capacity * _rowBytes];
            _free = new int[capacity];
        }

        public override void Begin(int[] order, int start)
        {
            _cursor?.Dispose();
            _cursor = null;
            int n = _source.Count;
            if (_positionOf.Length != n)
            {
                _positionOf = new int[n];
                _slotOf = new int[n];
            }

            for (int k = 0; k < order.Length; k++)
            {
                _positionOf[order[k]] = k;
            }

            _slotOf.AsSpan().Fill(-1);
            for (int s = 0; s < _capacity; s++)
            {
                _free[s] = _capacity - 1 - s;
            }

            _freeCount = _capacity;
            _order = order;
            _start = start;
            _read = 0;
        }

        public override void Read(int position, Span<byte> destination)
        {
            int row = _order[position];
            int slot = _slotOf[row];
            if (slot >= 0)
            {
                _slots.AsSpan(slot * _rowBytes, _rowBytes).CopyTo(destination);
                _slotOf[row] = -1;
                _free[_freeCount++] = slot;
                return;
            }

            _cursor ??= _source.OpenCursor();
            while (true)
            {
                if (_read >= _source.Count)
                {
                    throw new InvalidOperationException($"example {row} of {_source.Description} was needed at position {position} after the pass had read past it.");
                }

                int r = _read++;
                if (_positionOf[r] < _start)
                {
                    // Used before the epoch was interrupted (a resumed run passes over it).
                    Require(_cursor.Skip(), r);
                    continue;
                }

                if (r == row)
                {
                    Require(_cursor.MoveNext(destination), r);
                    return;
                }

                if (_freeCount == 0)
                {
                    throw new InvalidDataException(
                        $"the epoch's example order needs more than {_capacity:N0} examples in the shuffle buffer to read {_source.Description} in order; it was drawn with other settings (TrainerOptions.ShuffleBufferSize) than this run's.");
                }

                int s = _free[--_freeCount];
                Require(_cursor.MoveNext(_slots.AsSpan(s * _rowBytes, _rowBytes)), r);
                _slotOf[r] = s;
            }
        }

        public override void Dispose() => _cursor?.Dispose();

        private void Require(bool read, int row)
        {
            if (!read)
            {
                throw _source.EndedEarly(row);
            }
        }
    }
}
