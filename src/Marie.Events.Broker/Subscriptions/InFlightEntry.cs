using Marie.Events.Broker.Topics;

namespace Marie.Events.Broker.Subscriptions;

/// <summary>
/// One delivered, unacknowledged event of a subscription. Entries are pooled per subscription topic; the
/// <see cref="Generation"/> tells a queued write whether its entry is still the same delivery. Guarded by the
/// subscription's lock.
/// </summary>
internal sealed class InFlightEntry
{
    public long Sequence { get; private set; }

    public StoredEvent Event { get; private set; } = null!;

    public string AckId { get; private set; } = "";

    /// <summary>Deliveries so far, the first included.</summary>
    public int Attempts { get; set; }

    /// <summary>Timestamp (TimeProvider) of the last send.</summary>
    public long SentAt { get; set; }

    /// <summary>True while a send of it waits in the connection's queue: no redelivery is due then.</summary>
    public bool Queued { get; set; }

    /// <summary>Bumped on every reuse from the pool.</summary>
    public int Generation { get; private set; }

    public void Reset(StoredEvent stored, string ackId, long sentAt)
    {
        Generation++;
        Sequence = stored.Sequence;
        Event = stored;
        AckId = ackId;
        Attempts = 1;
        SentAt = sentAt;
        Queued = true;
    }

    public void Release()
    {
        Generation++;
        Event = null!;
        AckId = "";
        Queued = false;
    }
}
