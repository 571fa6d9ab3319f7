using Marie.Events.Backends.Redis;
using Marie.Events.Broker.Storage;
using Marie.Events.Protocol;
using StackExchange.Redis;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>
/// The retry-safe publish token on a real redis-server (with either <c>io_threads</c>): a retried append is
/// answered from its first result, and a gateway keeps a bounded record of its results per topic (one hash of at
/// most <see cref="Kept"/> fields that expires), not a key per append.
/// </summary>
public sealed class PublishTokenTests
{
    /// <summary>The backend's <c>Kept</c> (internal), as docs/cluster.md gives it.</summary>
    private const int Kept = 1024;

    [Theory]
    [InlineData(RedisBackendOptions.IoThreadsPool)]
    [InlineData(RedisBackendOptions.IoThreadsDedicated)]
    public async Task AppendAsync_SameBatchRetried_AnsweredFromTheFirstResultNotFiledTwice(string ioThreads)
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        await using var backend = await StartAsync(redis, ioThreads);
        IReadOnlyList<EventData> batch = [Event("ev-1"), Event("ev-2")];

        var first = await backend.AppendAsync("tokens", batch, DateTimeOffset.UtcNow, default);
        var retried = await backend.AppendAsync("tokens", batch, DateTimeOffset.UtcNow, default);
        var next = await backend.AppendAsync("tokens", [Event("ev-3")], DateTimeOffset.UtcNow, default);

        Assert.Equal(1, first.FirstSequence);
        Assert.Equal(first, retried);
        Assert.Equal(3, next.FirstSequence);
        var filed = await backend.ReadAsync("tokens", 1, 10, default);
        Assert.Equal(["ev-1", "ev-2", "ev-3"], filed.Select(e => e.Event.Id));
    }

    [Fact]
    public async Task AppendAsync_ManyBatches_OneExpiringHashOfAtMostTheKeptResults()
    {
        var appends = Kept + 100;
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        await using var backend = await StartAsync(redis);

        for (var i = 0; i < appends; i++)
        {
            await backend.AppendAsync("bounded", [Event($"ev-{i}")], DateTimeOffset.UtcNow, default);
        }

        await using var check = await ConnectionMultiplexer.ConnectAsync(redis.Connection);
        var server = check.GetServer(check.GetEndPoints()[0]);
        var results = await server.KeysAsync(pattern: "tok:{bounded}:pub:*").ToListAsync();
        var key = Assert.Single(results);
        var db = check.GetDatabase();
        Assert.Equal(RedisType.Hash, await db.KeyTypeAsync(key));
        Assert.Equal(Kept, await db.HashLengthAsync(key));
        // The oldest results are the ones dropped: the newest append's is there, the first one's is not.
        Assert.True(await db.HashExistsAsync(key, appends));
        Assert.False(await db.HashExistsAsync(key, 1));
        var ttl = await db.KeyTimeToLiveAsync(key);
        Assert.InRange(ttl!.Value, TimeSpan.FromMinutes(59), TimeSpan.FromHours(1));
    }

    private static Task<RedisEventBackend> StartAsync(
        RedisServer redis,
        string ioThreads = RedisBackendOptions.IoThreadsPool) =>
        IgnoringListener.StartBackendAsync(new RedisBackendOptions
        {
            Connection = redis.Connection,
            KeyPrefix = "tok:",
            ReplaySize = 100,
            IoThreads = ioThreads,
        });

    private static EventData Event(string id) => new() { ApiKey = "tokens-test", Event = "job.done", Id = id };
}
