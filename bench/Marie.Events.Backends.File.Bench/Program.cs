// Usage: dotnet run -c Release --project bench/Marie.Events.Backends.File.Bench -- [folder] [batch]
// 1. Appends: 4 producers over 10 topics, `batch` events per append (default 200), fsync always, 10 s.
// 2. Start-up: 10,000 topics x 200 events written, then a new backend + broker started on the folder.
using System.Diagnostics;
using System.Globalization;
using Marie.Events.Backends.File;
using Marie.Events.Broker;
using Marie.Events.Protocol;

var root = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "marie-file-bench");
var batch = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200;
// MARIE_BENCH_KEEP=1 keeps the folder, and a start-up store already there is loaded again instead of rewritten.
var keep = Environment.GetEnvironmentVariable("MARIE_BENCH_KEEP") == "1";
if (Directory.Exists(root) && !keep)
{
    Directory.Delete(root, recursive: true);
}

static List<EventData> Events(string topic, int count)
{
    var events = new List<EventData>(count);
    for (var i = 0; i < count; i++)
    {
        events.Add(new EventData
        {
            Id = Guid.NewGuid().ToString("N"),
            ApiKey = topic,
            Event = "bench",
            Source = "bench",
            Jobid = "job-1",
            Status = "INFO",
            Timestamp = 1_700_000_000_000,
        });
    }

    return events;
}

async Task<(
    FileEventBackend Backend,
    GrpcEventBroker Broker,
    Marie.Events.Broker.Storage.BackendLoad Load,
    TimeSpan Took)> Start(string folder, int replay)
{
    var backend = new FileEventBackend(new FileBackendOptions
    {
        Path = folder,
        ReplaySize = replay,
        Fsync = Enum.Parse<FsyncMode>(Environment.GetEnvironmentVariable("MARIE_FSYNC") ?? "Always"),
    });
    var broker = new GrpcEventBroker(new BrokerOptions { ReplaySize = replay }, null, null, backend);
    var clock = Stopwatch.StartNew();
    var load = await broker.StartAsync();
    return (backend, broker, load, clock.Elapsed);
}

// 1. Appends.
{
    var (backend, broker, _, _) = await Start(Path.Combine(root, "appends"), 1_000);
    var topics = Enumerable.Range(0, 10).Select(i => $"topic-{i}").ToArray();
    var duration = TimeSpan.FromSeconds(args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 10);
    var clock = Stopwatch.StartNew();
    var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
    long acknowledged = 0;
    await Task.WhenAll(Enumerable.Range(0, 4).Select(p => Task.Run(async () =>
    {
        // Each producer owns its topics' order: producer p appends to topics p, p+4, p+8 in turn, each one at a time.
        var own = topics.Where((_, i) => i % 4 == p).ToArray();
        while (clock.Elapsed < duration)
        {
            await Task.WhenAll(own.Select(async t =>
            {
                await broker.PublishAsync(t, Events(t, batch));
                Interlocked.Add(ref acknowledged, batch);
            }));
        }
    })));
    var seconds = clock.Elapsed.TotalSeconds;
    var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
    Console.WriteLine($"appends: fsync=always producers=4 topics=10 batch={batch}: {acknowledged:N0} events in "
        + $"{seconds:F1} s = {acknowledged / seconds:N0} events/s acknowledged; {backend.Commits:N0} commits "
        + $"({backend.Commits / seconds:N0}/s); writer in transactions {backend.WriteTime.TotalSeconds:F1} s; "
        + $"process CPU {cpu / acknowledged * 1e6:F1} µs per event");
    broker.Dispose();
    await backend.DisposeAsync();
}

// 2. Start-up.
if (args.Length <= 3)
{
    var folder = Path.Combine(root, "startup");
    var written = File.Exists(Path.Combine(folder, "events.db"));
    var (backend, broker, _, _) = await Start(folder, 200);
    var fill = Stopwatch.StartNew();
    await Parallel.ForEachAsync(
        Enumerable.Range(0, written ? 0 : 10_000),
        new ParallelOptions { MaxDegreeOfParallelism = 64 },
        async (i, ct) =>
    {
        var t = $"topic-{i:D5}";
        await broker.PublishAsync(t, Events(t, 200), ct);
    });
    Console.WriteLine($"start-up: wrote 10,000 topics x 200 events in {fill.Elapsed.TotalSeconds:F1} s; db "
        + $"{new FileInfo(backend.DatabaseFile).Length / 1e6:F0} MB");
    broker.Dispose();
    await backend.DisposeAsync();
    var (backend2, broker2, load, took) = await Start(folder, 200);
    var stats = broker2.Stats();
    Console.WriteLine($"start-up: loaded {load.Topics:N0} topics, {load.Events:N0} events in {took.TotalSeconds:F2} s "
        + $"(rings: {stats.TopicStats.Count:N0} topics, "
        + $"{stats.TopicStats.Values.Sum(s => (long)s.Buffered):N0} events)");
    broker2.Dispose();
    await backend2.DisposeAsync();
}

if (!keep)
{
    Directory.Delete(root, recursive: true);
}
