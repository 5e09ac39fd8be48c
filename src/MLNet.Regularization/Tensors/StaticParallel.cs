namespace MLNet.Regularization.Tensors;

/// <summary>
/// Splits a range into <c>threads</c> contiguous, equally sized parts fixed in advance and runs them on
/// <see cref="WorkerPool"/>. Each index is always processed by the same code in the same order, so results never
/// depend on scheduling. The body gets its inputs through a state value (a tuple, usually) and should be a
/// <c>static</c> lambda: then nothing is allocated per call.
/// </summary>
internal static class StaticParallel
{
    /// <summary>Runs <paramref name="body"/>(state, start, end) over [0, count) in at most
    /// <paramref name="threads"/> contiguous parts; runs inline when one part suffices.</summary>
    public static void For<TState>(int count, int threads, TState state, Action<TState, int, int> body)
    {
        int parts = Math.Min(Math.Max(threads, 1), count);
        if (parts <= 1)
        {
            if (count > 0)
            {
                body(state, 0, count);
            }

            return;
        }

        // One cached work object per thread and state type, taken out of the cache while in use (a nested
        // loop of the same type on this thread gets a fresh one).
        var work = RangeWork<TState>.Cached ?? new RangeWork<TState>();
        RangeWork<TState>.Cached = null;
        work.Count = count;
        work.State = state;
        work.Body = body;
        try
        {
            WorkerPool.Run(work, parts);
        }
        finally
        {
            work.State = default!; // keep no caller's buffers alive
            work.Body = null;
            RangeWork<TState>.Cached = work;
        }
    }

    private sealed class RangeWork<TState> : ParallelWork
    {
        [ThreadStatic]
        public static RangeWork<TState>? Cached;

        public int Count;
        public TState State = default!;
        public Action<TState, int, int>? Body;

        public override void RunPart(int part, int parts)
        {
            int start = (int)((long)Count * part / parts);
            int end = (int)((long)Count * (part + 1) / parts);
            Body!(State, start, end);
        }
    }
}
