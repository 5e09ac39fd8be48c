using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace MLNet.Regularization.Tensors;

/// <summary>The long-lived worker threads that run the other parts of a multi-threaded GEMM.</summary>
internal static partial class Gemm
{
    /// <summary>
    /// A small pool of dedicated background threads, grown on demand and never shrunk. A call posts parts
    /// 1..parts-1 to workers, runs part 0 itself, then takes back any part that no worker has started yet
    /// (a worker can be kept off the CPU when another process is busy on the other core) and waits for the
    /// rest. Nothing is allocated per call, unlike <c>Parallel.For</c>. Which thread runs a part never
    /// changes its bits, and neither does the partition. One call at a time owns the pool; a concurrent
    /// caller finds it busy and runs its whole product on its own thread.
    /// </summary>
    private static class Workers
    {
        private static readonly Lock s_gate = new();
        private static Worker[] s_workers = [];

        public static void Run(in Job job, int parts)
        {
            if (!s_gate.TryEnter())
            {
                Execute(in job, 0, job.M, 0, job.N);
                return;
            }

            try
            {
                if (s_workers.Length < parts - 1)
                {
                    Worker[] grown = new Worker[parts - 1];
                    Array.Copy(s_workers, grown, s_workers.Length);
                    for (int i = s_workers.Length; i < grown.Length; i++)
                    {
                        grown[i] = new Worker(i + 1);
                    }

                    s_workers = grown;
                }

                for (int part = 1; part < parts; part++)
                {
                    s_workers[part - 1].Post(in job, part, parts);
                }

                ExceptionDispatchInfo? failure = null;
                try
                {
                    ExecutePart(in job, 0, parts);
                    for (int part = 1; part < parts; part++)
                    {
                        if (s_workers[part - 1].TryReclaim())
                        {
                            ExecutePart(in job, part, parts);
                        }
                    }
                }
                finally
                {
                    // The operands stay pinned only until this method returns: wait for every worker, even
                    // if a part failed here, and only then report a worker's failure.
                    for (int part = 1; part < parts; part++)
                    {
                        ExceptionDispatchInfo? partFailure = s_workers[part - 1].Wait();
                        failure ??= partFailure;
                    }
                }

                failure?.Throw();
            }
            finally
            {
                s_gate.Exit();
            }
        }
    }

    /// <summary>
    /// One worker thread and its single-part mailbox. The slot goes Empty → Posted (by the caller) →
    /// Running (claimed by the worker) → Empty, or Posted → Empty when the caller takes the part back.
    /// Waking a blocked thread costs tens of microseconds (far more in a VM), so both sides spin, yielding,
    /// before they block: the worker for <see cref="IdleSpinMicroseconds"/> after each part, since training
    /// calls GEMM back to back, and the caller for <see cref="FinishSpinMicroseconds"/> while a part runs.
    /// </summary>
    private sealed class Worker
    {
        private const int Empty = 0, Posted = 1, Running = 2;
        private const int IdleSpinMicroseconds = 1000;
        private const int FinishSpinMicroseconds = 2000;

        private readonly object _sync = new(); // a Monitor (not a Lock): Wait and PulseAll need one
        private Job _job;
        private int _part, _parts;
        private ExceptionDispatchInfo? _failure;
        private int _slot; // Empty, Posted or Running; read with Volatile, changed with Interlocked or under _sync

        public Worker(int index)
        {
            var thread = new Thread(Loop)
            {
                IsBackground = true,
                Name = $"MLNet.Regularization GEMM worker {index}",
            };
            thread.Start();
        }

        /// <summary>Hands the worker its part (the slot is Empty: the previous call waited or reclaimed).</summary>
        public void Post(in Job job, int part, int parts)
        {
            _job = job;
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
        public bool TryReclaim() => Interlocked.CompareExchange(ref _slot, Empty, Posted) == Posted;

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
                    ExecutePart(in _job, _part, _parts);
                }
                catch (Exception e)
                {
                    _failure = ExceptionDispatchInfo.Capture(e);
                }
                finally
                {
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
