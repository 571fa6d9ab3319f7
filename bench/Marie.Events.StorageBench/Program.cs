using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Marie.Events.StorageBench;

// Usage: [--events N] [--seconds S] [--topics T] [--per-topic P] [--only name,name] [--rounds R]
var opts = StorageBenchOptions.Parse(args);
var root = Path.Combine(Path.GetTempPath(), "marie-storagebench-" + Environment.ProcessId);
Directory.CreateDirectory(root);
Console.WriteLine($"options: events<={opts.Events} seconds<={opts.Seconds} " +
                  $"start-up {opts.Topics} x {opts.PerTopic}, rounds {opts.Rounds}");
Console.WriteLine($"workload: {StorageBenchOptions.Producers} producers, {StorageBenchOptions.PublishTopics} topics, " +
                  $"{StorageBenchOptions.PayloadSize}-byte events, " +
                  $"{StorageBenchOptions.InFlight} in flight per producer, " +
                  $"group commit of up to {StorageBenchOptions.MaxBatch}, " +
                  $"retain {StorageBenchOptions.Retain} per topic");
var results = new List<string>();
try
{
    for (var round = 1; round <= opts.Rounds; round++)
    {
        var chosen = StoreFactories.All.Where(f => opts.Only.Count == 0 || opts.Only.Contains(f.Name)).ToArray();
        // Each round starts one candidate later, so no candidate always runs first (or last) while the load changes.
        var shift = (round - 1) % chosen.Length;
        foreach (var factory in chosen.Skip(shift).Concat(chosen.Take(shift)))
        {
            var line = Runner.RunCandidate(factory, root, opts, round);
            results.Add(line);
            Console.WriteLine(line);
        }
    }
}
finally
{
    Directory.Delete(root, recursive: true);
}
Console.WriteLine();
Console.WriteLine("| round | candidate | events/s acked (fsync) | p50 ms | p99 ms | commits/s | events/commit | " +
                  "bytes/event live | bytes/event after checkpoint | start-up s | start-up dir MB |");
Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|");
foreach (var r in results)
{
    Console.WriteLine(r);
}

namespace Marie.Events.StorageBench
{
    internal sealed record StorageBenchOptions(
        int Events,
        double Seconds,
        int Topics,
        int PerTopic,
        HashSet<string> Only,
        int Rounds)
    {
        /// <summary>Topics the publish run spreads its events over.</summary>
        public const int PublishTopics = 10;

        /// <summary>Concurrent publishers.</summary>
        public const int Producers = 4;

        /// <summary>Un-acknowledged events per producer; with 4 producers at most 1,024 wait for one commit.</summary>
        public const int InFlight = 256;

        /// <summary>Most events one group commit takes: everything 4 x 256 producers can have in flight.</summary>
        public const int MaxBatch = 1024;

        /// <summary>Event payload size in bytes (random, so incompressible).</summary>
        public const int PayloadSize = 256;

        /// <summary>Events kept per topic by retention.</summary>
        public const int Retain = 5000;

        /// <summary>Retention runs for a topic once per this many appends to it.</summary>
        public const int RetentionEvery = 1000;

        /// <summary>Prefill events per bulk transaction in the start-up test.</summary>
        public const int PrefillBatch = 20_000;

        public static StorageBenchOptions Parse(string[] args)
        {
            // Defaults: at most 2,000,000 events or 10 s of publishing, start-up with 10,000 topics x 200 events,
            // one round.
            var o = new StorageBenchOptions(
                2_000_000,
                10,
                10_000,
                200,
                new HashSet<string>(StringComparer.OrdinalIgnoreCase),
                1);
            for (var i = 0; i + 1 < args.Length; i += 2)
            {
                var v = args[i + 1];
                o = args[i] switch
                {
                    "--events" => o with { Events = int.Parse(v, CultureInfo.InvariantCulture) },
                    "--seconds" => o with { Seconds = double.Parse(v, CultureInfo.InvariantCulture) },
                    "--topics" => o with { Topics = int.Parse(v, CultureInfo.InvariantCulture) },
                    "--per-topic" => o with { PerTopic = int.Parse(v, CultureInfo.InvariantCulture) },
                    "--rounds" => o with { Rounds = int.Parse(v, CultureInfo.InvariantCulture) },
                    "--only" => o with { Only = new HashSet<string>(v.Split(','), StringComparer.OrdinalIgnoreCase) },
                    _ => throw new ArgumentException("unknown option " + args[i]),
                };
            }
            return o;
        }
    }

