using Google.Protobuf;
using Marie.Events.Broker.Storage;
using Marie.Events.Protocol;

namespace Marie.Events.Backends.File;

/// <summary>
/// The stored form of one append: its events' <c>EventData</c> bytes one after the other, each preceded by its length
/// as a varint (protobuf's own length-delimited framing). The store keeps one row per append rather than one per
/// event: SQLite's cost is mostly per row (a B-tree insert), so a row of 100 events costs about what a row of one did
/// (docs/performance.md, "The file backend").
/// </summary>
internal static class EventBlock
{
    /// <summary>Encodes <paramref name="events"/> as one block; <paramref name="slices"/> gets each event as a
    /// <see cref="BackendEvent"/> over its bytes inside the block (what the rings copy: the event is serialized
    /// once).</summary>
    public static byte[] Encode(
        IReadOnlyList<EventData> events,
        long firstSequence,
        DateTimeOffset publishedAt,
        out BackendEvent[] slices)
    {
        var count = events.Count;
        var sizes = new int[count];
        var total = 0;
        for (var i = 0; i < count; i++)
        {
            sizes[i] = events[i].CalculateSize();
            total += CodedOutputStream.ComputeLengthSize(sizes[i]) + sizes[i];
        }

        var block = new byte[total];
        slices = new BackendEvent[count];
        var offset = 0;
        for (var i = 0; i < count; i++)
        {
            offset += WriteLength(block.AsSpan(offset), sizes[i]);
            events[i].WriteTo(block.AsSpan(offset, sizes[i]));
            slices[i] = new BackendEvent(firstSequence + i, block.AsMemory(offset, sizes[i]), publishedAt);
            offset += sizes[i];
        }

        return block;
    }

    /// <summary>Encodes one event's bytes as a block of one (the upgrade from the one-row-per-event layout).</summary>
    public static byte[] EncodeOne(byte[] data)
    {
        var block = new byte[CodedOutputStream.ComputeLengthSize(data.Length) + data.Length];
        var offset = WriteLength(block, data.Length);
        data.CopyTo(block.AsSpan(offset));
        return block;
    }

    /// <summary>Takes the next event's bytes off the front of <paramref name="rest"/>; false at the end.</summary>
    /// <exception cref="InvalidDataException">The block is malformed (a length past its end).</exception>
    public static bool TryReadNext(ref ReadOnlySpan<byte> rest, out ReadOnlySpan<byte> data)
    {
        if (rest.IsEmpty)
        {
            data = default;
            return false;
        }

        var length = 0;
        var shift = 0;
        var used = 0;
        while (true)
        {
            // A length is at most 5 varint bytes (32 bits).
            if (used == rest.Length || used == 5)
            {
                throw new InvalidDataException("a stored event block has a malformed length");
            }

            var b = rest[used++];
            length |= (b & 0x7F) << shift;
            if (b < 0x80)
            {
                break;
            }

            shift += 7;
        }

        if (length < 0 || length > rest.Length - used)
        {
            throw new InvalidDataException("a stored event block ends inside an event");
        }

        data = rest.Slice(used, length);
        rest = rest[(used + length)..];
        return true;
    }

    private static int WriteLength(Span<byte> output, int length)
    {
        var value = (uint)length;
        var used = 0;
        while (value >= 0x80)
        {
            output[used++] = (byte)(value | 0x80);
            value >>= 7;
        }

        output[used++] = (byte)value;
        return used;
    }
}
