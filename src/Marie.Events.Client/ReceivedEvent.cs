using Marie.Events.Protocol;

namespace Marie.Events.Client;

/// <summary>An event delivered to a subscription.</summary>
public sealed class ReceivedEvent
{
    private readonly EventSubscription _subscription;

    /// <summary>1 once acknowledged, given back (nack) or terminated: a delivery is settled once.</summary>
    private int _settled;

    internal ReceivedEvent(EventSubscription subscription, EventEnvelope envelope, string topic, int generation,
        long receivedAt)
    {
        _subscription = subscription;
        ReceivedAt = receivedAt;
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

    /// <summary>When the client read it from the stream (its <see cref="TimeProvider"/>'s timestamp).</summary>
    internal long ReceivedAt { get; }

    /// <summary>True once acknowledged, nacked or terminated.</summary>
    internal bool IsSettled => Volatile.Read(ref _settled) != 0;

    /// <summary>Marks the delivery settled; false when it already was.</summary>
    internal bool TrySettle() => Interlocked.Exchange(ref _settled, 1) == 0;

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

    /// <summary>
    /// Gives the event back (the wire's <c>nack</c>): the gateway delivers it again after <paramref name="delay"/>
    /// (zero: at once), as the next attempt, and the client hands it over again. It counts as an attempt: a nack of
    /// the last one (<see cref="SettleLimits.MaxRedeliveryAttempts"/>) dead-letters the event, with
    /// <paramref name="reason"/>. Settles this delivery: the first of <see cref="AckAsync"/>, <c>NackAsync</c> and
    /// <see cref="TerminateAsync"/> counts, and in <see cref="AckMode.Auto"/> the client then does not acknowledge it.
    /// </summary>
    /// <param name="delay">The wait before the redelivery; at most <see cref="SettleLimits.MaxAckExtension"/>.</param>
    /// <param name="reason">Why, kept with the dead letter if it becomes one (at most 1 KiB of UTF-8).</param>
    /// <param name="cancellationToken">Stops waiting for the write (the nack may still be sent).</param>
    /// <returns>True once written to the stream the event came on; false when nothing was sent: the delivery was
    /// settled already, or its stream has ended (the resumed stream then delivers the event again, and it is handed
    /// over again).</returns>
    /// <exception cref="ArgumentOutOfRangeException">A negative delay, or one over the gateway's maximum.</exception>
    /// <exception cref="ArgumentException">A reason over 1 KiB of UTF-8.</exception>
    public ValueTask<bool> NackAsync(TimeSpan delay = default, string? reason = null,
        CancellationToken cancellationToken = default) =>
        _subscription.NackAsync(this, delay, reason, cancellationToken);

    /// <summary>
    /// Dead-letters the event now (the wire's <c>terminate</c>): the gateway keeps it with
    /// <paramref name="reason"/> (see the <c>DeadLetterService</c>) and does not deliver it again; the client counts
    /// it as processed. Settles this delivery (see <see cref="NackAsync"/>).
    /// </summary>
    /// <param name="reason">Why, kept with the dead letter (at most 1 KiB of UTF-8).</param>
    /// <param name="cancellationToken">Stops waiting for the write (the terminate may still be sent).</param>
    /// <returns>True once written to the stream the event came on; false when nothing was sent: the delivery was
    /// settled already, or its stream has ended (the resumed stream then delivers the event again, and it is handed
    /// over again, so it can be terminated then).</returns>
    /// <exception cref="ArgumentException">A reason over 1 KiB of UTF-8.</exception>
    public ValueTask<bool> TerminateAsync(string? reason = null, CancellationToken cancellationToken = default) =>
        _subscription.TerminateAsync(this, reason, cancellationToken);

    /// <summary>
    /// Work in progress (the wire's <c>extend</c>): the gateway restarts the event's ack timer now, for
    /// <paramref name="by"/> (zero: the subscription's usual wait), so it is not redelivered meanwhile. With a
    /// handler and <see cref="SubscriptionOptions.AutoExtend"/> the client does this itself while the handler runs.
    /// Does not settle the event.
    /// </summary>
    /// <param name="by">The new wait from now; at most <see cref="SettleLimits.MaxAckExtension"/>.</param>
    /// <param name="cancellationToken">Stops waiting for the write (the extend may still be sent).</param>
    /// <returns>True once written; false when nothing was sent (the delivery is settled, or its stream has
    /// ended).</returns>
    /// <exception cref="ArgumentOutOfRangeException">A negative wait, or one over the gateway's maximum.</exception>
    public ValueTask<bool> ExtendAsync(TimeSpan by, CancellationToken cancellationToken = default) =>
        _subscription.ExtendAsync(this, by, cancellationToken);

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
