using System.Globalization;
using System.Text;

namespace Marie.Events.Backends.Redis;

/// <summary>One event as the shared log holds it; <see cref="Data"/> may be a slice of an announcement.</summary>
internal readonly record struct SharedEvent(long Sequence, long PublishedAtMs, ReadOnlyMemory<byte> Data);

/// <summary>
/// The fan-out message of one appended batch: <c>first_seq \n epoch \n published_at_ms \n topic_length \n topic
/// count \n</c>, then per event <c>length \n bytes</c> (event <c>i</c> has number <c>first_seq + i</c>). The publish
/// script builds it (<see cref="RedisEventLog"/>); with <c>ack_replicas</c> the gateway builds it
/// (<see cref="Build"/>) and publishes it once the replicas confirmed the batch.
/// </summary>
internal static class RedisAnnouncement
{
    /// <summary>The announcement of <paramref name="events"/>, numbered from <paramref name="first"/>.</summary>
    public static byte[] Build(long first, string epoch, long publishedAtMs, string topic, IReadOnlyList<byte[]> events)
    {
        var topicBytes = Encoding.UTF8.GetBytes(topic);
        var header = Encoding.UTF8.GetBytes(string.Create(
            CultureInfo.InvariantCulture,
            $"{first}\n{epoch}\n{publishedAtMs}\n{topicBytes.Length}\n"));
        using var buffer = new MemoryStream();
        buffer.Write(header);
        buffer.Write(topicBytes);
        buffer.Write(Encoding.ASCII.GetBytes(events.Count.ToString(CultureInfo.InvariantCulture) + "\n"));
        foreach (var data in events)
        {
            buffer.Write(Encoding.ASCII.GetBytes(data.Length.ToString(CultureInfo.InvariantCulture) + "\n"));
            buffer.Write(data);
        }

        return buffer.ToArray();
    }

    /// <summary>Parses an announcement; the events' data are slices of <paramref name="message"/> (no
    /// copy).</summary>
    public static bool TryParse(byte[] message, out string topic, out string epoch, out List<SharedEvent> events)
    {
        topic = epoch = "";
        events = [];
        var span = message.AsSpan();
        var start = 0;
        if (!TryField(span, ref start, out var firstField)
            || !TryField(span, ref start, out var epochField)
            || !TryField(span, ref start, out var timeField)
            || !TryField(span, ref start, out var topicLengthField)
            || !TryNumber(span[firstField], out var first)
            || !TryNumber(span[timeField], out var publishedAt)
            || !TryNumber(span[topicLengthField], out var topicLength)
            || topicLength > span.Length - start)
        {
            return false;
        }

        epoch = Encoding.UTF8.GetString(span[epochField]);
        topic = Encoding.UTF8.GetString(span.Slice(start, (int)topicLength));
        start += (int)topicLength;
        if (!TryField(span, ref start, out var countField) || !TryNumber(span[countField], out var count))
        {
            return false;
        }

        events = new List<SharedEvent>((int)Math.Min(count, 4096));
        for (long i = 0; i < count; i++)
        {
            if (!TryField(span, ref start, out var lengthField)
                || !TryNumber(span[lengthField], out var length)
                || length > span.Length - start)
            {
                return false;
            }

            events.Add(new SharedEvent(first + i, publishedAt, message.AsMemory(start, (int)length)));
            start += (int)length;
        }

        return start == span.Length;
    }

    private static bool TryField(ReadOnlySpan<byte> span, ref int start, out Range field)
    {
        var newline = span[start..].IndexOf((byte)'\n');
        field = newline < 0 ? default : new Range(start, start + newline);
        start += newline + 1;
        return newline >= 0;
    }

    private static bool TryNumber(ReadOnlySpan<byte> text, out long value) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
}
