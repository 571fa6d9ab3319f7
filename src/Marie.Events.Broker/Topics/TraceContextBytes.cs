using System.Text;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Marie.Events.Broker.Telemetry;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Topics;

/// <summary>
/// An event's W3C trace context as the ring keeps it: taken out of the event's bytes (<c>EventData.trace_context</c>,
/// field 10, a <see cref="TraceContext"/> message) and kept as the entries of <c>EventEnvelope.trace_context</c>
/// (field 7, <c>map&lt;string, string&gt;</c>: each entry a message with the key in field 1 and the value in field
/// 2), tags and lengths included, so that a delivery copies them into its envelope as they are and the envelope's
/// <c>event</c> does not carry them a second time. An event without a context has none of these bytes and costs
/// nothing here; the conversions below run only for an event that has one.
/// </summary>
internal static class TraceContextBytes
{
    /// <summary>Wire type 2 (length-delimited).</summary>
    private const int LengthDelimited = 2;

    /// <summary><c>EventEnvelope.trace_context</c>'s tag: field 7, wire type 2.</summary>
    private const byte EnvelopeTag = (EventEnvelope.TraceContextFieldNumber << 3) | LengthDelimited;

    /// <summary><c>EventData.trace_context</c>'s tag: field 10, wire type 2.</summary>
    private const byte EventDataTag = (EventData.TraceContextFieldNumber << 3) | LengthDelimited;

    /// <summary>A map entry's key (field 1) and value (field 2) tags, both strings; the same numbers as
    /// <see cref="TraceContext"/>'s <c>traceparent</c> (1) and <c>tracestate</c> (2).</summary>
    private const byte KeyTag = (1 << 3) | LengthDelimited;
    private const byte ValueTag = (2 << 3) | LengthDelimited;

    /// <summary>The <c>traceparent</c> and <c>tracestate</c> of <paramref name="data"/>'s <c>trace_context</c> (a
    /// field given twice is merged, as a protobuf parse does); <paramref name="raw"/> gets the bytes of its fields,
    /// tags included.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a well-formed message.</exception>
    public static void Extract(ReadOnlySpan<byte> data, out string traceParent, out string traceState, out int raw)
    {
        traceParent = traceState = string.Empty;
        raw = 0;
        var position = 0;
        while (position < data.Length)
        {
            var start = position;
            var field = NextField(data, ref position, out var valueStart);
            if (field == EventData.TraceContextFieldNumber)
            {
                raw += position - start;
                ReadPair(data[valueStart..position], ref traceParent, ref traceState);
            }
        }
    }

    /// <summary>The size of the envelope entries for <paramref name="traceParent"/> and
    /// <paramref name="traceState"/> (an empty value has no entry).</summary>
    public static int EntriesSize(string traceParent, string traceState) =>
        EntrySize(TraceHeaders.TraceParent, traceParent) + EntrySize(TraceHeaders.TraceState, traceState);

    /// <summary>Writes the envelope entries (<see cref="EntriesSize"/> bytes).</summary>
    public static void WriteEntries(string traceParent, string traceState, Span<byte> destination)
    {
        var position = WriteEntry(TraceHeaders.TraceParent, traceParent, destination);
        WriteEntry(TraceHeaders.TraceState, traceState, destination[position..]);
    }

    /// <summary>Copies <paramref name="data"/> into <paramref name="destination"/> without its
    /// <c>trace_context</c> fields.</summary>
    public static void Strip(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        int position = 0, written = 0;
        while (position < data.Length)
        {
            var start = position;
            var field = NextField(data, ref position, out _);
            if (field != EventData.TraceContextFieldNumber)
            {
                data[start..position].CopyTo(destination[written..]);
                written += position - start;
            }
        }
    }

    /// <summary>The event's bytes with its trace context put back as <c>EventData.trace_context</c>: what the
    /// producer published (a dead letter keeps this).</summary>
    public static byte[] Join(ReadOnlySpan<byte> data, ReadOnlySpan<byte> entries)
    {
        Read(entries, out var traceParent, out var traceState);
        var context = new TraceContext { Traceparent = traceParent ?? "", Tracestate = traceState ?? "" };
        var size = context.CalculateSize();
        var joined = new byte[data.Length + 1 + CodedOutputStream.ComputeLengthSize(size) + size];
        data.CopyTo(joined);
        var position = data.Length;
        joined[position++] = EventDataTag;
        position += WriteVarint(joined.AsSpan(position), (uint)size);
        context.WriteTo(joined.AsSpan(position, size));
        return joined;
    }

