using System.Diagnostics;
using System.Text.Json;
using Grpc.Core;
using Marie.Events.FunctionalTests.DeadLetters;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>One view of the dead letters across the gateways of a cluster: every gateway lists, replays and purges
/// what Redis holds, a letter is replayed once however many gateways replay it, and retention is per key.</summary>
public sealed class DeadLetterViewClusterTests
{
    private const string Durable = "dl-view-durable";

    private static ClusterKit NewKit(RedisServer redis)
    {
        var kit = new ClusterKit(redis);
        // Long: the tests settle by terminate, and no ack timeout should interfere.
        kit.Broker["ack_timeout_s"] = "30";
        return kit;
    }

    [Fact]
    public async Task ListDeadLetters_FiledOnAAfterBStarted_ListedAndCountedByB()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = NewKit(redis);
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        using var stream = SettleStream.Open(a, kit.Keys.Subscriber);
        await stream.SubscribeAsync("w", "dl-view-list");

        var eventId = await FileAsync(a, kit, stream, "w", "dl-view-list");
        await WaitForTotalAsync(b, kit, 1);
        var onB = Assert.Single((await Client(b).ListDeadLettersAsync(new ListDeadLettersRequest(),
            Auth(kit))).DeadLetters);
        var got = await Client(b).GetDeadLetterAsync(new GetDeadLetterRequest { Id = onB.Id }, Auth(kit));
        using var stats = await b.GetStatsAsync(kit.Keys.Admin);
        using var json = JsonDocument.Parse(await stats.Content.ReadAsStringAsync());

