using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>Dead letters on the Redis backend: kept in Redis, so they are listed again after a gateway restart and
/// replay to the durable subscription that failed them.</summary>
public sealed class DeadLetterClusterTests
{
    private const string Topic = "dl-cluster";
    private const string Durable = "dl-cluster-durable";

    private static ClientMessage Subscribe(string id) => new()
    {
        Subscribe = new SubscribeRequest { SubscriptionId = id, Topics = { Topic }, DurableName = Durable },
    };

    [Fact]
    public async Task DeadLetter_RedisGatewayRestarts_ListedWithReasonAttemptsAndEventAndReplayedToTheDurable()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = new ClusterKit(redis);
        // Long: the test settles by terminate, and no ack timeout should interfere.
        kit.Broker["ack_timeout_s"] = "30";
        string eventId;
        await using (var first = await kit.StartAsync("gw-a"))
        {
            using var call = first.Streams.StreamEvents(GatewayFixture.Auth(kit.Keys.Subscriber));
            await call.RequestStream.WriteAsync(Subscribe("s1"));
            await NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);
            eventId = (await first.Publisher.PublishAsync(new PublishRequest { Event = Event() },
                GatewayFixture.Auth(kit.Keys.Publisher))).Id;
            var delivered = (await NextAsync(call.ResponseStream, MessageOneofCase.Event)).Event;
            await call.RequestStream.WriteAsync(new ClientMessage
            {
                Ack = new AckMessage
                {
                    SubscriptionId = "s1",
                    Terminate = new Terminate { AckIds = { delivered.AckId }, Reason = "cannot parse the invoice" },
                },
            });
            // Messages are handled in order: once a later subscribe is confirmed, the terminate was processed.
            await call.RequestStream.WriteAsync(new ClientMessage
            {
                Subscribe = new SubscribeRequest { SubscriptionId = "probe", Topics = { "dl-probe" } },
            });
            await ReadUntilAsync(call.ResponseStream, m => m.SubscriptionConfirm?.SubscriptionId == "probe");
        }

        // The gateway stopped (writing its dead letters' last changes); a new one on the same Redis loads them.
        await using var second = await kit.StartAsync("gw-a");
        var client = new DeadLetterService.DeadLetterServiceClient(second.Channel);
        var auth = GatewayFixture.Auth(kit.Keys.Subscriber);
        var letter = Assert.Single((await client.ListDeadLettersAsync(new ListDeadLettersRequest(), auth)).DeadLetters);

        Assert.Equal("terminated", letter.ReasonCode);
        Assert.Equal("cannot parse the invoice", letter.Reason);
        Assert.Equal(1, letter.Attempts);
        Assert.Equal(eventId, letter.Event.Id);
        Assert.Equal(Durable, letter.Subscription.DurableName);

        using var resumed = second.Streams.StreamEvents(GatewayFixture.Auth(kit.Keys.Subscriber));
        await resumed.RequestStream.WriteAsync(Subscribe("s2"));
        await NextAsync(resumed.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        var replay = await client.ReplayDeadLettersAsync(new ReplayDeadLettersRequest(), auth);
        var again = (await NextAsync(resumed.ResponseStream, MessageOneofCase.Event)).Event;

        Assert.Equal(1, replay.Replayed);
        Assert.Equal(eventId, again.Event.Id);
        Assert.Equal(0, (await client.ListDeadLettersAsync(new ListDeadLettersRequest(), auth)).Total);
    }

    private static EventData Event() => new()
    {
        ApiKey = Topic,
        Event = "invoice.received",
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
}