    internal readonly record struct StoredEvent(int Topic, long Seq, byte[] Payload);

    /// <summary>
    /// One candidate engine holding events under (topic, seq). All calls on one instance come from one thread (the
    /// publish run's dedicated writer thread, or the start-up test's thread), as LMDB's write transactions require.
    /// </summary>
    internal interface IEventStore : IDisposable
    {
        /// <summary>
        /// Writes the batch and the range deletes (seq &lt; bound per topic) in one transaction and makes it durable
        /// before returning.
        /// </summary>
        void WriteDurable(IReadOnlyList<StoredEvent> batch, IReadOnlyList<(int Topic, long DeleteBelow)> deletes);

        /// <summary>
        /// Writes the batch in one transaction without requiring an fsync (used for the untimed start-up prefill).
        /// </summary>
        void WriteBulk(IReadOnlyList<StoredEvent> batch);

        /// <summary>
        /// Folds logs into the main files where the engine has such a step (what it is: <see cref="CheckpointKind"/>).
        /// </summary>
        void Checkpoint();

        /// <summary>What <see cref="Checkpoint"/> does, for the report.</summary>
        string CheckpointKind { get; }

        /// <summary>Reads every topic's events in sequence order into memory.</summary>
        Dictionary<int, List<byte[]>> LoadAll();
    }

    internal sealed record StoreFactory(string Name, string Version, Func<string, IEventStore> Open);

    internal static class Keys
    {
        /// <summary>
        /// Key length: big-endian int32 topic then big-endian int64 seq, so byte order is (topic, seq) order.
        /// </summary>
        public const int Length = 12;

        public static byte[] Make(int topic, long seq)
        {
            var k = new byte[Length];
            BinaryPrimitives.WriteInt32BigEndian(k, topic);
            BinaryPrimitives.WriteInt64BigEndian(k.AsSpan(sizeof(int)), seq);
            return k;
        }

        public static int Topic(ReadOnlySpan<byte> key) => BinaryPrimitives.ReadInt32BigEndian(key);
    }

