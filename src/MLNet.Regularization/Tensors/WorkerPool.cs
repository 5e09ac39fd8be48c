using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace MLNet.Regularization.Tensors;

/// <summary>
/// Work split into a number of parts fixed by the caller; <see cref="WorkerPool"/> runs the parts at once.
/// The partition is the caller's, so which thread runs a part never changes a result's bits.
/// </summary>
internal abstract class ParallelWork
{
    /// <summary>Runs part <paramref name="part"/> of <paramref name="parts"/>.</summary>
    public abstract void RunPart(int part, int parts);
}

/// <summary>
/// A small pool of dedicated background threads, grown on demand and never shrunk, shared by the GEMM and by
/// the layers' parallel loops (<see cref="StaticParallel"/>). A call posts parts 1..parts-1 to workers, runs
/// part 0 itself, then takes back any part that no worker has started yet (a worker can be kept off the CPU
/// when another process is busy on the other core) and waits for the rest. Nothing is allocated per call,
/// unlike <c>Parallel.For</c>. One call at a time owns the pool: a concurrent or nested call (a GEMM inside a
/// parallel loop's part, a second model predicting on another thread) finds it busy and runs all its parts on
/// its own thread, in order.
/// </summary>
internal static class WorkerPool
{
    private static Worker[] s_workers = [];
    private static int s_busy; // 1 while a call owns the pool; a plain flag, so a nested call on the owner's thread sees it too

    /// <summary>Runs every part of <paramref name="work"/>, on the pool when it is free and otherwise one after
    /// the other on this thread; returns when all have finished and rethrows the first failure.</summary>
    public static void Run(ParallelWork work, int parts)
    {
        if (!TryRun(work, parts))
        {
            for (int part = 0; part < parts; part++)
            {
                work.RunPart(part, parts);
            }
        }
    }

    /// <summary>Runs every part of <paramref name="work"/> on the pool and returns true, or returns false at once
    /// (running nothing) when the pool is busy, so the caller can pick a better serial plan.</summary>
    public static bool TryRun(ParallelWork work, int parts)
    {
        if (parts <= 1 || Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
        {
            return false;
        }

        try
        {
            Worker[] workers = EnsureWorkers(parts - 1);
            for (int part = 1; part < parts; part++)
            {
                workers[part - 1].Post(work, part, parts);
            }

            ExceptionDispatchInfo? failure = null;
            try
            {
                work.RunPart(0, parts);
                for (int part = 1; part < parts; part++)
                {
                    if (workers[part - 1].TryReclaim())
                    {
                        work.RunPart(part, parts);
                    }
                }
            }
            finally
            {
                // The caller's operands (pinned spans included) must outlive every part: wait for every
                // worker, even if a part failed here, and only then report a worker's failure.
                for (int part = 1; part < parts; part++)
                {
                    ExceptionDispatchInfo? partFailure = workers[part - 1].Wait();
                    failure ??= partFailure;
                }
            }

            failure?.Throw();
            return true;
        }
        finally
        {
            Volatile.Write(ref s_busy, 0);
        }
    }

    /// <summary>Only the pool's owner (the holder of <see cref="s_busy"/>) grows it, so no lock is needed.</summary>
    private static Worker[] EnsureWorkers(int count)
    {
        if (s_workers.Length < count)
        {
            Worker[] grown = new Worker[count];
            Array.Copy(s_workers, grown, s_workers.Length);
            for (int i = s_workers.Length; i < grown.Length; i++)
            {
                grown[i] = new Worker(i + 1);
            }

            s_workers = grown;
        }

        return s_workers;
    }

    /// <summary>
    /// One worker thread and its single-part mailbox. The slot goes Empty → Posted (by the caller) →
    /// Running (claimed by the worker) → Empty, or Posted → Empty when the caller takes the part back.
    /// Waking a blocked thread costs tens of microseconds (far more in a VM), so both sides spin, yielding,
    /// before they block: the worker for <see cref="IdleSpinMicroseconds"/> after each part, since training
    /// calls kernels back to back, and the caller for <see cref="FinishSpinMicroseconds"/> while a part runs.
    /// </summary>
    private sealed class Worker
    {
        private const int Empty = 0, Posted = 1, Running = 2;
        private const int IdleSpinMicroseconds = 1000;
        private const int FinishSpinMicroseconds = 2000;

        private readonly object _sync = new(); // a Monitor (not a Lock): Wait and PulseAll need one
        private ParallelWork? _work;
        private int _part, _parts;
        private ExceptionDispatchInfo? _failure;
        private int _slot; // Empty, Posted or Running; read with Volatile, changed with Interlocked or under _sync

        public Worker(int index)
        {
            var thread = new Thread(Loop)
            {
                IsBackground = true,
                Name = $"MLNet.Regularization worker {index}",
            };
            thread.Start();
        }

        /// <summary>Hands the worker its part (the slot is Empty: the previous call waited or reclaimed).</summary>
        public void Post(ParallelWork work, int part, int parts)
        {
            _work = work;
            _part = part;
            _parts = parts;
            _failure = null;
            lock (_sync)
            {
                Volatile.Write(ref _slot, Posted); // publishes the fields above
                Monitor.PulseAll(_sync);
            }
        }

        /// <summary>Takes the part back if the worker has not started it; the caller must then run it.</summary>
        public bool TryReclaim()
        {
            if (Interlocked.CompareExchange(ref _slot, Empty, Posted) != Posted)
            {
                return false;
            }

            _work = null;
            return true;
        }

        /// <summary>Waits until the slot is empty again; returns the failure of the worker's part, if any.</summary>
        public ExceptionDispatchInfo? Wait()
        {
            if (!SpinUntil(ref _slot, Empty, FinishSpinMicroseconds))
            {
                lock (_sync)
                {
                    while (Volatile.Read(ref _slot) != Empty)
                    {
                        Monitor.Wait(_sync);
                    }
                }
            }

            return _failure;
        }

        private void Loop()
        {
            while (true)
            {
                if (!SpinUntil(ref _slot, Posted, IdleSpinMicroseconds))
                {
                    lock (_sync)
                    {
                        while (Volatile.Read(ref _slot) != Posted)
                        {
                            Monitor.Wait(_sync);
                        }
                    }
                }

                if (Interlocked.CompareExchange(ref _slot, Running, Posted) != Posted)
                {
                    continue; // the caller took this part back
                }

                try
                {
                    _work!.RunPart(_part, _parts);
                }
                catch (Exception e)
                {
                    _failure = ExceptionDispatchInfo.Capture(e);
                }
                finally
                {
                    _work = null; // keep no caller's state alive between calls
                    lock (_sync)
                    {
                        Volatile.Write(ref _slot, Empty);
                        Monitor.PulseAll(_sync);
                    }
                }
            }
        }

        /// <summary>
        /// Spins until <paramref name="slot"/> holds <paramref name="value"/> or the time is up.
        /// <see cref="SpinWait"/> soon starts yielding the core, so that when more threads are runnable than
        /// there are cores, the thread we wait for is not kept off the CPU by our spinning.
        /// </summary>
        private static bool SpinUntil(ref int slot, int value, int microseconds)
        {
            long deadline = Stopwatch.GetTimestamp() + microseconds * Stopwatch.Frequency / 1_000_000;
            var spinner = default(SpinWait);
            while (Volatile.Read(ref slot) != value)
            {
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    return false;
                }

                spinner.SpinOnce(sleep1Threshold: -1);
            }

            return true;
        }
    }
}
