using Google.Protobuf.WellKnownTypes;
using Marie.Events.Broker;
using Marie.Events.Broker.Connections;
using Marie.Events.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Marie.Events.Benchmarks;

/// <summary>
/// A broker on fake time (its heartbeat and redelivery timers fire only when a benchmark advances the clock), and the
/// writer's side of a connection: frames read and written into a reusable buffer, as the gateway's writer loop does.
/// </summary>
public sealed class BenchBroker
{
    /// <summary>Big enough for any frame of these benchmarks (events of about 256 bytes).</summary>
    private const int FrameBufferSize = 4096;

    private readonly OutboundFrame _frame = new();
    private readonly byte[] _buffer = new byte[FrameBufferSize];

    /// <summary>The one-event batch every publish reuses, so a benchmark measures the broker, not an array.</summary>
    private readonly EventData[] _one = new EventData[1];

    public BenchBroker(Action<BrokerOptions>? configure = null)
    {
        var options = new BrokerOptions { MaxInFlight = 1000, ReplaySize = 4096 };
        configure?.Invoke(options);
        Time = new FakeTimeProvider(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
        Broker = new GrpcEventBroker(options, Time);
    }

    public FakeTimeProvider Time { get; }

    public GrpcEventBroker Broker { get; }

    /// <summary>An event of about 256 bytes serialized. Published as is, again and again: the broker changes an event
    /// only when its id or timestamp is empty, and these are set.</summary>
    public static EventData Event(string topic, string jobId = "job-1", string source = "job://extract.pdf")
    {
        var payload = new Struct();
        payload.Fields["pages"] = Value.ForNumber(12);
        payload.Fields["data"] = Value.ForString(new string('x', 96));
        return new EventData
        {
            Id = "0123456789abcdef0123456789abcdef",
            Source = source,
            ApiKey = topic,
            Jobid = jobId,
            Event = "extract.completed",
            Jobtag = "638000000000000000",
            Status = "OK",
            Timestamp = 1_700_000_000,
            Payload = payload,
        };
    }

    public BrokerConnection Subscribe(
        string subscriptionId,
        string topic,
        FilterConfig? filter = null,
        BrokerConnection? connection = null,
        string? durableName = null)
    {
        // A durable subscription belongs to a key: its connection is one of key "bench".
        connection ??= durableName is null
            ? Broker.Connect()
            : Broker.Connect(null, Marie.Events.Broker.Access.ConnectionAccess.All, "bench");
        var request = new SubscribeRequest { SubscriptionId = subscriptionId, DurableName = durableName ?? "" };
        request.Topics.Add(topic);
        if (filter is not null)
        {
            request.Filter = filter;
        }

        var pending = connection.HandleAsync(new ClientMessage { Subscribe = request });
        if (!pending.IsCompletedSuccessfully)
        {
            pending.AsTask().GetAwaiter().GetResult();
        }

        Drain(connection);
        return connection;
    }

    /// <summary>Writes everything ready on the connection, as the writer loop does; returns the frames
    /// written.</summary>
    public int Drain(BrokerConnection connection)
    {
        var frames = 0;
        while (connection.TryReadFrame(_frame))
        {
            _frame.WriteTo(_buffer);
            frames++;
        }

        return frames;
    }

    public static void Handle(BrokerConnection connection, ClientMessage message)
    {
        var pending = connection.HandleAsync(message);
        if (!pending.IsCompletedSuccessfully)
        {
            pending.AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>A cumulative ack message, reused: set <c>Ack.Cumulative.UpToSequenceNum</c> before each use.</summary>
    public static ClientMessage CumulativeAck(string subscriptionId, string topic) => new()
    {
        Ack = new AckMessage { SubscriptionId = subscriptionId, Cumulative = new CumulativeAck { Topic = topic } },
    };

    /// <summary>Publishes one event on the memory backend (whose appends complete before they return); returns its
    /// sequence number.</summary>
    public long Publish(EventData evt)
    {
        _one[0] = evt;
        var append = Broker.PublishAsync(evt.ApiKey, _one);
        if (!append.IsCompleted)
        {
            throw new InvalidOperationException("an append to the memory backend completes before it returns");
        }

        return append.Result.FirstSequence;
    }
}
