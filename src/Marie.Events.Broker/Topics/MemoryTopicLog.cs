using System.Security.Cryptography;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Topics;

/// <summary>
/// The in-memory replay ring: a fixed array indexed by sequence modulo capacity. A slot holds an immutable
/// <see cref="StoredEvent"/> that carries its own sequence number, so a lock-free reader can tell a live slot from an
/// overwritten one. The head is published with a volatile write after the slot, so a reader that sees head N also
/// sees event N.
/// </summary>
internal sealed class MemoryTopicLog : ITopicLog
{
    private readonly StoredEvent?[] _slots;

    /// <summary>The events' bytes (guarded, like every append, by the topic's lock).</summary>
    private readonly EventSlab _slab = new();

    /// <summary>The events' repeated strings (same lock).</summary>
    private readonly StringPool _strings = new();
    private long _head;

    /// <summary>The first sequence number this log ever held (1, unless it started mid-way).</summary>
    private long _first = 1;

    private string _epoch;

    /// <summary>
    /// A log of <paramref name="capacity"/> events; <paramref name="epoch"/> null = a new random one.
    /// </summary>
    public MemoryTopicLog(string topic, int capacity, string? epoch = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Topic = topic;
        _slots = new StoredEvent?[capacity];
        _epoch = epoch ?? NewEpoch();
    }

    public string Topic { get; }

    public string Epoch => Volatile.Read(ref _epoch);

    public long Head => Volatile.Read(ref _head);

    public long FirstAvailable
    {
        get
        {
            var head = Head;
            return head == 0 ? 1 : Math.Max(Volatile.Read(ref _first), head - _slots.Length + 1);
        }
    }

    public int Count => (int)(Head - FirstAvailable + 1);

    public StoredEvent AppendAt(long sequence, EventData data, DateTimeOffset publishedAt)
    {
        CheckNext(sequence);
        return Store(new StoredEvent(Topic, sequence, data, publishedAt, _slab, _strings));
    }

    public StoredEvent AppendAt(long sequence, ReadOnlySpan<byte> data, DateTimeOffset publishedAt)
    {
        CheckNext(sequence);
        return Store(new StoredEvent(Topic, sequence, data, publishedAt, _slab, _strings));
    }

    private void CheckNext(long sequence)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(sequence, _head);
        if (_head == 0)
        {
            // Started mid-way (loaded or filled from a backend that holds no more): the numbers before this one
            // were never held here.
            Volatile.Write(ref _first, sequence);
        }
    }

    private StoredEvent Store(StoredEvent stored)
    {
        var sequence = stored.Sequence;
        Volatile.Write(ref _slots[sequence % _slots.Length], stored);
        Volatile.Write(ref _head, sequence);
        return stored;
    }

    public bool TryAdoptEpoch(string epoch)
    {
        if (string.Equals(epoch, _epoch, StringComparison.Ordinal))
        {
            return true;
        }

        if (_head != 0)
        {
            return false;
        }

        Volatile.Write(ref _epoch, epoch);
        return true;
    }

    public ReadOutcome TryRead(long sequence, out StoredEvent? stored)
    {
        stored = null;
        if (sequence < 1)
        {
            return ReadOutcome.Overwritten;
        }

        if (sequence > Head)
        {
            return ReadOutcome.NotYet;
        }

        var slot = Volatile.Read(ref _slots[sequence % _slots.Length]);
        if (slot is null || slot.Sequence != sequence)
        {
            // The slot already holds a newer event (sequence + k * capacity): this one was overwritten.
            return ReadOutcome.Overwritten;
        }

        stored = slot;
        return ReadOutcome.Found;
    }

    /// <summary>
    /// 16 lowercase hex characters (64 random bits): unique per log incarnation for all practical purposes.
    /// </summary>
    internal static string NewEpoch() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
}
