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
