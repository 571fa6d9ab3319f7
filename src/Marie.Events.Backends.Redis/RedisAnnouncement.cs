using System.Globalization;
using System.Text;
using Google.Protobuf;
using Marie.Events.Protocol;

namespace Marie.Events.Backends.Redis;

/// <summary>One event as the shared log holds it; <see cref="Data"/> may be a slice of an announcement.</summary>
internal readonly record struct SharedEvent(long Sequence, long PublishedAtMs, ReadOnlyMemory<byte> Data);

/// <summary><see cref="Count"/> consecutive events of a batch encoded as the log's entry and the announcement carry
/// them: per event <c>length \n bytes</c>.</summary>
internal readonly record struct EventChunk(int Count, byte[] Bytes);

/// <summary>
/// The fan-out message of one appended batch: <c>first_seq \n epoch \n published_at_ms \n topic_length \n topic
/// count \n</c>, then the batch's chunks (<see cref="EventChunk"/>: per event <c>length \n bytes</c>; event <c>i</c>
/// has number <c>first_seq + i</c>). The publish script builds it (<see cref="RedisEventLog"/>); with
/// <c>ack_replicas</c> the gateway builds it (<see cref="Build"/>) and publishes it once the replicas confirmed the
/// batch. A log entry holds one chunk.
/// </summary>
internal static class RedisAnnouncement
{
    /// <summary>The events of a batch in chunks of at most <paramref name="perChunk"/> events, each encoded once
    /// (no copy of an event's bytes in between).</summary>
    public static EventChunk[] Encode(IReadOnlyList<EventData> events, int perChunk)
    {
        var chunks = new EventChunk[(events.Count + perChunk - 1) / perChunk];
        Span<int> sizes = stackalloc int[Math.Min(events.Count, perChunk)];
        for (var c = 0; c < chunks.Length; c++)
        {
            var start = c * perChunk;
            var count = Math.Min(perChunk, events.Count - start);
            var total = 0;
            for (var i = 0; i < count; i++)
            {
                sizes[i] = events[start + i].CalculateSize();
                total += Digits(sizes[i]) + 1 + sizes[i];
            }

            var bytes = new byte[total];
            var at = 0;
            for (var i = 0; i < count; i++)
            {
                sizes[i].TryFormat(bytes.AsSpan(at), out var written, provider: CultureInfo.InvariantCulture);
                at += written;
                bytes[at++] = (byte)'\n';
                events[start + i].WriteTo(bytes.AsSpan(at, sizes[i]));
                at += sizes[i];
            }

            chunks[c] = new EventChunk(count, bytes);
        }

        return chunks;
    }

    /// <summary>The announcement of a batch's <paramref name="chunks"/>, numbered from
    /// <paramref name="first"/>.</summary>
    public static byte[] Build(long first, string epoch, long publishedAtMs, string topic, EventChunk[] chunks)
    {
        var topicBytes = Encoding.UTF8.GetBytes(topic);
        var count = chunks.Sum(c => c.Count);
        var header = Encoding.UTF8.GetBytes(string.Create(
            CultureInfo.InvariantCulture,
            $"{first}\n{epoch}\n{publishedAtMs}\n{topicBytes.Length}\n"));
        using var buffer = new MemoryStream();
        buffer.Write(header);
        buffer.Write(topicBytes);
        buffer.Write(Encoding.ASCII.GetBytes(count.ToString(CultureInfo.InvariantCulture) + "\n"));
        foreach (var chunk in chunks)
        {
            buffer.Write(chunk.Bytes);
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
        return TryParseEvents(message, start, first, count, publishedAt, events);
    }

    /// <summary>Parses <paramref name="count"/> events (<c>length \n bytes</c> each, numbered from
    /// <paramref name="first"/>) that fill <paramref name="message"/> from <paramref name="start"/> to its end, into
    /// <paramref name="events"/>; their data are slices of <paramref name="message"/>.</summary>
    public static bool TryParseEvents(
        byte[] message,
        int start,
        long first,
        long count,
        long publishedAt,
        List<SharedEvent> events)
    {
        var span = message.AsSpan();
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

    private static int Digits(int value)
    {
        var digits = 1;
        for (; value >= 10; value /= 10)
        {
            digits++;
        }

        return digits;
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
