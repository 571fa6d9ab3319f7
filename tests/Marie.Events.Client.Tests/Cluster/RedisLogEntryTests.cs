using Google.Protobuf;
using Marie.Events.Backends.Redis;
using Marie.Events.Broker.Storage;
using Marie.Events.Protocol;
using StackExchange.Redis;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>
/// The shared log's entries on a real redis-server: a batch is filed in entries of up to
/// <see cref="PerEntry"/> events, read back event by event in order from any number, trimmed to the entries that
/// hold the replay window, and an entry in the layout before chunks (one event, fields <c>d</c> and <c>t</c>) is
/// still read.
/// </summary>
public sealed class RedisLogEntryTests
{
    /// <summary>The log's <c>EventsPerEntry</c> (internal), as docs/cluster.md gives it.</summary>
    private const int PerEntry = 64;

    [Fact]
    public async Task AppendAsync_BatchLargerThanAnEntry_FiledInChunksReadBackInOrder()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        await using var backend = await StartAsync(redis, replaySize: 1000);
        var published = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123);

        await backend.AppendAsync("chunks", Events(0, 5), published, default);
        var big = await backend.AppendAsync("chunks", Events(5, 150), published, default);

        Assert.Equal(6, big.FirstSequence);
        await using var check = await ConnectionMultiplexer.ConnectAsync(redis.Connection);
        // 5 events in one entry, then 150 in entries of 64, 64 and 22.
        var entries = await check.GetDatabase().StreamRangeAsync("chunk:{chunks}:log");
        Assert.Equal(["1-0", "6-0", "70-0", "134-0"], entries.Select(e => (string)e.Id!));
        var all = await backend.ReadAsync("chunks", 1, 155, default);
        Assert.Equal(Enumerable.Range(1, 155).Select(i => (long)i), all.Select(e => e.Sequence));
        Assert.Equal(Enumerable.Range(0, 155).Select(Id), all.Select(e => e.Event.Id));
        Assert.All(all, e => Assert.Equal(published, e.PublishedAt));
        // A range that starts and ends inside entries holds exactly its numbers.
        var middle = await backend.ReadAsync("chunks", 60, 140, default);
        Assert.Equal(Enumerable.Range(60, 81).Select(i => (long)i), middle.Select(e => e.Sequence));
        Assert.Equal(Id(59), middle[0].Event.Id);
    }

    [Fact]
    public async Task AppendAsync_ManyAppends_TrimmedButTheReplayWindowKept()
    {
        const int replaySize = 100;
        const int appends = 600;
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        await using var backend = await StartAsync(redis, replaySize);

        for (var i = 0; i < appends; i++)
        {
            await backend.AppendAsync("trim", Events(i, 1), DateTimeOffset.UtcNow, default);
        }

        var described = (await backend.DescribeAsync(["trim"], default))["trim"];
        Assert.Equal(appends, described.Head);
        // Trimming removes whole nodes of the stream (100 entries by default), so it keeps more than the window,
        // but it does trim and never into the window.
        Assert.InRange(described.FirstAvailable, 2, appends - replaySize + 1);
        var window = await backend.ReadAsync("trim", appends - replaySize + 1, appends, default);
        Assert.Equal(replaySize, window.Count);
        Assert.Equal(Id(appends - 1), window[^1].Event.Id);
        await using var check = await ConnectionMultiplexer.ConnectAsync(redis.Connection);
        var entries = await check.GetDatabase().StreamRangeAsync("chunk:{trim}:log", count: 1);
        Assert.Equal(described.FirstAvailable + "-0", (string)entries.Single().Id!);
    }

    [Fact]
    public async Task ReadAsync_EntriesInTheLayoutBeforeChunks_StillRead()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        await using (var old = await ConnectionMultiplexer.ConnectAsync(redis.Connection))
        {
            // What a gateway filed before chunks: one entry per event, its bytes in `d`.
            var db = old.GetDatabase();
            await db.StringSetAsync("chunk:{upgrade}:epoch", "00000000000000aa");
            await db.StringSetAsync("chunk:{upgrade}:seq", 2);
            for (var i = 0; i < 2; i++)
            {
                await db.StreamAddAsync(
                    "chunk:{upgrade}:log",
                    [new NameValueEntry("d", Event(i).ToByteArray()), new NameValueEntry("t", 1_700_000_000_000)],
                    $"{i + 1}-0");
            }
        }

        await using var backend = await StartAsync(redis, replaySize: 100);
        var next = await backend.AppendAsync("upgrade", Events(2, 3), DateTimeOffset.UtcNow, default);

        Assert.Equal(new AppendResult("00000000000000aa", 3), next);
        var all = await backend.ReadAsync("upgrade", 1, 5, default);
        Assert.Equal([1L, 2, 3, 4, 5], all.Select(e => e.Sequence));
        Assert.Equal(Enumerable.Range(0, 5).Select(Id), all.Select(e => e.Event.Id));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000), all[0].PublishedAt);
        Assert.Equal(1, (await backend.DescribeAsync(["upgrade"], default))["upgrade"].FirstAvailable);
    }

    private static Task<RedisEventBackend> StartAsync(RedisServer redis, int replaySize) =>
        IgnoringListener.StartBackendAsync(
            new RedisBackendOptions { Connection = redis.Connection, KeyPrefix = "chunk:", ReplaySize = replaySize });

    private static string Id(int i) => $"ev-{i}";

    private static EventData Event(int i) =>
        new() { ApiKey = "chunk-test", Event = "job.done", Id = Id(i), Jobid = new string('x', i % 7) };

    private static EventData[] Events(int from, int count) =>
        [.. Enumerable.Range(from, count).Select(Event)];
}
