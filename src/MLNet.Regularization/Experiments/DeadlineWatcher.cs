namespace MLNet.Regularization.Experiments;

/// <summary>The elapsed time of a comparison on its <see cref="ComparisonOptions.TimeProvider"/>.</summary>
internal sealed class ComparisonClock(TimeProvider time)
{
    private readonly long _start = time.GetTimestamp();

    public TimeProvider Time { get; } = time;

    public TimeSpan Elapsed => Time.GetElapsedTime(_start);
}

/// <summary>
/// Cancels a token source when a clock reaches a deadline. On the system clock it waits on a dedicated thread: a
/// timer-based <c>CancelAfter</c> runs its callback on the thread pool, which the training kernels keep busy, and on a
/// loaded two-core machine the callback came hundreds of milliseconds late, more than a tenth of a short budget. On
/// any other clock (a test's fake one) it uses that clock's timer, which fires when the clock is moved past the deadline.
/// </summary>
internal sealed class DeadlineWatcher : IDisposable
{
    private readonly ManualResetEventSlim _stopped = new();
    private readonly Thread? _thread;
    private readonly ITimer? _timer;

    public DeadlineWatcher(CancellationTokenSource target, ComparisonClock clock, TimeSpan deadline)
    {
        if (clock.Time != TimeProvider.System)
        {
            var remaining = deadline - clock.Elapsed;
            _timer = clock.Time.CreateTimer(_ => target.Cancel(), null, remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
            return;
        }

        _thread = new Thread(() =>
        {
            while (true)
            {
                var remaining = deadline - clock.Elapsed;
                if (remaining <= TimeSpan.Zero)
                {
                    target.Cancel();
                    return;
                }

                if (_stopped.Wait(remaining))
                {
                    return;
                }
            }
        })
        {
            IsBackground = true,
            Name = "comparison deadline",
            Priority = ThreadPriority.AboveNormal,
        };
        _thread.Start();
    }

    public void Dispose()
    {
        _timer?.Dispose();
        _stopped.Set();
        _thread?.Join();
        _stopped.Dispose();
    }
}
