using Google.Protobuf.WellKnownTypes;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Topics;

/// <summary>What a read of one sequence number found.</summary>
internal enum ReadOutcome
{
    /// <summary>The event is held.</summary>
    Found,

    /// <summary>The ring overwrote it: it is older than <see cref="ITopicLog.FirstAvailable"/>.</summary>
    Overwritten,

    /// <summary>Not assigned yet: beyond <see cref="ITopicLog.Head"/>.</summary>
    NotYet,
}

/// <summary>
/// A topic's event log: sequence numbers from 1, a bounded window of recent events, an epoch.
/// The in-memory ring is the embedded default; a shared log (Redis) implements the same contract in cluster mode.
/// Appends are serialized by the caller (the topic's lock); reads are safe from any thread without a lock.
/// </summary>
internal interface ITopicLog
{
    string Topic { get; }

    /// <summary>Identifies this incarnation of the log: sequence numbers of another epoch mean other events.</summary>
    string Epoch { get; }

    /// <summary>The last sequence number assigned, 0 when none.</summary>
    long Head { get; }

    /// <summary>The oldest sequence number still held; <see cref="Head"/> + 1 when the log holds nothing.</summary>
    long FirstAvailable { get; }

    /// <summary>Events held.</summary>
    int Count { get; }

    /// <summary>Assigns the next sequence number and stores the event. Callers serialize appends.</summary>
    StoredEvent Append(EventData data, Timestamp publishedAt);

    /// <summary>Stores an event whose sequence number was assigned elsewhere (cluster mode: by the shared log).
    /// <paramref name="sequence"/> must be greater than <see cref="Head"/>; numbers skipped over read as
    /// <see cref="ReadOutcome.Overwritten"/> (lost). Callers serialize appends.</summary>
    StoredEvent AppendAt(long sequence, EventData data, Timestamp publishedAt);

    /// <summary>Takes <paramref name="epoch"/> as this log's epoch if the log has never held an event (a topic
    /// created locally, e.g. by a subscription, before the shared log's first event reached it). False when it
    /// holds or held events and its epoch differs.</summary>
    bool TryAdoptEpoch(string epoch);

    /// <summary>Reads one event by sequence number.</summary>
    ReadOutcome TryRead(long sequence, out StoredEvent? stored);
}
