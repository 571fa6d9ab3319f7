using System.Buffers.Binary;
using System.Diagnostics;
using System.Threading.Channels;
using Marie.Events.StorageBench;

// Usage: [--events N] [--seconds S] [--topics T] [--per-topic P] [--only name,name] [--rounds R]
var opts = BenchOptions.Parse(args);
var root = Path.Combine(Path.GetTempPath(), "marie-storagebench-" + Environment.ProcessId);
Directory.CreateDirectory(root);
var results = new List<string>();
try
{
    for (var round = 1; round <= opts.Rounds; round++)
    {
        foreach (var factory in StoreFactories.All.Where(f => opts.Only.Count == 0 || opts.Only.Contains(f.Name)))
        {
            var line = await Runner.RunCandidateAsync(factory, root, opts, round);
            results.Add(line);
        }
    }
}
finally
{
    Directory.Delete(root, recursive: true);
}
Console.WriteLine();
Console.WriteLine("| round | candidate | events/s (fsync) | p50 ms | p99 ms | bytes/event | commits/s | start-up s |");
Console.WriteLine("|---|---|---|---|---|---|---|---|");
foreach (var r in results)
{
    Console.WriteLine(r);
}

namespace Marie.Events.StorageBench
{
    internal sealed record BenchOptions(int Events, double Seconds, int Topics, int PerTopic, HashSet<string> Only, int Rounds)
    {
        public const int PublishTopics = 10;
        public const int Producers = 4;
        public const int InFlight = 256;
        public const int MaxBatch = 1024;
        public const int PayloadSize = 256;
        public const int Retain = 5000;
        public const int RetentionEvery = 1000;

