namespace Marie.Events.Broker.Topics;

/// <summary>
/// Where a topic's ring keeps its events' bytes: appended one after the other into chunks, so that an event held by
/// the ring is one small object (its <see cref="StoredEvent"/>) pointing into a shared chunk, not an object plus two
/// arrays of its own. Every event a ring holds outlives several garbage collections; the collector's pause grows with
/// the number of surviving objects it has to copy and fix up, far more than with their bytes (docs/performance.md).
/// <para>
/// Chunks are never reused: a chunk is garbage once no event pointing into it is referenced (the ring has overwritten
/// them and no delivery still holds one), and the collector frees it then. The chunk size doubles from
/// <see cref="FirstChunkBytes"/> up to <see cref="MaxChunkBytes"/> while the topic keeps publishing, so a quiet topic
/// wastes at most a few KiB and a busy one allocates a chunk every few hundred events. An event still in flight
/// after the ring overwrote it keeps its chunk alive until the connection's next redelivery check, which gives the
/// delivery a copy of its own (<see cref="StoredEvent.Detach"/>). Not thread-safe: the topic's append lock guards it.
/// </para>
/// </summary>
internal sealed class EventSlab
{
    /// <summary>4 KiB: a quiet topic's first chunk (about a dozen 256-byte events).</summary>
    internal const int FirstChunkBytes = 4 * 1024;

    /// <summary>64 KiB: one chunk per ~200 events of 300 bytes, below the large-object threshold (85,000 bytes).
    /// Larger chunks do not shorten the latency tail (docs/performance.md) and make every busy topic's last, partly
    /// filled chunk larger.</summary>
    internal const int MaxChunkBytes = 64 * 1024;

    /// <summary>An event larger than a quarter of the chunk it would go into gets an array of its own: a chunk is not
    /// left mostly empty for one large event.</summary>
    private const int OwnArrayDivisor = 4;

    private byte[] _chunk = [];
    private int _used;
    private int _nextChunkBytes = FirstChunkBytes;

    /// <summary>Reserves <paramref name="length"/> bytes; the caller writes them at <paramref name="offset"/> of the
    /// returned array before anyone else can read them.</summary>
    public byte[] Reserve(int length, out int offset)
    {
        if (_chunk.Length - _used >= length)
        {
            offset = _used;
            _used += length;
            return _chunk;
        }

        if (length > _nextChunkBytes / OwnArrayDivisor)
        {
            offset = 0;
            return GC.AllocateUninitializedArray<byte>(length);
        }

        _chunk = GC.AllocateUninitializedArray<byte>(_nextChunkBytes);
        _nextChunkBytes = Math.Min(_nextChunkBytes * 2, MaxChunkBytes);
        offset = 0;
        _used = length;
        return _chunk;
    }
}
