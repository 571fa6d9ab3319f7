namespace Marie.Events.Broker;

/// <summary>A snapshot of the broker: the fields Marie-AI's <c>stats()</c> reports, plus documented extras.</summary>
public sealed class BrokerStats
{
    public required int Connections { get; init; }
    public required int Subscriptions { get; init; }
    public required int Topics { get; init; }
    public required long InFlightEvents { get; init; }
    public required IReadOnlyDictionary<string, TopicStats> TopicStats { get; init; }

    /// <summary>Events accepted by <see cref="GrpcEventBroker.PublishAsync"/>.</summary>
    public long EventsPublished { get; init; }
    /// <summary>Event deliveries dispatched to streams' write queues, first deliveries and redeliveries.</summary>
    public long EventsDelivered { get; init; }
    /// <summary>Redeliveries after an ack timeout.</summary>
    public long EventsRedelivered { get; init; }
    /// <summary>Events dropped after <c>max_redelivery_attempts</c> deliveries without an ack.</summary>
    public long EventsDropped { get; init; }
    /// <summary>Events a subscription never received because the ring overwrote them first (reported to it).</summary>
    public long EventsLost { get; init; }
    /// <summary>Backpressure signals sent.</summary>
    public long BackpressureSignals { get; init; }
    /// <summary>Events acknowledged.</summary>
    public long EventsAcked { get; init; }
    /// <summary>Answers to client messages (confirms, errors) waiting in the connections' write queues now: at most
    /// <c>max_queued_control_messages</c> per connection (plus one), whatever a client that never reads sends. The
    /// events queued are in-flight events, so <see cref="InFlightEvents"/> bounds them.</summary>
    public long QueuedReplies { get; init; }
}

/// <summary>One topic's figures.</summary>
/// <param name="Head">Last sequence number assigned (0 when none).</param>
/// <param name="Buffered">Events held in the replay ring.</param>
/// <param name="Epoch">The topic log's epoch.</param>
public readonly record struct TopicStats(long Head, int Buffered, string Epoch);
