using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Marie.Events.Client.Internal;

/// <summary>Where a delivered event stands with the consumer.</summary>
internal enum PendingState
{
    /// <summary>In the subscription's buffer, not yet handed to the consumer.</summary>
    Buffered,

    /// <summary>Handed to the consumer, not yet processed.</summary>
    HandedOut,

    /// <summary>The consumer failed on it (or left it): its redelivery is handed over again.</summary>
    Abandoned,
}

/// <summary>What to do with a delivery.</summary>
internal enum DeliveryKind
{
    /// <summary>First sight: hand it to the consumer.</summary>
    New,

    /// <summary>Seen before and processed or being processed: drop it (and send <see cref="DeliveryDecision.Ack"/> if
    /// any).</summary>
    Duplicate,

    /// <summary>Seen before, but the consumer gave it up (or, in manual mode, never acked it): hand it over
    /// again.</summary>
    Again,
}

/// <summary>An acknowledgement to send on stream <see cref="SessionId"/>: cumulative up to
/// <see cref="CumulativeUpTo"/> when it is positive, else the individual <see cref="AckId"/>.</summary>
internal readonly record struct AckAction(
    long SessionId,
    string Topic,
    long Sequence,
    long CumulativeUpTo,
    string? AckId)
{
    public static AckAction None => default;

    public bool IsNone => SessionId == 0;

    public bool IsCumulative => CumulativeUpTo > 0;
}

/// <summary>The outcome of a delivery.</summary>
internal readonly record struct DeliveryDecision(DeliveryKind Kind, AckAction Ack);

/// <summary>The outcome of the consumer finishing with an event.</summary>
internal readonly record struct ProcessedOutcome(bool Known, AckAction Ack, bool GaveUp, int Attempts);

/// <summary>
/// One subscription's state for one topic: the resume point (every delivered event with a sequence up to
/// <see cref="Watermark"/> is processed, or was not meant for the subscription), the events delivered and not yet
/// processed, and those processed above the watermark. De-duplicates by sequence number across streams, and decides
/// whether an ack can be cumulative. Not thread-safe: the owning subscription's lock guards it.
/// </summary>
internal sealed class TopicTracker
{
    /// <summary>Durable only: the most recently processed events remembered per topic (oldest forgotten first).
    /// An ack lost to a broken stream comes back as a redelivery within the reconnect (a second or so): 16,384 covers
    /// that at over 10,000 events a second a topic, for at most about half a megabyte a busy topic.</summary>
    private const int MaxRecentlyProcessed = 16_384;

    /// <summary>Delivered events not processed yet, by sequence number.</summary>
    private readonly Dictionary<long, PendingDelivery> _pending = [];

    /// <summary>The sequence numbers put in <see cref="_pending"/>, lowest first; one that left it is removed lazily
    /// when it reaches the top. Gives the lowest pending number for the watermark without a sorted tree (a node per
    /// event, and an enumerator's stack per look at the first key).</summary>
    private readonly PriorityQueue<long, long> _order = new();

    private readonly HashSet<long> _processedAbove = [];

    /// <summary>Made once: a predicate per watermark move would be an allocation per processed event.</summary>
    private readonly Predicate<long> _atOrBelowWatermark;

    /// <summary>A durable subscription's: the gateway's durable decides what is delivered (see
    /// <see cref="TopicTracker(string, bool)"/>).</summary>
    private readonly bool _durable;

    /// <summary>Durable only: events the consumer processed (acked, or done with in auto mode), oldest first in
    /// <see cref="_recentOrder"/>. The durable sends such an event again only when its ack did not reach it (a
    /// stream that broke, a gateway that lost its last acks): that copy is acked, not handed over again.</summary>
    private readonly HashSet<long> _recentlyProcessed = [];

    private readonly Queue<long> _recentOrder = new();

    /// <summary>
    /// A tracker of <paramref name="topic"/>. For a durable subscription (<paramref name="durable"/>) the gateway
    /// delivers only what its durable has not seen settled: a member of a group gets events with holes between them
    /// and, handed over from another member or replayed from the dead letters, events older than the ones it
    /// processed. So a delivery is dropped only when it is still waiting for the consumer (or was processed with its
    /// ack lost: <see cref="RememberProcessed"/>), never for being at or below the watermark, and every ack is
    /// individual (a cumulative ack could settle an older event handed over and not yet processed).
    /// </summary>
    public TopicTracker(string topic, bool durable = false)
    {
        Topic = topic;
        _durable = durable;
        _atOrBelowWatermark = sequence => sequence <= Watermark;
    }

    public string Topic { get; }

    /// <summary>The topic log's epoch as last reported (null: not known yet).</summary>
    public string? Epoch { get; private set; }

    /// <summary>Every delivered event with a sequence number up to this one is processed: the resume point.</summary>
    public long Watermark { get; private set; }

    /// <summary>Highest sequence number delivered in this epoch.</summary>
    public long HighestDelivered { get; private set; }

