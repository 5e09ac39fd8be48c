using System.Diagnostics;

namespace MLNet.Regularization.Experiments;

/// <summary>
/// Cancels a token source when a stopwatch reaches a deadline, from a dedicated thread. A timer-based
/// <c>CancelAfter</c> runs its callback on the thread pool, which the training kernels keep busy: on a loaded
/// two-core machine the callback came hundreds of milliseconds late, more than a tenth of a short budget.
/// </summary>
internal sealed class DeadlineWatcher : IDisposable
{
    private readonly ManualResetEventSlim _stopped = new();
    private readonly Thread _thread;

    public DeadlineWatcher(CancellationTokenSource target, Stopwatch clock, TimeSpan deadline)
    {
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
        _stopped.Set();
        _thread.Join();
        _stopped.Dispose();
    }
}
