using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using Marie.Events.Broker.Storage;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using StackExchange.Redis;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>One gateway at a time holds a durable subscription (its lease in Redis): another gateway's subscribe is
/// refused naming the holder, and takes it as soon as the holder's streams end, or after the lease's TTL when the
/// holder died.</summary>
public sealed class DurableLeaseClusterTests
{
    private const string Topic = "leased-orders";
    private const string Durable = "c-leased";

    /// <summary>The lease TTL of the crash test: short, so the takeover comes quickly.</summary>
    private const int ShortTtlMs = 1_500;

    private static ClientMessage Subscribe(string id, string group = "") => new()
    {
        Subscribe = new SubscribeRequest
        {
            SubscriptionId = id, Topics = { Topic }, DurableName = Durable, Group = group,
        },
    };

    [Fact]
    public async Task Subscribe_HeldOnAnotherGateway_ConflictNamingItThenTakenOnceItsStreamEnds()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = new ClusterKit(redis);
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        using var onA = a.Streams.StreamEvents(GatewayFixture.Auth(kit.Keys.Subscriber));
        await onA.RequestStream.WriteAsync(Subscribe("m1", "workers"));
        await NextAsync(onA.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        using var onB = b.Streams.StreamEvents(GatewayFixture.Auth(kit.Keys.Subscriber));

        await onB.RequestStream.WriteAsync(Subscribe("m2", "workers"));
        var refused = (await ForAsync(onB.ResponseStream, "m2")).Error;

        Assert.Equal(ErrorCode.ErrorDurableConflict, refused.Code);
        Assert.Equal("gw-a", refused.Details["holder"]);
        Assert.Contains("held by another gateway, 'gw-a'", refused.Message, StringComparison.Ordinal);
        Assert.Contains("must all use one gateway", refused.Message, StringComparison.Ordinal);
        // The stream stays up: a plain subscription on it is confirmed.
        await onB.RequestStream.WriteAsync(new ClientMessage
        {
            Subscribe = new SubscribeRequest { SubscriptionId = "plain", Topics = { "elsewhere" } },
        });
        Assert.Equal(MessageOneofCase.SubscriptionConfirm, (await ForAsync(onB.ResponseStream, "plain")).MessageCase);

        for (var i = 0; i < 4; i++)
        {
            await a.Publisher.PublishAsync(new PublishRequest { Event = Event() },
                GatewayFixture.Auth(kit.Keys.Publisher));
        }

        var events = new List<EventEnvelope>();
        while (events.Count < 4)
        {
            events.Add((await NextAsync(onA.ResponseStream, MessageOneofCase.Event)).Event);
        }

        await onA.RequestStream.WriteAsync(new ClientMessage
        {
            Ack = new AckMessage
            {
                SubscriptionId = "m1",
                Individual = new IndividualAck { AckIds = { events[0].AckId, events[2].AckId } },
            },
        });
        // Messages are handled in order: once a later subscribe is confirmed, the ack before it was processed.
        await onA.RequestStream.WriteAsync(new ClientMessage
        {
            Subscribe = new SubscribeRequest { SubscriptionId = "probe", Topics = { "elsewhere" } },
        });
        await ForAsync(onA.ResponseStream, "probe");
        // The client goes away: its stream ends (cancelled).
        onA.Dispose();

        var clock = Stopwatch.StartNew();
        var attempt = 0;
        await Wait.UntilAsync(async () =>
        {
            var id = $"take{++attempt}";
            await onB.RequestStream.WriteAsync(Subscribe(id, "workers"));
            return (await ForAsync(onB.ResponseStream, id)).MessageCase == MessageOneofCase.SubscriptionConfirm;
        }, "gateway B holding the durable");
        // Given back when A's stream ended, not at the end of its 10 s lease.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"taken after {clock.Elapsed}");
        var resumed = new List<EventEnvelope>();
        while (resumed.Count < 2)
        {
            resumed.Add((await NextAsync(onB.ResponseStream, MessageOneofCase.Event)).Event);
        }

        Assert.Equal([2L, 4], resumed.Select(e => e.SequenceNum));
        await b.Publisher.PublishAsync(new PublishRequest { Event = Event() }, GatewayFixture.Auth(kit.Keys.Publisher));
        Assert.Equal(5, (await NextAsync(onB.ResponseStream, MessageOneofCase.Event)).Event.SequenceNum);
    }

