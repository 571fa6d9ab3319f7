using Marie.Events.Protocol;

namespace Marie.Events.Client;

/// <summary>An event delivered to a subscription.</summary>
public sealed class ReceivedEvent
{
    private readonly EventSubscription _subscription;

    internal ReceivedEvent(EventSubscription subscription, EventEnvelope envelope, string topic, int generation)
    {
        _subscription = subscription;
        Event = envelope.Event ?? new EventData();
        Topic = topic;
        SequenceNum = envelope.SequenceNum;
        DeliveryAttempt = envelope.DeliveryAttempt;
        PublishedAt = envelope.PublishedAt?.ToDateTimeOffset() ?? default;
        AckId = envelope.AckId;
        TraceContext = Internal.ClientTracing.Of(envelope);
        Generation = generation;
    }

    /// <summary>The event as published.</summary>
    public EventData Event { get; }

    /// <summary>Its topic (the event's <c>api_key</c>).</summary>
    public string Topic { get; }

    /// <summary>Its sequence number in its topic.</summary>
    public long SequenceNum { get; }

    /// <summary>The gateway's delivery attempt of this delivery: 1 first, higher for a redelivery (a replay after a
    /// reconnect starts again at 1).</summary>
    public int DeliveryAttempt { get; }

    /// <summary>When the gateway accepted the event.</summary>
    public DateTimeOffset PublishedAt { get; }

    /// <summary>The subscription it was delivered for.</summary>
    public string SubscriptionId => _subscription.Id;

    /// <summary>The gateway's ack id of this delivery (opaque; bound to the stream it came on).</summary>
    public string AckId { get; }

    /// <summary>The W3C trace context the event was published with (<c>traceparent</c>, and <c>tracestate</c> when
    /// it had one), from the envelope; empty when it had none. The client's <c>process</c> span is parented to
    /// it (docs/client.md, "Traces").</summary>
    public IReadOnlyDictionary<string, string> TraceContext { get; }

    /// <summary>The tracker generation (epoch resets) this event belongs to.</summary>
    internal int Generation { get; }

    /// <summary>
    /// Marks the event processed and queues its acknowledgement; it is sent with the next batch (within
    /// <see cref="EventStreamClientOptions.AckFlushInterval"/>, or at once when
    /// <see cref="EventStreamClientOptions.AckBatchSize"/> acks are waiting;
    /// <see cref="EventSubscription.FlushAcksAsync"/> sends at once). Required in <see cref="AckMode.Manual"/>; in
    /// <see cref="AckMode.Auto"/> it acknowledges early. Acknowledging twice does nothing more. If the stream the event
    /// came on has ended, nothing is sent: the client's resume replays the event and acknowledges the replayed copy
    /// without handing it over again.
    /// </summary>
    /// <param name="cancellationToken">Unused: queuing never waits.</param>
    public ValueTask AckAsync(CancellationToken cancellationToken = default)
    {
        _subscription.Complete(this);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public override string ToString() => $"{Topic}#{SequenceNum} {Event.Event} (attempt {DeliveryAttempt})";
}

/// <summary>Where a subscription stands on a topic: every event up to <see cref="SequenceNum"/> is processed. Keep it
/// to resume later with <see cref="SubscriptionOptions.ResumeFrom"/> and
/// <see cref="SubscriptionOptions.TopicEpochs"/>.</summary>
/// <param name="SequenceNum">The last sequence number processed (with everything before it).</param>
/// <param name="Epoch">The topic log's epoch this number belongs to (null when the gateway has not reported it
/// yet).</param>
public readonly record struct ResumePoint(long SequenceNum, string? Epoch);
