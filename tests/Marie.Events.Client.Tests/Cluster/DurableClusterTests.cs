using System.Diagnostics;
using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>A durable subscription in cluster mode: its state is in Redis, so it resumes on another gateway.</summary>
public sealed class DurableClusterTests
{
    private const string Topic = "durable-orders";

    private static ClientMessage Subscribe(string id) => new()
    {
        Subscribe = new SubscribeRequest { SubscriptionId = id, Topics = { Topic }, DurableName = "c-orders" },
    };

    [Fact]
    public async Task Durable_ResumedOnAnotherGateway_GetsExactlyTheUnacknowledgedNoGap()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = new ClusterKit(redis);
        var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        try
        {
            using var call = a.Streams.StreamEvents(GatewayFixture.Auth(kit.Keys.Subscriber));
            await call.RequestStream.WriteAsync(Subscribe("s1"));
            await NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);
            for (var i = 0; i < 5; i++)
            {
                await a.Publisher.PublishAsync(new PublishRequest { Event = Event() },
                    GatewayFixture.Auth(kit.Keys.Publisher));
            }

            var events = new List<EventEnvelope>();
            while (events.Count < 5)
            {
                events.Add((await NextAsync(call.ResponseStream, MessageOneofCase.Event)).Event);
            }

            Assert.Equal([1L, 2, 3, 4, 5], events.Select(e => e.SequenceNum));
            await call.RequestStream.WriteAsync(new ClientMessage
            {
                Ack = new AckMessage
                {
                    Individual = new IndividualAck { AckIds = { events[0].AckId, events[1].AckId, events[3].AckId } },
                },
            });
            // Messages are handled in order: once a later subscribe is confirmed, the ack before it was processed.
            await call.RequestStream.WriteAsync(new ClientMessage
            {
                Subscribe = new SubscribeRequest { SubscriptionId = "probe", Topics = { Topic } },
            });
            await ReadUntilAsync(call.ResponseStream, m => m.SubscriptionConfirm?.SubscriptionId == "probe");
            await WaitForHeadAsync(b, kit, 5);
        }
        finally
        {
            // Gateway A stops: its streams end, and it saves the durable's final state in Redis.
            await a.DisposeAsync();
        }

        using var onB = b.Streams.StreamEvents(GatewayFixture.Auth(kit.Keys.Subscriber));
        await onB.RequestStream.WriteAsync(Subscribe("s1"));
        await NextAsync(onB.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        var resumed = new List<EventEnvelope>();
        while (resumed.Count < 2)
        {
            resumed.Add((await NextAsync(onB.ResponseStream, MessageOneofCase.Event)).Event);
        }

        Assert.Equal([3L, 5], resumed.Select(e => e.SequenceNum));
        Assert.All(resumed, e => Assert.Equal(2, e.DeliveryAttempt));
        await b.Publisher.PublishAsync(new PublishRequest { Event = Event() },
            GatewayFixture.Auth(kit.Keys.Publisher));
        var live = await NextAsync(onB.ResponseStream, MessageOneofCase.Event);
        Assert.Equal(6, live.Event.SequenceNum);
        Assert.Equal(1, live.Event.DeliveryAttempt);
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

    /// <summary>Waits until gateway <paramref name="gateway"/> holds the topic up to <paramref name="head"/> (the
    /// fan-out reached it).</summary>
    private static async Task WaitForHeadAsync(GatewayFixture gateway, ClusterKit kit, long head)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var replay = await gateway.Streams.GetReplayBufferAsync(new ReplayRequest { Topic = Topic },
                GatewayFixture.Auth(kit.Keys.Subscriber));
            if (replay.TopicHead >= head && replay.Events.Count >= head)
            {
                return;
            }

            Assert.True(clock.Elapsed < GatewayFixture.Timeout, $"gateway never reached head {head}");
        }
    }
}
