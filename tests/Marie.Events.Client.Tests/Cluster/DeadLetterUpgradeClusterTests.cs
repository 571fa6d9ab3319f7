using Google.Protobuf;
using Marie.Events.Broker.DeadLetters;
using DeadLetter = Marie.Events.Broker.DeadLetters.DeadLetter;
using DeadLetterRound = Marie.Events.Broker.DeadLetters.DeadLetterRound;
using DeadLetterSubscription = Marie.Events.Broker.DeadLetters.DeadLetterSubscription;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using StackExchange.Redis;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>Dead letters written in the Redis layout before the one view (a set of ids per key and a string per
/// letter) are moved to the current layout at start, logged (8030), and listed.</summary>
public sealed class DeadLetterUpgradeClusterTests
{
    [Fact]
    public async Task StartAsync_DeadLettersInTheEarlierLayout_MovedLoggedAndListed()
    {
        const string key = "test-subscriber";
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = new ClusterKit(redis);
        var baseKey = $"{kit.KeyPrefix}dead:{{{key.Length}/{key}}}";
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var letter = new DeadLetter(
            Guid.NewGuid().ToString("N"), key, "dl-upgrade", 3,
            new EventData { ApiKey = "dl-upgrade", Event = "invoice.received", Id = "ev-1" }.ToByteArray(), now,
            new DeadLetterSubscription("s1", "c1", null, null),
            new DeadLetterRound(DeadLetterReason.Terminated, "older build", 1, now, now, now),
            []);
        using (var connection = await ConnectionMultiplexer.ConnectAsync(kit.Connection))
        {
            var db = connection.GetDatabase();
            await db.StringSetAsync($"{baseKey}:{letter.Id}", letter.ToBytes());
            await db.SetAddAsync(baseKey, letter.Id);
            await db.SetAddAsync($"{kit.KeyPrefix}dead-letter-keys", baseKey);
        }

        await using var gateway = await kit.StartAsync("gw-a");
        var listed = await new DeadLetterService.DeadLetterServiceClient(gateway.Channel).ListDeadLettersAsync(
            new ListDeadLettersRequest(), GatewayFixture.Auth(kit.Keys.Subscriber));
        using var check = await ConnectionMultiplexer.ConnectAsync(kit.Connection);

        var moved = Assert.Single(listed.DeadLetters);
        Assert.Equal(letter.Id, moved.Id);
        Assert.Equal("ev-1", moved.Event.Id);
        Assert.Equal("older build", moved.Reason);
        Assert.Contains(gateway.Logs.Entries, e => e.EventId.Id == 8030);
        Assert.Equal(RedisType.Hash, await check.GetDatabase().KeyTypeAsync($"{baseKey}:letters"));
        Assert.False(await check.GetDatabase().KeyExistsAsync(baseKey));
        Assert.False(await check.GetDatabase().KeyExistsAsync($"{baseKey}:{letter.Id}"));
    }
}