    internal sealed class Pending(int topic, byte[] payload)
    {
        public int Topic { get; } = topic;
        public byte[] Payload { get; } = payload;
        public long EnqueuedAt { get; } = Stopwatch.GetTimestamp();
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    internal static class Runner
    {
        public static string RunCandidate(StoreFactory factory, string root, StorageBenchOptions o, int round)
        {
            Console.WriteLine($"[{factory.Name} {factory.Version}] round {round}, load {Load()}");
            var dir = Path.Combine(root, factory.Name + "-pub-" + round);
            Directory.CreateDirectory(dir);
            string pubPart;
            try
            {
                pubPart = Publish(factory, dir, o);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Console.WriteLine("  publish failed: " + e);
                pubPart = $"failed: {Describe(e)} | | | | | | ";
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }

            var sdir = Path.Combine(root, factory.Name + "-start-" + round);
            Directory.CreateDirectory(sdir);
            string startPart;
            try
            {
                startPart = StartUp(factory, sdir, o);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Console.WriteLine("  start-up failed: " + e);
                startPart = $"failed: {Describe(e)} | ";
            }
            finally
            {
                Directory.Delete(sdir, recursive: true);
            }
            Console.WriteLine($"  load after: {Load()}");
            return $"| {round} | {factory.Name} {factory.Version} | {pubPart} | {startPart} |";
        }

        /// <summary>
        /// The exception's type and first message line (native loader messages run to a dozen lines), pipes escaped
        /// for the table.
        /// </summary>
        private static string Describe(Exception e)
        {
            var inner = e is AggregateException { InnerException: { } i } ? i : e;
            var first = inner.Message.Split('\n')[0].Trim();
            return $"{inner.GetType().Name}: {first}".Replace("|", "/", StringComparison.Ordinal);
        }

        private static string Load()
        {
            try
            {
                return File.ReadAllText("/proc/loadavg").Trim();
            }
            catch (IOException)
            {
                return "n/a";
            }
        }

        private static string Publish(StoreFactory factory, string dir, StorageBenchOptions o)
        {
            var channel = Channel.CreateBounded<Pending>(
                new BoundedChannelOptions(StorageBenchOptions.Producers * StorageBenchOptions.InFlight)
                {
                    SingleReader = true,
                    FullMode = BoundedChannelFullMode.Wait,
                });
            var latencies = new long[o.Events];
            var acked = 0;
            var commits = 0;
            long retained = 0;
            var sw = Stopwatch.StartNew();
            var deadline = TimeSpan.FromSeconds(o.Seconds);
            var issued = 0;
            Exception? writerError = null;
            long liveBytes;
            long checkpointedBytes;
            string checkpointKind;

            using (var store = factory.Open(dir))
            {
                // One dedicated thread owns every write transaction (LMDB requires a write txn to begin and end on one
                // thread; a thread-pool continuation could move between threads).
                var writer = new Thread(() =>
                {
                    var seqs = new long[StorageBenchOptions.PublishTopics];
                    var deletedBelow = new long[StorageBenchOptions.PublishTopics];
                    var sinceRetention = new int[StorageBenchOptions.PublishTopics];
                    var batch = new List<Pending>(StorageBenchOptions.MaxBatch);
                    var events = new List<StoredEvent>(StorageBenchOptions.MaxBatch);
                    var deletes = new List<(int, long)>();
                    var reader = channel.Reader;
                    try
                    {
                        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                        {
                            batch.Clear();
                            events.Clear();
                            deletes.Clear();
                            while (batch.Count < StorageBenchOptions.MaxBatch && reader.TryRead(out var p))
                            {
                                batch.Add(p);
                                var seq = ++seqs[p.Topic];
                                events.Add(new StoredEvent(p.Topic, seq, p.Payload));
                                if (++sinceRetention[p.Topic] >= StorageBenchOptions.RetentionEvery)
                                {
                                    sinceRetention[p.Topic] = 0;
                                    var below = seq - StorageBenchOptions.Retain + 1;
                                    if (below > 1)
                                    {
                                        deletes.Add((p.Topic, below));
                                        deletedBelow[p.Topic] = below;
                                    }
                                }
                            }
                            store.WriteDurable(events, deletes);
                            commits++;
                            var now = Stopwatch.GetTimestamp();
                            foreach (var p in batch)
                            {
                                var i = acked++;
                                if (i < latencies.Length)
                                {
                                    latencies[i] = now - p.EnqueuedAt;
                                }
                                p.Done.SetResult();
                            }
                            batch.Clear();
                        }
                        retained = Enumerable
                            .Range(0, StorageBenchOptions.PublishTopics)
                            .Sum(t => seqs[t] - Math.Max(deletedBelow[t], 1) + 1);
                    }
                    catch (Exception e)
                    {
                        // Fail the batch in hand and everything still queued, and close the channel so producers stop.
                        writerError = e;
                        channel.Writer.TryComplete(e);
                        foreach (var p in batch)
                        {
                            p.Done.TrySetException(e);
                        }
                        while (reader.TryRead(out var p))
                        {
                            p.Done.TrySetException(e);
                        }
                    }
                })
                { IsBackground = true, Name = "storagebench-writer" };
                writer.Start();

                var producers = Enumerable.Range(0, StorageBenchOptions.Producers).Select(id => Task.Run(async () =>
                {
                    var rng = new Random(id);
                    var inflight = new Queue<Task>(StorageBenchOptions.InFlight);
                    while (sw.Elapsed < deadline && Interlocked.Increment(ref issued) <= o.Events)
                    {
                        var payload = new byte[StorageBenchOptions.PayloadSize];
                        rng.NextBytes(payload);
                        var p = new Pending(rng.Next(StorageBenchOptions.PublishTopics), payload);
                        await channel.Writer.WriteAsync(p);
                        inflight.Enqueue(p.Done.Task);
                        if (inflight.Count >= StorageBenchOptions.InFlight)
                        {
                            await inflight.Dequeue();
                        }
                    }
                    while (inflight.Count > 0)
                    {
                        await inflight.Dequeue();
                    }
                })).ToArray();
                try
                {
                    Task.WaitAll(producers);
                }
                catch (AggregateException) when (writerError is not null)
                {
                    // Reported below from the writer's own exception.
                }
                finally
                {
                    channel.Writer.TryComplete();
                    // The store is disposed only after its writer thread has left it.
                    writer.Join();
                }
                sw.Stop();
                if (writerError is not null)
                {
                    throw new InvalidOperationException("writer failed: " + writerError.Message, writerError);
                }
                liveBytes = DirSize(dir);
                store.Checkpoint();
                checkpointKind = store.CheckpointKind;
                checkpointedBytes = DirSize(dir);
            }

            var n = Math.Min(acked, latencies.Length);
            Array.Sort(latencies, 0, n);
            double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
            var p50 = Ms(latencies[n / 2]);
            // p99: the value below which 99 % of the acknowledgements fall.
            var p99 = Ms(latencies[Math.Min(n - 1, (int)(n * 0.99))]);
            var secs = sw.Elapsed.TotalSeconds;
            Console.WriteLine($"  publish: {acked} events in {secs:F1} s, {commits} commits, {retained} retained, " +
                              $"dir {liveBytes / 1e6:F1} MB live, " +
                              $"{checkpointedBytes / 1e6:F1} MB after checkpoint ({checkpointKind}), " +
                              $"p50 {p50:F1} ms p99 {p99:F1} ms");
            return $"{acked / secs:F0} | {p50:F1} | {p99:F1} | {commits / secs:F0} | {(double)acked / commits:F0} | " +
                   $"{(double)liveBytes / retained:F0} | {(double)checkpointedBytes / retained:F0}";
        }

        private static string StartUp(StoreFactory factory, string dir, StorageBenchOptions o)
        {
            var rng = new Random(42);
            var prefill = Stopwatch.StartNew();
            using (var store = factory.Open(dir))
            {
                var batch = new List<StoredEvent>(StorageBenchOptions.PrefillBatch);
                // Topic-major order, committed in batches of 100 topics: the same final layout as interleaved
                // publishing for key-ordered engines, and for the log it keeps each topic's records contiguous.
                for (var t = 0; t < o.Topics; t++)
                {
                    for (var s = 1; s <= o.PerTopic; s++)
                    {
                        var payload = new byte[StorageBenchOptions.PayloadSize];
                        rng.NextBytes(payload);
                        batch.Add(new StoredEvent(t, s, payload));
                    }
                    if (batch.Count >= StorageBenchOptions.PrefillBatch || t == o.Topics - 1)
                    {
                        store.WriteBulk(batch);
                        batch.Clear();
                    }
                }
            }
            var dirBytes = DirSize(dir);
            Console.WriteLine($"  prefill {o.Topics} x {o.PerTopic}: {prefill.Elapsed.TotalSeconds:F1} s, " +
                              $"dir {dirBytes / 1e6:F0} MB");
            GC.Collect();
            var sw = Stopwatch.StartNew();
            Dictionary<int, List<byte[]>> loaded;
            using (var store = factory.Open(dir))
            {
                loaded = store.LoadAll();
            }
            sw.Stop();
            var count = loaded.Values.Sum(l => l.Count);
            if (loaded.Count != o.Topics || count != o.Topics * o.PerTopic)
            {
                throw new InvalidOperationException($"loaded {loaded.Count} topics / {count} events");
            }
            Console.WriteLine($"  start-up (open + read all): {sw.Elapsed.TotalSeconds:F2} s");
            return $"{sw.Elapsed.TotalSeconds:F2} | {dirBytes / 1e6:F0}";
        }

        private static long DirSize(string dir) =>
            new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
    }
}