    /// <summary>Incremented by each epoch reset: events of an older generation leave this state untouched.</summary>
    public int Generation { get; private set; }

    /// <summary>True once the tracker has a starting point (a confirm or a delivery).</summary>
    public bool Started { get; private set; }

    /// <summary>Delivered events not processed yet.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>Processed events above the watermark (out-of-order processing).</summary>
    public int ProcessedAboveCount => _processedAbove.Count;

    /// <summary>The epoch for which the last reset was made (so that the confirm and the error of one epoch change
    /// reset once).</summary>
    private string? _resetForEpoch;

    /// <summary>
    /// A <c>SubscriptionConfirm</c> for this topic. The first one sets the starting point (just before the first
    /// replayed event, or the head when nothing is replayed). A later one with another epoch than the one recorded
    /// means the log was reset: the state is reset. Returns true when it reset.
    /// </summary>
    public bool ApplyConfirm(string epoch, long replayFrom, long head)
    {
        if (!Started)
        {
            Started = true;
            Epoch = epoch.Length > 0 ? epoch : null;
            Watermark = replayFrom > 0 ? replayFrom - 1 : head;
            HighestDelivered = Watermark;
            return false;
        }

        if (epoch.Length == 0 || string.Equals(epoch, Epoch, StringComparison.Ordinal))
        {
            return false;
        }

        if (Epoch is null)
        {
            // Known from deliveries only: nothing to compare with. A reset log is reported by ERROR_EPOCH_CHANGED
            // (the resume point is then past the new head).
            Epoch = epoch;
            return false;
        }

        Reset(epoch, replayFrom > 0 ? replayFrom - 1 : head);
        return true;
    }

    /// <summary>An epoch from a heartbeat: recorded when none is known (heartbeats never reset state).</summary>
    public void LearnEpoch(string epoch)
    {
        if (Epoch is null && epoch.Length > 0)
        {
            Epoch = epoch;
        }
    }

    /// <summary><c>ERROR_EPOCH_CHANGED</c>: the gateway replays the topic from the start of its ring; resets unless
    /// the confirm already did for this epoch. Returns true when it reset.</summary>
    public bool ApplyEpochChanged(string currentEpoch)
    {
        if (Started && string.Equals(_resetForEpoch, currentEpoch, StringComparison.Ordinal))
        {
            return false;
        }

        Reset(currentEpoch, 0);
        return true;
    }

    /// <summary>Classifies a delivery of <paramref name="sequence"/> on stream <paramref name="sessionId"/>.</summary>
    public DeliveryDecision OnDelivery(long sequence, string ackId, long sessionId, bool manual)
    {
        if (!Started)
        {
            // A topic first seen through a delivery (a "*" subscription's new topic): everything before it was not
            // meant for this subscription.
            Started = true;
            Watermark = sequence - 1;
            HighestDelivered = Watermark;
        }

        if (_durable)
        {
            if (_recentlyProcessed.Contains(sequence))
            {
                return new(DeliveryKind.Duplicate, new AckAction(sessionId, Topic, sequence, 0, ackId));
            }
        }
        else if (sequence <= Watermark)
        {
            return new(DeliveryKind.Duplicate, new AckAction(sessionId, Topic, sequence, Watermark, null));
        }
        else if (_processedAbove.Contains(sequence))
        {
            return new(DeliveryKind.Duplicate, new AckAction(sessionId, Topic, sequence, 0, ackId));
        }

        ref var pending = ref CollectionsMarshal.GetValueRefOrNullRef(_pending, sequence);
        if (!Unsafe.IsNullRef(ref pending))
        {
            // The latest delivery's ack id is the one that settles it (an older stream's ids settle nothing).
            pending.AckId = ackId;
            pending.SessionId = sessionId;
            if (pending.State == PendingState.Abandoned || (manual && pending.State == PendingState.HandedOut))
            {
                pending.State = PendingState.Buffered;
                return new(DeliveryKind.Again, AckAction.None);
            }

            return new(DeliveryKind.Duplicate, AckAction.None);
        }

        _pending[sequence] = new PendingDelivery { AckId = ackId, SessionId = sessionId };
        _order.Enqueue(sequence, sequence);
        HighestDelivered = Math.Max(HighestDelivered, sequence);
        return new(DeliveryKind.New, AckAction.None);
    }

    /// <summary>The consumer took the event from the buffer.</summary>
    public void OnHandedOut(long sequence, int generation)
    {
        if (generation != Generation)
        {
            return;
        }

        ref var pending = ref CollectionsMarshal.GetValueRefOrNullRef(_pending, sequence);
        if (!Unsafe.IsNullRef(ref pending))
        {
            pending.State = PendingState.HandedOut;
            pending.Handovers++;
        }
    }

