namespace Marie.Events.Broker.Storage;

/// <summary>
/// Where durable subscriptions' state is kept, next to <see cref="IEventBackend"/>: per (key, durable name) the
/// group, and per topic the epoch, the acknowledged point, the highest sequence handed to a member and the
/// unacknowledged sequence numbers with their attempts. The broker writes a durable's whole state at once (a
/// snapshot replaces the previous one), a moment after it changed (<c>durable.flush_interval_ms</c>) and when its
/// last stream ends. A backend that keeps durable state implements this interface too; the broker finds it there.
/// </summary>
/// <remarks>Calls may come from several threads at once, for different durables; one durable's saves are made
/// one at a time, in order.</remarks>
public interface IDurableStore
{
    /// <summary>True when other gateways write the same store (Redis): the broker reads a durable again before
    /// its first stream on this gateway, since another gateway may have moved it on.</summary>
    bool IsShared { get; }

    /// <summary>Replaces the stored state of the snapshot's (key, name).</summary>
    /// <exception cref="BackendException">The store failed; the broker logs it and saves again later.</exception>
    ValueTask SaveAsync(DurableSnapshot snapshot, CancellationToken cancellationToken);

    /// <summary>Removes the state of (key, name); nothing when there is none.</summary>
    ValueTask DeleteAsync(string key, string name, CancellationToken cancellationToken);

    /// <summary>The stored state of (key, name), or null.</summary>
    ValueTask<DurableSnapshot?> LoadAsync(string key, string name, CancellationToken cancellationToken);

    /// <summary>Every stored durable (at start).</summary>
    ValueTask<IReadOnlyList<DurableSnapshot>> LoadAllAsync(CancellationToken cancellationToken);
}

/// <summary>A durable subscription's state as stored.</summary>
/// <param name="Key">The API key name it belongs to.</param>
/// <param name="Name">Its durable name.</param>
/// <param name="Group">Its consumer group ("" when none).</param>
/// <param name="LastActiveAt">When a stream last held it (its inactive TTL counts from here).</param>
/// <param name="Topics">Its position on each topic.</param>
public sealed record DurableSnapshot(
    string Key,
    string Name,
    string Group,
    DateTimeOffset LastActiveAt,
    IReadOnlyList<DurableTopicSnapshot> Topics)
{
    /// <summary>The snapshot as bytes (a small versioned binary form every store may keep as it is).</summary>
    public byte[] ToBytes() => DurableSnapshotCodec.Encode(this);

    /// <summary>Reads <see cref="ToBytes"/>'s form.</summary>
    /// <exception cref="FormatException">Not a snapshot of a known version.</exception>
    public static DurableSnapshot FromBytes(ReadOnlySpan<byte> bytes) => DurableSnapshotCodec.Decode(bytes);
}

/// <summary>A durable subscription's position on one topic.</summary>
/// <param name="Topic">The topic.</param>
/// <param name="Epoch">The topic's epoch the numbers belong to.</param>
/// <param name="Acked">Every sequence up to this one is acknowledged (or was filtered out).</param>
/// <param name="Delivered">The highest sequence handed to a member; after it nothing was delivered.</param>
/// <param name="Pending">The unacknowledged sequences in (<paramref name="Acked"/>, <paramref name="Delivered"/>],
/// in order, with the deliveries each had.</param>
public sealed record DurableTopicSnapshot(
    string Topic,
    string Epoch,
    long Acked,
    long Delivered,
    IReadOnlyList<DurablePending> Pending);

/// <summary>One unacknowledged event of a durable subscription.</summary>
/// <param name="Sequence">Its sequence number.</param>
/// <param name="Attempts">Deliveries it had.</param>
public readonly record struct DurablePending(long Sequence, int Attempts);