    /// <summary>The context of <paramref name="entries"/> as a message (for a parsed event).</summary>
    public static TraceContext ToMessage(ReadOnlySpan<byte> entries)
    {
        Read(entries, out var traceParent, out var traceState);
        return new TraceContext { Traceparent = traceParent ?? "", Tracestate = traceState ?? "" };
    }

    /// <summary>Adds the entries of <paramref name="entries"/> to an envelope's <paramref name="map"/>.</summary>
    public static void AddTo(ReadOnlySpan<byte> entries, MapField<string, string> map)
    {
        Read(entries, out var traceParent, out var traceState);
        if (traceParent is not null)
        {
            map[TraceHeaders.TraceParent] = traceParent;
        }

        if (traceState is not null)
        {
            map[TraceHeaders.TraceState] = traceState;
        }
    }

    /// <summary>The <c>traceparent</c> and <c>tracestate</c> values of <paramref name="entries"/> (null when
    /// absent).</summary>
    public static void Read(ReadOnlySpan<byte> entries, out string? traceParent, out string? traceState)
    {
        traceParent = traceState = null;
        var position = 0;
        while (position < entries.Length)
        {
            position++;
            var length = (int)EventDataFields.ReadVarint(entries, ref position);
            string key = string.Empty, value = string.Empty;
            ReadPair(entries.Slice(position, length), ref key, ref value);
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

    /// <summary>Reads fields 1 and 2 (strings) of a small message: a map entry or a <see cref="TraceContext"/>;
    /// a field it does not hold keeps its value.</summary>
    private static void ReadPair(ReadOnlySpan<byte> message, ref string first, ref string second)
    {
        var position = 0;
        while (position < message.Length)
        {
            var start = position;
            var field = NextField(message, ref position, out var valueStart);
            if (message[start] == KeyTag && field == 1)
            {
                first = Encoding.UTF8.GetString(message[valueStart..position]);
            }
            else if (message[start] == ValueTag && field == 2)
            {
                second = Encoding.UTF8.GetString(message[valueStart..position]);
            }
        }
    }

    private static int EntrySize(string key, string value)
    {
        if (value.Length == 0)
        {
            return 0;
        }

        var inner = InnerSize(key, value);
        return 1 + CodedOutputStream.ComputeLengthSize(inner) + inner;
    }

    private static int InnerSize(string key, string value)
    {
        var keyLength = Encoding.UTF8.GetByteCount(key);
        var valueLength = Encoding.UTF8.GetByteCount(value);
        return 1 + CodedOutputStream.ComputeLengthSize(keyLength) + keyLength
            + 1 + CodedOutputStream.ComputeLengthSize(valueLength) + valueLength;
    }

    private static int WriteEntry(string key, string value, Span<byte> destination)
    {
        if (value.Length == 0)
        {
            return 0;
        }

        var position = 0;
        destination[position++] = EnvelopeTag;
        position += WriteVarint(destination[position..], (uint)InnerSize(key, value));
        position += WriteString(KeyTag, key, destination[position..]);
        position += WriteString(ValueTag, value, destination[position..]);
        return position;
    }

    private static int WriteString(byte tag, string value, Span<byte> destination)
    {
        destination[0] = tag;
        var length = Encoding.UTF8.GetByteCount(value);
        var position = 1 + WriteVarint(destination[1..], (uint)length);
        Encoding.UTF8.GetBytes(value, destination[position..]);
        return position + length;
    }

    private static int WriteVarint(Span<byte> destination, uint value)
    {
        var position = 0;
        while (value >= 0x80)
        {
            destination[position++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[position++] = (byte)value;
        return position;
    }

    /// <summary>Moves <paramref name="position"/> past one field and returns its number;
    /// <paramref name="valueStart"/> is where a length-delimited field's value starts.</summary>
    private static int NextField(ReadOnlySpan<byte> data, ref int position, out int valueStart)
    {
        var tag = EventDataFields.ReadVarint(data, ref position);
        valueStart = position;
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

                valueStart = position;
                position += (int)length;
                break;
            default:
                throw EventDataFields.Malformed();
        }

        return (int)(tag >> 3);
    }
}