    /// <summary>The consumer processed (or acked) the event: it leaves the pending set, the watermark moves when it
    /// can, and the ack to send is returned: cumulative when everything up to the event is processed, individual
    /// otherwise, none when its ack id belongs to a stream that has ended (a replay redelivers it and the duplicate
    /// is acked then).</summary>
    public ProcessedOutcome OnProcessed(long sequence, int generation)
    {
        if (generation != Generation || !_pending.Remove(sequence, out var pending))
        {
            return default;
        }

        AdvanceWatermark();
        if (sequence > Watermark)
        {
            // Processed ahead of an earlier event: remembered until the watermark passes it.
            _processedAbove.Add(sequence);
        }

        return new(true, AckFor(sequence, pending), false, pending.Handovers);
    }

    /// <summary>The consumer failed on the event. Below <paramref name="maxAttempts"/> handovers it waits for its
    /// redelivery; at the limit it is given up: processed as far as the state goes, and acked.</summary>
    public ProcessedOutcome OnAbandoned(long sequence, int generation, int maxAttempts)
    {
        if (generation != Generation)
        {
            return default;
        }

        ref var pending = ref CollectionsMarshal.GetValueRefOrNullRef(_pending, sequence);
        if (Unsafe.IsNullRef(ref pending))
        {
            return default;
        }

        if (pending.Handovers < maxAttempts)
        {
            pending.State = PendingState.Abandoned;
            return new(true, AckAction.None, false, pending.Handovers);
        }

        var outcome = OnProcessed(sequence, generation);
        return outcome with { GaveUp = true };
    }

    /// <summary>The stream and ack id of a pending event's latest delivery; false when it is not pending (processed,
    /// or of an older epoch).</summary>
    public bool TryGetDelivery(long sequence, int generation, out long sessionId, out string ackId)
    {
        if (generation == Generation && _pending.TryGetValue(sequence, out var pending))
        {
            (sessionId, ackId) = (pending.SessionId, pending.AckId);
            return true;
        }

        (sessionId, ackId) = (0, "");
        return false;
    }

    /// <summary>The consumer gave the event back (nack): its redelivery is handed over again. Unlike
    /// <see cref="OnAbandoned"/> the client never gives it up: the gateway counts the attempts and dead-letters it.
    /// Returns false when it is not pending.</summary>
    public bool OnGivenBack(long sequence, int generation)
    {
        if (generation != Generation)
        {
            return false;
        }

        ref var pending = ref CollectionsMarshal.GetValueRefOrNullRef(_pending, sequence);
        if (Unsafe.IsNullRef(ref pending))
        {
            return false;
        }

        pending.State = PendingState.Abandoned;
        return true;
    }

    /// <summary>Durable only: the consumer processed <paramref name="sequence"/> (not a terminate: a dead letter
    /// replayed later must be handed over). A later delivery of it (its ack was lost) is acked, not handed
    /// over.</summary>
    public void RememberProcessed(long sequence)
    {
        if (!_durable || !_recentlyProcessed.Add(sequence))
        {
            return;
        }

        _recentOrder.Enqueue(sequence);
        if (_recentOrder.Count > MaxRecentlyProcessed)
        {
            _recentlyProcessed.Remove(_recentOrder.Dequeue());
        }
    }

    /// <summary>The state of a pending event (null: not pending).</summary>
    public PendingState? StateOf(long sequence) =>
        _pending.TryGetValue(sequence, out var pending) ? pending.State : null;

    /// <summary>True when the event is still waiting for the consumer (not processed, not of an older epoch).</summary>
    public bool IsPending(long sequence, int generation) => generation == Generation && _pending.ContainsKey(sequence);

    private AckAction AckFor(long sequence, in PendingDelivery pending) =>
        sequence <= Watermark && !_durable
            ? new AckAction(pending.SessionId, Topic, sequence, Watermark, null)
            : new AckAction(pending.SessionId, Topic, sequence, 0, pending.AckId);

    private void AdvanceWatermark()
    {
        while (_order.TryPeek(out var lowest, out _) && !_pending.ContainsKey(lowest))
        {
            _order.Dequeue();
        }

        var next = _order.TryPeek(out var firstPending, out _) ? firstPending - 1 : HighestDelivered;
        if (next <= Watermark)
        {
            return;
        }

        Watermark = next;
        if (_processedAbove.Count > 0)
        {
            _processedAbove.RemoveWhere(_atOrBelowWatermark);
        }
    }

    private void Reset(string epoch, long watermark)
    {
        Generation++;
        Started = true;
        Epoch = epoch;
        _resetForEpoch = epoch;
        _pending.Clear();
        _order.Clear();
        _processedAbove.Clear();
        _recentlyProcessed.Clear();
        _recentOrder.Clear();
        Watermark = watermark;
        HighestDelivered = watermark;
    }

    /// <summary>A struct kept in the dictionary's entries (changed in place through a reference): no object per
    /// delivered event.</summary>
    private struct PendingDelivery
    {
        public required string AckId { get; set; }

        public long SessionId { get; set; }

        public PendingState State { get; set; }

        public int Handovers { get; set; }
    }
}
