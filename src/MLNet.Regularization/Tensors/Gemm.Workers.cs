using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace MLNet.Regularization.Tensors;

/// <summary>The long-lived worker threads that run the other parts of a multi-threaded GEMM.</summary>
internal static partial class Gemm
{
    /// <summary>
    /// A small pool of dedicated background threads, grown on demand and never shrunk. A call posts the
    /// job to <c>parts - 1</c> workers, runs part 0 itself and waits: nothing is allocated per call (unlike
    /// <c>Parallel.For</c>). One call at a time owns the pool; a concurrent caller finds it busy and runs its
    /// whole product on its own thread, which gives the same bits because the partition never changes them.
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

                try
                {
                    ExecutePart(in job, 0, parts);
                }
                finally
                {
                    // The operands stay pinned only until this method returns: wait for every worker, even
                    // if part 0 failed, and only then report a worker's failure.
                    ExceptionDispatchInfo? failure = null;
                    for (int part = 1; part < parts; part++)
                    {
                        ExceptionDispatchInfo? partFailure = s_workers[part - 1].Wait(); // always wait
                        failure ??= partFailure;
                    }

                    failure?.Throw();
                }
            }
            finally
            {
                s_gate.Exit();
            }
        }
    }

    /// <summary>
    /// One worker thread. Waking a blocked thread costs tens of microseconds (far more in a VM, where the
    /// idle core may be descheduled), so both sides spin briefly before blocking: the worker for
    /// <see cref="IdleSpinMicroseconds"/> after each part, since training calls GEMM back to back, and the
    /// caller for <see cref="FinishSpinMicroseconds"/> while the worker finishes a part as long as its own.
    /// </summary>
    private sealed class Worker
    {
        private const int IdleSpinMicroseconds = 1000;
        private const int FinishSpinMicroseconds = 2000;

        private readonly SemaphoreSlim _start = new(0, 1);
        private readonly ManualResetEventSlim _done = new(false);
        private Job _job;
        private int _part, _parts;
        private ExceptionDispatchInfo? _failure;
        private int _posted, _finished; // 0 or 1, read and written with Volatile

        public Worker(int index)
        {
            var thread = new Thread(Loop)
            {
                IsBackground = true,
                Name = $"MLNet.Regularization GEMM worker {index}",
            };
            thread.Start();
        }

        /// <summary>Hands the worker its part; the volatile write (and the semaphore) publish the fields to it.</summary>
        public void Post(in Job job, int part, int parts)
        {
            _job = job;
            _part = part;
            _parts = parts;
            _failure = null;
            Volatile.Write(ref _finished, 0);
            _done.Reset();
            Volatile.Write(ref _posted, 1);
            _start.Release();
        }

        /// <summary>Waits until the posted part is done; returns its failure, if any.</summary>
        public ExceptionDispatchInfo? Wait()
        {
            if (!SpinUntil(ref _finished, FinishSpinMicroseconds))
            {
                _done.Wait();
            }

            return _failure;
        }

        private void Loop()
        {
            while (true)
            {
                // Spin for a while so that a post arriving soon is picked up without a wake-up; the
                // semaphore wait below then returns at once (or blocks when the spin ran out).
                SpinUntil(ref _posted, IdleSpinMicroseconds);
                _start.Wait();
                Volatile.Write(ref _posted, 0);
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
                    Volatile.Write(ref _finished, 1);
                    _done.Set();
                }
            }
        }

        /// <summary>
        /// Spins until <paramref name="flag"/> is set or the time is up. <see cref="SpinWait"/> soon starts
        /// yielding the core, so that when more threads are runnable than there are cores (another process
        /// busy on the second core), the thread we wait for is not kept off the CPU by our spinning.
        /// </summary>
        private static bool SpinUntil(ref int flag, int microseconds)
        {
            long deadline = Stopwatch.GetTimestamp() + microseconds * Stopwatch.Frequency / 1_000_000;
            var spinner = default(SpinWait);
            while (Volatile.Read(ref flag) == 0)
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
