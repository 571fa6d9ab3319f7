using Google.Protobuf.WellKnownTypes;
using Marie.Events.Protocol;

namespace Marie.Events.Client.Tests.Infrastructure;

/// <summary>A client on a <see cref="FakeTransport"/> and a <see cref="TestTimeProvider"/>, with jitter fixed at 0
/// (random = 0.5), and builders of the gateway's messages.</summary>
internal sealed class ClientHarness : IAsyncDisposable
{
    public static readonly Uri AddressA = new("http://gateway-a:51001");
    public static readonly Uri AddressB = new("http://gateway-b:51001");

    public ClientHarness(Action<EventStreamClientOptions>? configure = null)
    {
        Options = new EventStreamClientOptions
        {
            ApiKey = "mas_unit-test-key-not-a-real-one",
            TimeProvider = Time,
            SubscribeTimeout = Timeout.InfiniteTimeSpan,
            AckFlushInterval = TimeSpan.FromMilliseconds(50),
            AckBatchSize = 10,
            HeartbeatInterval = TimeSpan.FromSeconds(5),
            ServerHeartbeatInterval = TimeSpan.FromSeconds(15),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromSeconds(2),
        };
        Options.Addresses.Add(AddressA);
        Options.Addresses.Add(AddressB);
        configure?.Invoke(Options);
        Client = new EventStreamClient(Options, Transport, random: () => 0.5);
    }

    public TestTimeProvider Time { get; } = new();

    public FakeTransport Transport { get; } = new();

    public EventStreamClientOptions Options { get; }

    public EventStreamClient Client { get; }

    /// <summary>Subscribes to <paramref name="topic"/> and confirms it (epoch <paramref name="epoch"/>, head
    /// <paramref name="head"/>); returns the subscription and the stream.</summary>
    public async Task<(EventSubscription Subscription, FakeConnection Connection)> SubscribeAsync(
        string id = "s1",
        string topic = "t",
        string epoch = "epoch-1",
        long head = 0,
        Action<SubscriptionOptions>? configure = null)
    {
        var options = new SubscriptionOptions { SubscriptionId = id, Topics = { topic } };
        configure?.Invoke(options);
        var subscribing = Client.SubscribeAsync(options);
        var connection = await Transport.NextAsync();
        await connection.NextSentAsync(ClientMessage.MessageOneofCase.Subscribe);
        connection.Reply(Confirm(id, topic, epoch, head));
        return (await subscribing.WaitAsync(Wait.Timeout), connection);
    }

    public static ServerMessage Confirm(string id, string topic, string epoch, long head, long replayFrom = 0) => new()
    {
        SubscriptionConfirm = new SubscriptionConfirm
        {
            SubscriptionId = id,
            Topics = { topic },
            CurrentHead = head,
            ReplayFrom = replayFrom,
            TopicEpochs = { [topic] = epoch },
            TopicHeads = { [topic] = head },
            TopicReplayFrom = { [topic] = replayFrom },
        },
    };

    public static ServerMessage Event(
        string subscriptionId,
        string topic,
        long sequence,
        string? ackId = null,
        int attempt = 1) => new()
    {
        Event = new EventEnvelope
        {
            AckId = ackId ?? $"{topic}-{sequence}-ack",
            SubscriptionId = subscriptionId,
            SequenceNum = sequence,
            DeliveryAttempt = attempt,
            PublishedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch),
            Event = new EventData
            {
                ApiKey = topic,
                Id = $"{topic}-{sequence}",
                Event = "extract.completed",
                Source = "unit",
            },
        },
    };

    public static ServerMessage Error(
        ErrorCode code,
        string subscriptionId,
        params (string Key, string Value)[] details)
    {
        var error = new ErrorMessage { Code = code, SubscriptionId = subscriptionId, Message = code.ToString() };
        foreach (var (key, value) in details)
        {
            error.Details[key] = value;
        }

        return new ServerMessage { Error = error };
    }

    public async ValueTask DisposeAsync() => await Client.DisposeAsync();
}