        Assert.Equal(eventId, onB.Event.Id);
        Assert.Equal("terminated", onB.ReasonCode);
        Assert.Equal(eventId, got.Event.Id);
        Assert.Equal(1, json.RootElement.GetProperty("dead_letters").GetProperty("depth").GetInt64());
    }

    [Fact]
    public async Task ReplayDeadLetters_ReplayedOnAThenOnB_DeliveredOnceAndBFindsNone()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = NewKit(redis);
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        using var stream = SettleStream.Open(a, kit.Keys.Subscriber);
        await stream.SubscribeAsync("w", "dl-view-replay");
        var eventId = await FileAsync(a, kit, stream, "w", "dl-view-replay");
        await WaitForTotalAsync(b, kit, 1);
        var id = (await Client(b).ListDeadLettersAsync(new ListDeadLettersRequest(), Auth(kit))).DeadLetters[0].Id;
        var byId = new DeadLetterFilter { Ids = { id } };

        var onA = await Client(a).ReplayDeadLettersAsync(new ReplayDeadLettersRequest { Filter = byId }, Auth(kit));
        var again = await stream.NextEventAsync("w");
        var onB = await Client(b).ReplayDeadLettersAsync(new ReplayDeadLettersRequest { Filter = byId }, Auth(kit));
        var get = await Assert.ThrowsAsync<RpcException>(() => Client(b).GetDeadLetterAsync(
            new GetDeadLetterRequest { Id = id }, Auth(kit)).ResponseAsync);

        Assert.Equal(1, onA.Replayed);
        Assert.Equal(eventId, again.Event.Id);
        Assert.Equal(0, onB.Matched);
        Assert.Equal(0, onB.Replayed);
        Assert.Empty(onB.Failures);
        Assert.Equal(StatusCode.NotFound, get.StatusCode);
    }

    [Fact]
    public async Task ReplayDeadLetters_OnAAndBAtOnce_EachLetterDeliveredExactlyOnceInAll()
    {
        const int events = 10;
        const string topic = "dl-view-race";
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = NewKit(redis);
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        // The durable is held on A (its lease allows one gateway); both gateways are asked at once to replay all
        // of its letters: each letter reaches the durable once, whichever gateway claims it.
        using var onA = SettleStream.Open(a, kit.Keys.Subscriber);
        await onA.SubscribeAsync("m", topic, r => r.DurableName = Durable);
        for (var i = 0; i < events; i++)
        {
            await a.Publisher.PublishAsync(new PublishRequest { Event = Event(topic) }, Publisher(kit));
        }

        for (var i = 0; i < events; i++)
        {
            await onA.TerminateAsync("m", (await onA.NextEventAsync("m")).AckId, "race");
        }

        await onA.BarrierAsync();
        await WaitForTotalAsync(a, kit, events);
        await WaitForTotalAsync(b, kit, events);
        var dryA = await Client(a).ReplayDeadLettersAsync(new ReplayDeadLettersRequest { DryRun = true }, Auth(kit));
        var dryB = await Client(b).ReplayDeadLettersAsync(new ReplayDeadLettersRequest { DryRun = true }, Auth(kit));

        var replays = await Task.WhenAll(
            Client(a).ReplayDeadLettersAsync(new ReplayDeadLettersRequest(), Auth(kit)).ResponseAsync,
            Client(b).ReplayDeadLettersAsync(new ReplayDeadLettersRequest(), Auth(kit)).ResponseAsync);
        var delivered = new List<string>();
        for (var i = 0; i < replays[0].Replayed + replays[1].Replayed; i++)
        {
            delivered.Add((await onA.NextEventAsync("m")).Event.Id);
        }

        var left = await Client(b).ListDeadLettersAsync(new ListDeadLettersRequest(), Auth(kit));

        Assert.Equal(events, dryA.Matched);
        Assert.Equal(events, dryB.Matched);
        Assert.Equal(events, replays[0].Replayed + replays[1].Replayed);
        Assert.Equal(events, delivered.Distinct().Count());
        Assert.Equal(events, delivered.Count);
        Assert.Equal(0, left.Total);
    }

    [Fact]
    public async Task PurgeDeadLetters_OnB_RemovedFromAsListing()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = NewKit(redis);
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        using var stream = SettleStream.Open(a, kit.Keys.Subscriber);
        await stream.SubscribeAsync("w", "dl-view-purge");
        await FileAsync(a, kit, stream, "w", "dl-view-purge");
        await WaitForTotalAsync(b, kit, 1);

        var dry = await Client(b).PurgeDeadLettersAsync(new PurgeDeadLettersRequest { DryRun = true }, Auth(kit));
        var purge = await Client(b).PurgeDeadLettersAsync(new PurgeDeadLettersRequest(), Auth(kit));
        var listedOnA = await Client(a).ListDeadLettersAsync(new ListDeadLettersRequest(), Auth(kit));
        var replayOnA = await Client(a).ReplayDeadLettersAsync(new ReplayDeadLettersRequest(), Auth(kit));

        Assert.Equal(1, dry.Purged);
        Assert.Equal(1, purge.Purged);
        Assert.Equal(0, listedOnA.Total);
        Assert.Equal(0, replayOnA.Matched);
    }

    [Fact]
    public async Task FileDeadLetter_MaxCountOverTwoGateways_KeyKeepsItsNewestMaxCount()
    {
        const string topic = "dl-view-retention";
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = NewKit(redis);
        kit.Broker["dead_letters:max_count"] = "3";
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        using var onA = SettleStream.Open(a, kit.Keys.Subscriber);
        using var onB = SettleStream.Open(b, kit.Keys.Subscriber);
        await onA.SubscribeAsync("wa", topic);
        await onB.SubscribeAsync("wb", topic);

        // Each filing is in Redis (the gateway's own list waits for it) before the next: their order is known.
        var filed = new List<string>();
        foreach (var (gateway, stream, sub) in new[] { (a, onA, "wa"), (a, onA, "wa"), (b, onB, "wb"), (b, onB, "wb") })
        {
            var other = stream == onA ? onB : onA;
            var id = await FileAsync(gateway, kit, stream, sub, topic);
            // The other gateway's subscription gets the event too: acknowledged, so it files nothing.
            await other.AckAsync(other == onA ? "wa" : "wb", (await other.NextEventAsync()).AckId);
            await other.BarrierAsync();
            await Client(gateway).ListDeadLettersAsync(new ListDeadLettersRequest(), Auth(kit));
            filed.Add(id);
        }

        var listedOnA = await Client(a).ListDeadLettersAsync(new ListDeadLettersRequest(), Auth(kit));
        var listedOnB = await Client(b).ListDeadLettersAsync(new ListDeadLettersRequest(), Auth(kit));

        Assert.Equal(filed[1..], listedOnA.DeadLetters.Select(l => l.Event.Id));
        Assert.Equal(3, listedOnB.Total);
    }

    /// <summary>Publishes one event through <paramref name="gateway"/>, terminates it on
    /// <paramref name="stream"/> and returns its id once the gateway has handled the terminate.</summary>
    private static async Task<string> FileAsync(GatewayFixture gateway, ClusterKit kit, SettleStream stream,
        string subscription, string topic)
    {
        var id = (await gateway.Publisher.PublishAsync(new PublishRequest { Event = Event(topic) }, Publisher(kit)))
            .Id;
        var delivered = await stream.NextEventAsync(subscription);
        await stream.TerminateAsync(subscription, delivered.AckId, "cannot parse the invoice");
        await stream.BarrierAsync();
        return id;
    }

    /// <summary>Lists on <paramref name="gateway"/> until it shows <paramref name="total"/> dead letters (another
    /// gateway's filings reach Redis a moment after they were made), failing after the timeout.</summary>
    private static async Task WaitForTotalAsync(GatewayFixture gateway, ClusterKit kit, int total)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var listed = await Client(gateway).ListDeadLettersAsync(new ListDeadLettersRequest(), Auth(kit));
            if (listed.Total == total)
            {
                return;
            }

            Assert.True(clock.Elapsed < GatewayFixture.Timeout, $"listed {listed.Total} dead letters, not {total}");
        }
    }

    private static DeadLetterService.DeadLetterServiceClient Client(GatewayFixture gateway) => new(gateway.Channel);

    private static CallOptions Auth(ClusterKit kit) => GatewayFixture.Auth(kit.Keys.Subscriber);

    private static CallOptions Publisher(ClusterKit kit) => GatewayFixture.Auth(kit.Keys.Publisher);

    private static EventData Event(string topic) => new()
    {
        ApiKey = topic,
        Event = "invoice.received",
        Source = "gateway://cluster-tests",
        Status = "OK",
    };
}
