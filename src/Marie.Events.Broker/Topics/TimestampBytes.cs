namespace Marie.Events.Broker.Topics;

/// <summary>
/// A <c>google.protobuf.Timestamp</c> serialized straight from a <see cref="DateTimeOffset"/>, with no message object:
/// the bytes <c>Timestamp.FromDateTimeOffset(time).ToByteArray()</c> gives (seconds since the Unix epoch rounded down,
/// nanoseconds of the second in 100 ns steps; a zero field is left out, as proto3 does).
/// </summary>
internal static class TimestampBytes
{
    /// <summary>Seconds from 0001-01-01 to the Unix epoch.</summary>
    private const long UnixEpochSeconds = 62_135_596_800;

    /// <summary>Field 1 (<c>seconds</c>) and field 2 (<c>nanos</c>), both varints (wire type 0).</summary>
    private const byte SecondsTag = 1 << 3;
    private const byte NanosTag = 2 << 3;

    /// <summary>The serialized size.</summary>
    public static int Size(DateTimeOffset time)
    {
        var (seconds, nanos) = Split(time);
        return (seconds == 0 ? 0 : 1 + VarintSize((ulong)seconds)) + (nanos == 0 ? 0 : 1 + VarintSize((ulong)nanos));
    }

    /// <summary>Writes the <see cref="Size"/> bytes into <paramref name="destination"/>.</summary>
    public static void Write(DateTimeOffset time, Span<byte> destination)
    {
        var (seconds, nanos) = Split(time);
        var position = 0;
        if (seconds != 0)
        {
            destination[position++] = SecondsTag;
            position += WriteVarint((ulong)seconds, destination[position..]);
        }

        if (nanos != 0)
        {
            destination[position++] = NanosTag;
            WriteVarint((ulong)nanos, destination[position..]);
        }
    }

    /// <summary>The UTC ticks of a timestamp written by <see cref="Write"/> (or by protobuf itself); unknown fields
    /// are skipped, a malformed one ends the read with what was read so far.</summary>
    public static long ReadUtcTicks(ReadOnlySpan<byte> source)
    {
        long seconds = 0, nanos = 0;
        var position = 0;
        while (position < source.Length)
        {
            var tag = source[position++];
            if ((tag & 7) != 0 || !TryReadVarint(source, ref position, out var value))
            {
                break;
            }

            if (tag == SecondsTag)
            {
                seconds = (long)value;
            }
            else if (tag == NanosTag)
            {
                nanos = (long)value;
            }
        }

        // 100 ns per tick.
        return ((seconds + UnixEpochSeconds) * TimeSpan.TicksPerSecond) + (nanos / 100);
    }

    private static bool TryReadVarint(ReadOnlySpan<byte> source, ref int position, out ulong value)
    {
        value = 0;
        // A varint of a 64-bit value is at most 10 bytes of 7 bits.
        for (var shift = 0; shift < 70 && position < source.Length; shift += 7)
        {
            var b = source[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }

    private static (long Seconds, long Nanos) Split(DateTimeOffset time)
    {
        var ticks = time.UtcTicks;
        return (ticks / TimeSpan.TicksPerSecond - UnixEpochSeconds, ticks % TimeSpan.TicksPerSecond * 100);
    }

    private static int VarintSize(ulong value)
    {
        var size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }

        return size;
    }

    private static int WriteVarint(ulong value, Span<byte> destination)
    {
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[i++] = (byte)value;
        return i;
    }
}
