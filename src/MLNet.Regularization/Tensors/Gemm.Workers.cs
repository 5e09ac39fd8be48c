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
                        failure ??= s_workers[part - 1].Wait();
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

    private sealed class Worker
    {
        private readonly SemaphoreSlim _start = new(0, 1);
        private readonly ManualResetEventSlim _done = new(false);
        private Job _job;
        private int _part, _parts;
        private ExceptionDispatchInfo? _failure;

        public Worker(int index)
        {
            var thread = new Thread(Loop)
            {
                IsBackground = true,
                Name = $"MLNet.Regularization GEMM worker {index}",
            };
            thread.Start();
        }

        /// <summary>Hands the worker its part; the semaphore release publishes the fields to it.</summary>
        public void Post(in Job job, int part, int parts)
        {
            _job = job;
            _part = part;
            _parts = parts;
            _failure = null;
            _done.Reset();
            _start.Release();
        }

        /// <summary>Blocks until the posted part is done; returns its failure, if any.</summary>
        public ExceptionDispatchInfo? Wait()
        {
            _done.Wait();
            return _failure;
        }

        private void Loop()
        {
            while (true)
            {
                _start.Wait();
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
                    _done.Set();
                }
            }
        }
    }
}
