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
/// A topic's replay ring: the bounded window of recent events the broker delivers from, fed by its backend
/// (<see cref="Storage.IEventBackend"/>) at the sequence numbers and under the epoch the backend assigned.
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

    /// <summary>Stores an event at the sequence number its backend assigned.
    /// <paramref name="sequence"/> must be greater than <see cref="Head"/>; numbers skipped over read as
    /// <see cref="ReadOutcome.Overwritten"/> (lost). Callers serialize appends.</summary>
    StoredEvent AppendAt(long sequence, EventData data, DateTimeOffset publishedAt);

    /// <summary>Appends the serialized event <paramref name="data"/> (copied) as <paramref name="sequence"/>, like
    /// <see cref="AppendAt(long, EventData, DateTimeOffset)"/>.</summary>
    StoredEvent AppendAt(long sequence, ReadOnlySpan<byte> data, DateTimeOffset publishedAt);

    /// <summary>Takes <paramref name="epoch"/> as this log's epoch if the log has never held an event (a topic
    /// created here, e.g. by a subscription, before its backend's first event reached it). False when it
    /// holds or held events and its epoch differs.</summary>
    bool TryAdoptEpoch(string epoch);

    /// <summary>Reads one event by sequence number.</summary>
    ReadOutcome TryRead(long sequence, out StoredEvent? stored);
}