        public static BenchOptions Parse(string[] args)
        {
            var o = new BenchOptions(200_000, 10, 10_000, 200, new HashSet<string>(StringComparer.OrdinalIgnoreCase), 1);
            for (var i = 0; i + 1 < args.Length; i += 2)
            {
                var v = args[i + 1];
                o = args[i] switch
                {
                    "--events" => o with { Events = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                    "--seconds" => o with { Seconds = double.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                    "--topics" => o with { Topics = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                    "--per-topic" => o with { PerTopic = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                    "--rounds" => o with { Rounds = int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                    "--only" => o with { Only = new HashSet<string>(v.Split(','), StringComparer.OrdinalIgnoreCase) },
                    _ => throw new ArgumentException("unknown option " + args[i]),
                };
            }
            return o;
        }
    }

    internal readonly record struct StoredEvent(int Topic, long Seq, byte[] Payload);

    /// <summary>One candidate engine holding events under (topic, seq).</summary>
    internal interface IEventStore : IDisposable
    {
        /// <summary>Writes the batch and the range deletes (seq &lt; bound per topic) in one transaction and makes it durable.</summary>
        void WriteDurable(IReadOnlyList<StoredEvent> batch, IReadOnlyList<(int Topic, long DeleteBelow)> deletes);

        /// <summary>Writes the batch in one transaction without requiring an fsync (used for the untimed start-up prefill).</summary>
        void WriteBulk(IReadOnlyList<StoredEvent> batch);

        /// <summary>Reads every topic's events in sequence order into memory.</summary>
        Dictionary<int, List<byte[]>> LoadAll();
    }

    internal sealed record StoreFactory(string Name, string Version, Func<string, IEventStore> Open);

    internal static class Keys
    {
        public static byte[] Make(int topic, long seq)
        {
            var k = new byte[12];
            BinaryPrimitives.WriteInt32BigEndian(k, topic);
            BinaryPrimitives.WriteInt64BigEndian(k.AsSpan(4), seq);
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
        public static async Task<string> RunCandidateAsync(StoreFactory factory, string root, BenchOptions o, int round)
        {
            Console.WriteLine($"[{factory.Name} {factory.Version}] round {round}");
            var dir = Path.Combine(root, factory.Name + "-pub-" + round);
            Directory.CreateDirectory(dir);
            string pubPart;
            try
            {
                pubPart = await PublishAsync(factory, dir, o);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                pubPart = $"failed: {e.GetType().Name}: {e.Message} | | | | ";
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
                startPart = $"failed: {e.GetType().Name}: {e.Message}";
            }
            finally
            {
                Directory.Delete(sdir, recursive: true);
            }
            return $"| {round} | {factory.Name} {factory.Version} | {pubPart} | {startPart} |";
        }

        private static async Task<string> PublishAsync(StoreFactory factory, string dir, BenchOptions o)
        {
            var channel = Channel.CreateBounded<Pending>(new BoundedChannelOptions(BenchOptions.Producers * BenchOptions.InFlight)
            {
                SingleReader = true,
                FullMode = BoundedChannelFullMode.Wait,
            });
            var latencies = new long[o.Events];
            var acked = 0;
            var commits = 0;
            var sw = Stopwatch.StartNew();
            var deadline = TimeSpan.FromSeconds(o.Seconds);
            var issued = 0;

            using (var store = factory.Open(dir))
            {
                var writer = Task.Run(() =>
                {
                    var seqs = new long[BenchOptions.PublishTopics];
                    var sinceRetention = new int[BenchOptions.PublishTopics];
                    var batch = new List<Pending>(BenchOptions.MaxBatch);
                    var events = new List<StoredEvent>(BenchOptions.MaxBatch);
                    var deletes = new List<(int, long)>();
                    var reader = channel.Reader;
                    while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                    {
                        batch.Clear();
                        events.Clear();
                        deletes.Clear();
                        while (batch.Count < BenchOptions.MaxBatch && reader.TryRead(out var p))
                        {
                            batch.Add(p);
                            var seq = ++seqs[p.Topic];
                            events.Add(new StoredEvent(p.Topic, seq, p.Payload));
                            if (++sinceRetention[p.Topic] >= BenchOptions.RetentionEvery)
                            {
                                sinceRetention[p.Topic] = 0;
                                var below = seq - BenchOptions.Retain + 1;
                                if (below > 1)
                                {
                                    deletes.Add((p.Topic, below));
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
                    }
                });

                var producers = Enumerable.Range(0, BenchOptions.Producers).Select(id => Task.Run(async () =>
                {
                    var rng = new Random(id);
                    var inflight = new Queue<Task>(BenchOptions.InFlight);
                    while (sw.Elapsed < deadline && Interlocked.Increment(ref issued) <= o.Events)
                    {
                        var payload = new byte[BenchOptions.PayloadSize];
                        rng.NextBytes(payload);
                        var p = new Pending(rng.Next(BenchOptions.PublishTopics), payload);
                        await channel.Writer.WriteAsync(p);
                        inflight.Enqueue(p.Done.Task);
                        if (inflight.Count >= BenchOptions.InFlight)
                        {
                            await inflight.Dequeue();
                        }
                    }
                    while (inflight.Count > 0)
                    {
                        await inflight.Dequeue();
                    }
                })).ToArray();
                await Task.WhenAll(producers);
                channel.Writer.Complete();
                await writer;
                sw.Stop();
            }

            var n = Math.Min(acked, latencies.Length);
            Array.Sort(latencies, 0, n);
            double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
            var p50 = Ms(latencies[n / 2]);
            var p99 = Ms(latencies[Math.Min(n - 1, (int)(n * 0.99))]);
            var bytes = DirSize(dir);
            var secs = sw.Elapsed.TotalSeconds;
            Console.WriteLine($"  publish: {acked} events in {secs:F1} s, {commits} commits, dir {bytes / 1e6:F1} MB");
            return $"{acked / secs:F0} | {p50:F1} | {p99:F1} | {(double)bytes / acked:F0} | {commits / secs:F0}";
        }

        private static string StartUp(StoreFactory factory, string dir, BenchOptions o)
        {
            var rng = new Random(42);
            var prefill = Stopwatch.StartNew();
            using (var store = factory.Open(dir))
            {
                var batch = new List<StoredEvent>(20_000);
                // Topic-major order, committed in batches of 100 topics: the same final layout as interleaved publishing
                // for key-ordered engines, and for the log it keeps each topic's records contiguous.
                for (var t = 0; t < o.Topics; t++)
                {
                    for (var s = 1; s <= o.PerTopic; s++)
                    {
                        var payload = new byte[BenchOptions.PayloadSize];
                        rng.NextBytes(payload);
                        batch.Add(new StoredEvent(t, s, payload));
                    }
                    if (batch.Count >= 20_000 || t == o.Topics - 1)
                    {
                        store.WriteBulk(batch);
                        batch.Clear();
                    }
                }
            }
            Console.WriteLine($"  prefill {o.Topics} x {o.PerTopic}: {prefill.Elapsed.TotalSeconds:F1} s, dir {DirSize(dir) / 1e6:F0} MB");
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
            Console.WriteLine($"  start-up: {sw.Elapsed.TotalSeconds:F2} s");
            return $"{sw.Elapsed.TotalSeconds:F2}";
        }

        private static long DirSize(string dir) =>
            new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
    }
}