    [Fact]
    public async Task Subscribe_HolderKilled_TakenAfterTheLeaseTtlNotBefore()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = new ClusterKit(redis);
        var processBroker = new Dictionary<string, string>(kit.Broker, StringComparer.Ordinal)
        {
            ["durable"] = $"{{ lease_ttl_ms: {ShortTtlMs} }}",
        };
        await using var a = await GatewayProcess.StartAsync(redis, kit.KeyPrefix, kit.Keys, "gw-a", processBroker);
        kit.Broker["durable:lease_ttl_ms"] = ShortTtlMs.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var b = await kit.StartAsync("gw-b");
        using var channel = GrpcChannel.ForAddress(a.Address);
        var streamsOfA = new EventStreamService.EventStreamServiceClient(channel);
        using var onA = streamsOfA.StreamEvents(GatewayFixture.Auth(kit.Keys.Subscriber));
        await onA.RequestStream.WriteAsync(Subscribe("s1"));
        await NextAsync(onA.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        for (var i = 0; i < 3; i++)
        {
            await b.Publisher.PublishAsync(new PublishRequest { Event = Event() },
                GatewayFixture.Auth(kit.Keys.Publisher));
        }

        var events = new List<EventEnvelope>();
        while (events.Count < 3)
        {
            events.Add((await NextAsync(onA.ResponseStream, MessageOneofCase.Event)).Event);
        }

        await onA.RequestStream.WriteAsync(new ClientMessage
        {
            Ack = new AckMessage
            {
                SubscriptionId = "s1", Individual = new IndividualAck { AckIds = { events[1].AckId } },
            },
        });
        await using var store = await ConnectionMultiplexer.ConnectAsync(redis.Connection);
        await Wait.UntilAsync(async () => await StoredPendingAsync(store.GetDatabase(), kit.KeyPrefix) == "1,3",
            "gateway A saving the durable's state");

        await a.KillAsync();
        var clock = Stopwatch.StartNew();
        using var onB = b.Streams.StreamEvents(GatewayFixture.Auth(kit.Keys.Subscriber));
        await onB.RequestStream.WriteAsync(Subscribe("early"));
        var early = (await ForAsync(onB.ResponseStream, "early")).Error;
        Assert.Equal(ErrorCode.ErrorDurableConflict, early.Code);
        Assert.Equal("gw-a", early.Details["holder"]);
        var attempt = 0;
        await Wait.UntilAsync(async () =>
        {
            var id = $"take{++attempt}";
            await onB.RequestStream.WriteAsync(Subscribe(id));
            return (await ForAsync(onB.ResponseStream, id)).MessageCase == MessageOneofCase.SubscriptionConfirm;
        }, "gateway B taking the durable after the lease's TTL");

        // A renewed at most a third of the TTL before it died: its lease ran at least two thirds of it on.
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(ShortTtlMs * 2 / 3 - 100), $"taken at {clock.Elapsed}");
        Assert.True(clock.Elapsed < TimeSpan.FromMilliseconds(ShortTtlMs * 3), $"taken at {clock.Elapsed}");
        var resumed = new List<EventEnvelope>();
        while (resumed.Count < 2)
        {
            resumed.Add((await NextAsync(onB.ResponseStream, MessageOneofCase.Event)).Event);
        }

        Assert.Equal([1L, 3], resumed.Select(e => e.SequenceNum));
        Assert.All(resumed, e => Assert.Equal(2, e.DeliveryAttempt));
    }

    /// <summary>The pending sequences of the one durable stored under <paramref name="prefix"/> ("1,3"), or "".
    /// </summary>
    private static async Task<string> StoredPendingAsync(IDatabase db, string prefix)
    {
        foreach (var key in await db.SetMembersAsync(prefix + "durables"))
        {
            var value = await db.StringGetAsync((string)key!);
            if (!value.IsNull)
            {
                var snapshot = DurableSnapshot.FromBytes((byte[])value!);
                return string.Join(",", snapshot.Topics.SelectMany(t => t.Pending).Select(p => p.Sequence));
            }
        }

        return "";
    }

    private static EventData Event() => new()
    {
        ApiKey = Topic,
        Event = "order.placed",
        Source = "gateway://cluster-tests",
        Status = "OK",
    };

    private static Task<ServerMessage> NextAsync(IAsyncStreamReader<ServerMessage> stream, MessageOneofCase kind) =>
        ReadUntilAsync(stream, m => m.MessageCase == kind);

    /// <summary>The confirm or the error of subscription <paramref name="id"/>.</summary>
    private static Task<ServerMessage> ForAsync(IAsyncStreamReader<ServerMessage> stream, string id) =>
        ReadUntilAsync(stream, m => m.SubscriptionConfirm?.SubscriptionId == id || m.Error?.SubscriptionId == id);

    /// <summary>Reads until a message matches, failing after <see cref="GatewayFixture.Timeout"/>.</summary>
    private static async Task<ServerMessage> ReadUntilAsync(IAsyncStreamReader<ServerMessage> stream,
        Func<ServerMessage, bool> match)
    {
        using var timeout = new CancellationTokenSource(GatewayFixture.Timeout);
        while (await stream.MoveNext(timeout.Token))
        {
            if (match(stream.Current))
            {
                return stream.Current;
            }
        }

        throw new Xunit.Sdk.XunitException("the stream ended before the message came");
    }
}
