using Marie.Events.Protocol;

namespace Marie.Events.Broker.Topics;

/// <summary>
/// Reads the three fields the ring keeps beside an event's bytes (<c>source</c>, <c>jobid</c>, <c>event</c>) straight
/// from a serialized <see cref="EventData"/>, skipping the rest, so that an event loaded from a backend as bytes is
/// stored without being parsed into objects.
/// </summary>
internal static class EventDataFields
{
    /// <summary>Protobuf wire types (the low three bits of a tag).</summary>
    private const int Varint = 0;
    private const int Fixed64 = 1;
    private const int LengthDelimited = 2;
    private const int Fixed32 = 5;

    /// <summary>Finds the <c>source</c>, <c>jobid</c> and <c>event</c> strings of <paramref name="data"/>; a field
    /// given twice takes its last value, as a protobuf parse does. <paramref name="traceLength"/> gets the bytes of
    /// the <c>trace_context</c> field, tag included (0 for an event without one), which the ring keeps apart
    /// (<see cref="TraceContextBytes"/>).</summary>
    /// <exception cref="InvalidDataException">The bytes are not a well-formed message.</exception>
    public static void Read(
        ReadOnlySpan<byte> data,
        StringPool strings,
        out string name,
        out string source,
        out string jobId,
        out int traceLength)
    {
        name = source = jobId = string.Empty;
        traceLength = 0;
        var position = 0;
        while (position < data.Length)
        {
            var start = position;
            var tag = ReadVarint(data, ref position);
            var field = tag >> 3;
            switch ((int)(tag & 7))
            {
                case Varint:
                    ReadVarint(data, ref position);
                    break;
                case Fixed64:
                    position = Skip(data, position, 8);
                    break;
                case Fixed32:
                    position = Skip(data, position, 4);
                    break;
                case LengthDelimited:
                    var length = ReadVarint(data, ref position);
                    if (length > (ulong)(data.Length - position))
                    {
                        throw Malformed();
                    }

                    var value = data.Slice(position, (int)length);
                    position += (int)length;
                    switch (field)
                    {
                        case EventData.SourceFieldNumber:
                            source = strings.Intern(value);
                            break;
                        case EventData.JobidFieldNumber:
                            jobId = strings.Intern(value);
                            break;
                        case EventData.EventFieldNumber:
                            name = strings.Intern(value);
                            break;
                        case EventData.TraceContextFieldNumber:
                            traceLength += position - start;
                            break;
                    }

                    break;
                default:
                    throw Malformed();
            }
        }
    }

    /// <summary>The <c>id</c> of a serialized <see cref="EventData"/> (a new string; for spans, not the hot path).
    /// </summary>
    public static string ReadId(ReadOnlySpan<byte> data)
    {
        var id = string.Empty;
        var position = 0;
        while (position < data.Length)
        {
            var tag = ReadVarint(data, ref position);
            switch ((int)(tag & 7))
            {
                case Varint:
                    ReadVarint(data, ref position);
                    break;
                case Fixed64:
                    position = Skip(data, position, 8);
                    break;
                case Fixed32:
                    position = Skip(data, position, 4);
                    break;
                case LengthDelimited:
                    var length = (int)ReadVarint(data, ref position);
                    if (length < 0 || length > data.Length - position)
                    {
                        throw Malformed();
                    }

                    if (tag >> 3 == EventData.IdFieldNumber)
                    {
                        id = System.Text.Encoding.UTF8.GetString(data.Slice(position, length));
                    }

                    position += length;
                    break;
                default:
                    throw Malformed();
            }
        }

        return id;
    }

    internal static int Skip(ReadOnlySpan<byte> data, int position, int count) =>
        count <= data.Length - position ? position + count : throw Malformed();

    internal static ulong ReadVarint(ReadOnlySpan<byte> data, ref int position)
    {
        ulong value = 0;
        // A varint has at most 10 bytes of 7 bits each (64 bits).
        for (var shift = 0; shift < 70; shift += 7)
        {
            if (position >= data.Length)
            {
                throw Malformed();
            }

            var b = data[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw Malformed();
    }

    internal static InvalidDataException Malformed() => new("the stored event is not a well-formed EventData message");
}
