using System.Text;
using Google.Protobuf.Collections;
using Marie.Events.Broker.Telemetry;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Topics;

/// <summary>
/// An event's W3C trace context as the ring keeps it: the map entries of <c>EventData.trace_context</c> (field 10),
/// taken out of the event's bytes and tagged as <c>EventEnvelope.trace_context</c> (field 7), so that a delivery
/// copies them into its envelope as they are and the envelope's <c>event</c> does not carry them a second time. A
/// map entry is encoded the same way in both messages (key field 1, value field 2); only the one-byte tag differs.
/// An event without a context has none of these bytes and costs nothing here.
/// </summary>
internal static class TraceContextBytes
{
    /// <summary>Wire type 2 (length-delimited), the wire type of every map entry.</summary>
    private const int LengthDelimited = 2;

    /// <summary><c>EventEnvelope.trace_context</c>'s tag: field 7, wire type 2.</summary>
    public const byte EnvelopeTag = (EventEnvelope.TraceContextFieldNumber << 3) | LengthDelimited;

    /// <summary><c>EventData.trace_context</c>'s tag: field 10, wire type 2.</summary>
    private const byte EventDataTag = (EventData.TraceContextFieldNumber << 3) | LengthDelimited;

    /// <summary>A map entry's key (field 1) and value (field 2) tags, both strings.</summary>
    private const byte KeyTag = (1 << 3) | LengthDelimited;
    private const byte ValueTag = (2 << 3) | LengthDelimited;

    /// <summary>The bytes of <paramref name="data"/>'s <c>trace_context</c> fields, tags included.</summary>
    public static int Measure(ReadOnlySpan<byte> data)
    {
        var total = 0;
        var position = 0;
        while (position < data.Length)
        {
            var start = position;
            var field = NextField(data, ref position);
            if (field == EventData.TraceContextFieldNumber)
            {
                total += position - start;
            }
        }

        return total;
    }

    /// <summary>Copies <paramref name="data"/> into <paramref name="dataOut"/> without its <c>trace_context</c>
    /// fields and those, tagged as the envelope's field 7, into <paramref name="traceOut"/> (sized by
    /// <see cref="Measure"/>).</summary>
    /// <exception cref="InvalidDataException">The bytes are not a well-formed message.</exception>
    public static void Split(ReadOnlySpan<byte> data, Span<byte> dataOut, Span<byte> traceOut)
    {
        int position = 0, written = 0, traced = 0;
        while (position < data.Length)
        {
            var start = position;
            var field = NextField(data, ref position);
            var whole = data[start..position];
            if (field == EventData.TraceContextFieldNumber)
            {
                // Protobuf writes field 10's tag as one byte; a longer (non-canonical) one would change the length.
                if (whole[0] != EventDataTag)
                {
                    throw EventDataFields.Malformed();
                }

                traceOut[traced] = EnvelopeTag;
                whole[1..].CopyTo(traceOut[(traced + 1)..]);
                traced += whole.Length;
            }
            else
            {
                whole.CopyTo(dataOut[written..]);
                written += whole.Length;
            }
        }
    }

    /// <summary>The event's bytes with its trace context put back as <c>EventData.trace_context</c>: what the
    /// producer published (a dead letter keeps this).</summary>
    public static byte[] Join(ReadOnlySpan<byte> data, ReadOnlySpan<byte> trace)
    {
        var joined = new byte[data.Length + trace.Length];
        data.CopyTo(joined);
        trace.CopyTo(joined.AsSpan(data.Length));
        var position = 0;
        while (position < trace.Length)
        {
            joined[data.Length + position] = EventDataTag;
            position++;
            var length = (int)EventDataFields.ReadVarint(trace, ref position);
            position += length;
        }

        return joined;
    }

    /// <summary>Adds the entries of <paramref name="trace"/> (envelope-tagged) to <paramref name="map"/>.</summary>
    public static void AddTo(ReadOnlySpan<byte> trace, MapField<string, string> map)
    {
        var position = 0;
        while (position < trace.Length)
        {
            position++;
            var length = (int)EventDataFields.ReadVarint(trace, ref position);
            ReadEntry(trace.Slice(position, length), out var key, out var value);
            map[key] = value;
            position += length;
        }
    }

    /// <summary>The <c>traceparent</c> and <c>tracestate</c> values of <paramref name="trace"/> (null when
    /// absent).</summary>
    public static void Read(ReadOnlySpan<byte> trace, out string? traceParent, out string? traceState)
    {
        traceParent = traceState = null;
        var position = 0;
        while (position < trace.Length)
        {
            position++;
            var length = (int)EventDataFields.ReadVarint(trace, ref position);
            ReadEntry(trace.Slice(position, length), out var key, out var value);
            if (key == TraceHeaders.TraceParent)
            {
                traceParent = value;
            }
            else if (key == TraceHeaders.TraceState)
            {
                traceState = value;
            }

            position += length;
        }
    }

    private static void ReadEntry(ReadOnlySpan<byte> entry, out string key, out string value)
    {
        key = value = string.Empty;
        var position = 0;
        while (position < entry.Length)
        {
            var tag = entry[position++];
            var length = (int)EventDataFields.ReadVarint(entry, ref position);
            if (length > entry.Length - position)
            {
                throw EventDataFields.Malformed();
            }

            var text = Encoding.UTF8.GetString(entry.Slice(position, length));
            if (tag == KeyTag)
            {
                key = text;
            }
            else if (tag == ValueTag)
            {
                value = text;
            }

            position += length;
        }
    }

    /// <summary>Moves <paramref name="position"/> past one field and returns its number.</summary>
    private static int NextField(ReadOnlySpan<byte> data, ref int position)
    {
        var tag = EventDataFields.ReadVarint(data, ref position);
        switch ((int)(tag & 7))
        {
            case 0:
                EventDataFields.ReadVarint(data, ref position);
                break;
            case 1:
                position = EventDataFields.Skip(data, position, 8);
                break;
            case 5:
                position = EventDataFields.Skip(data, position, 4);
                break;
            case LengthDelimited:
                var length = EventDataFields.ReadVarint(data, ref position);
                if (length > (ulong)(data.Length - position))
                {
                    throw EventDataFields.Malformed();
                }

                position += (int)length;
                break;
            default:
                throw EventDataFields.Malformed();
        }

        return (int)(tag >> 3);
    }
}
