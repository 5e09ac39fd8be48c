namespace MLNet.Regularization.Tensors;

/// <summary>
/// Splits a range into <c>threads</c> contiguous, equally sized parts fixed in advance. Each index is always
/// processed by the same code in the same order, so results never depend on scheduling.
/// </summary>
internal static class StaticParallel
{
    /// <summary>Runs <paramref name="body"/>(start, end) over [0, count) in at most <paramref name="threads"/>
    /// contiguous parts; runs inline when one part suffices.</summary>
    public static void For(int count, int threads, Action<int, int> body)
    {
        int parts = Math.Min(Math.Max(threads, 1), count);
        if (parts <= 1)
        {
            if (count > 0)
            {
                body(0, count);
            }

            return;
        }

        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, p =>
        {
            int start = (int)((long)count * p / parts);
            int end = (int)((long)count * (p + 1) / parts);
            body(start, end);
        });
    }
}
