using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Broker;

/// <summary>The broker: per-topic replay rings, subscriptions, acks, redelivery, filters.</summary>
public sealed partial class GrpcEventBroker : IDisposable
{
    public GrpcEventBroker(BrokerOptions options, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
    {
        Options = options;
        throw new NotImplementedException("stub: being written");
    }

    public BrokerOptions Options { get; }

    /// <summary>Files an event under its topic (<c>event.api_key</c>, required) and dispatches it. The broker takes
    /// ownership of <paramref name="evt"/>: the caller must not change it afterwards. An empty id gets a new one,
    /// a zero timestamp the current time.</summary>
    /// <exception cref="ArgumentException">The event has no topic.</exception>
    public PublishResult Publish(EventData evt) => throw new NotImplementedException();

    /// <summary>Opens a connection (one per <c>StreamEvents</c> stream).</summary>
    public BrokerConnection Connect(string? connectionId = null) => throw new NotImplementedException();

    /// <summary>The unary replay: events with sequence &gt; <c>from_sequence_num</c>, at most <c>max_events</c>
    /// (0: <see cref="BrokerOptions.DefaultReplayMaxEvents"/>).</summary>
    /// <exception cref="ArgumentException">Bad arguments (empty topic, negative numbers).</exception>
    public ReplayResponse GetReplayBuffer(ReplayRequest request) => throw new NotImplementedException();

    public BrokerStats Stats() => throw new NotImplementedException();

    public void Dispose() { }
}

/// <summary>One client stream's state in the broker. Feed it client messages with <see cref="HandleAsync"/>, and
/// write what <see cref="TryRead"/> returns to the stream (one writer). Dispose when the stream ends.</summary>
public sealed partial class BrokerConnection : IDisposable
{
    public string Id { get; } = "";

    /// <summary>Processes one client message. Waits only while the connection has too many control messages
    /// queued for its writer (a client that sends but does not read).</summary>
    public ValueTask HandleAsync(ClientMessage message, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <summary>Waits until a message is ready to write; false once the connection is closed.</summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <summary>Takes the next message to write, if any.</summary>
    public bool TryRead([System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out ServerMessage message) => throw new NotImplementedException();

    public void Dispose() { }
}
