using Marie.Events.Broker.Topics;

namespace Marie.Events.Broker.Subscriptions;

/// <summary>
/// One delivered, unacknowledged event of a subscription. Entries are pooled per subscription topic; the
/// <see cref="Generation"/> tells a queued write whether its entry is still the same delivery. Guarded by the
/// subscription's lock, except the generation and queued flag (one word, <see cref="_state"/>): the writer loop, which
/// takes no lock, checks and clears them in one compare-and-swap (<see cref="TryTakeQueued"/>).
/// </summary>
internal sealed class InFlightEntry(SubscriptionTopic position)
{
    /// <summary>(generation &lt;&lt; 1) | queued. Lock holders replace it whole; the writer only
    /// clears the queued bit, and only for the generation its queue item names.</summary>
    private long _state;

    /// <summary>The subscription topic whose pool the entry belongs to (fixed): ack-id prefix and topic.</summary>
    public SubscriptionTopic Position { get; } = position;

    public long Sequence { get; private set; }

    public StoredEvent Event { get; private set; } = null!;

    /// <summary>The delivery's ack id, formatted for logs (the writer writes it as bytes, never as a string).</summary>
    public string AckId => Position.AckIdFor(Sequence);

    /// <summary>Deliveries so far, the first included.</summary>
    public int Attempts { get; set; }

    /// <summary>Timestamp (TimeProvider) of the last send.</summary>
    public long SentAt { get; set; }

    /// <summary>Timestamp of the first send of this round (a replayed dead letter starts a new round).</summary>
    public long FirstSentAt { get; private set; }

    /// <summary>Timestamp from which a redelivery (or, with no attempt left, the dead letter) is due: the ack
    /// timeout or backoff entry after a send, moved by nack and extend.</summary>
    public long DueAt { get; set; }

    /// <summary>Whether the first delivery was read from the ring (replay or catch-up) rather than offered live (the
    /// delivery span's reason).</summary>
    public bool FromRing { get; set; }

    /// <summary>The client's reason of its last nack (kept with a dead letter), or null.</summary>
    public string? Reason { get; set; }

    /// <summary>The dead letter this delivery replays (its id and history carry over), or null.</summary>
    public DeadLetters.DeadLetter? Replayed { get; set; }

    /// <summary>True while a send of it waits in the connection's queue: no redelivery is due then.</summary>
    public bool Queued => (Volatile.Read(ref _state) & 1) != 0;

    /// <summary>Bumped on every reuse from the pool.</summary>
    public long Generation => Volatile.Read(ref _state) >> 1;

    /// <summary>A new delivery, queued. Caller holds the subscription's lock.</summary>
    public void Reset(StoredEvent stored, long sentAt, long dueAt)
    {
        Sequence = stored.Sequence;
        Event = stored;
        Attempts = 1;
        SentAt = sentAt;
        FirstSentAt = sentAt;
        DueAt = dueAt;
        Reason = null;
        Replayed = null;
        FromRing = false;
        Volatile.Write(ref _state, ((Generation + 1) << 1) | 1);
    }

    /// <summary>Holds a copy of the event with bytes of its own once the ring has overwritten it (see
    /// <see cref="StoredEvent.Detach"/>). Caller holds the subscription's lock.</summary>
    public void DetachEvent() => Event = Event.Detach();

    /// <summary>Settled: a queued write of it is skipped. Caller holds the subscription's lock.</summary>
    public void Release()
    {
        Event = null!;
        Reason = null;
        Replayed = null;
        Volatile.Write(ref _state, (Generation + 1) << 1);
    }

    /// <summary>Queued again for a redelivery (it was not queued). Caller holds the subscription's lock.</summary>
    public void MarkQueued() => Interlocked.Or(ref _state, 1);

    /// <summary>The writer, about to write a queue item of generation
    /// <paramref name="generation"/>: true when the entry is still that delivery and queued, and then no longer queued
    /// (a redelivery may follow). False when it was settled, dropped or released while the item waited.</summary>
    public bool TryTakeQueued(long generation)
    {
        var queued = (generation << 1) | 1;
        return Interlocked.CompareExchange(ref _state, generation << 1, queued) == queued;
    }
}
