using System.Buffers.Text;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

/// <summary>
/// One message for a stream's writer: either a <see cref="ServerMessage"/>, or an event delivery whose envelope is
/// written straight from the event's cached wire bytes plus the few fields that differ per delivery (ack id,
/// subscription id, attempt). The ack id is written as its UTF-8 prefix (fixed per subscription topic) followed by
/// the sequence number's digits: no string per delivery. The bytes are exactly those of the equivalent
/// <see cref="ServerMessage"/>. A writer owns a frame or two and refills them with
/// <see cref="BrokerConnection.TryReadFrame"/>: a frame is serialized before the write call returns, so it can be
/// reused for the next message.
/// </summary>
public sealed class OutboundFrame
{
    // Protobuf tags: (field number << 3) | wire type, wire type 0 = varint, 2 = length-delimited.
    private const byte ServerMessageEventTag = (1 << 3) | 2;
    private const byte AckIdTag = (1 << 3) | 2;
    private const byte SubscriptionIdTag = (2 << 3) | 2;
    private const byte SequenceNumTag = (3 << 3) | 0;
    private const byte EventTag = (4 << 3) | 2;
    private const byte PublishedAtTag = (5 << 3) | 2;
    private const byte DeliveryAttemptTag = (6 << 3) | 0;

    /// <summary>Digits of the longest int64.</summary>
    private const int MaxSequenceDigits = 19;

    private ServerMessage? _message;
    private StoredEvent? _event;
    private byte[]? _ackPrefix;
    private byte[]? _subscriptionId;
    private int _attempt;

    /// <summary>Lets go of the frame's message or event once it is written: a frame kept by an idle stream's writer
    /// would otherwise keep its last message (a heartbeat with its maps, about 1 KiB) or pin its event's ring chunk.
    /// </summary>
    public void Clear()
    {
        _message = null;
        _event = null;
        _ackPrefix = _subscriptionId = null;
        _attempt = 0;
    }

    internal void Set(ServerMessage message)
    {
        Clear();
        _message = message;
    }

    /// <param name="stored">The event.</param>
    /// <param name="ackPrefix">The ack id's UTF-8 start; the event's sequence number completes it.</param>
    /// <param name="subscriptionId">The subscription id, UTF-8.</param>
    /// <param name="attempt">The delivery attempt.</param>
    internal void Set(StoredEvent stored, byte[] ackPrefix, byte[] subscriptionId, int attempt)
    {
        _message = null;
        _event = stored;
        _ackPrefix = ackPrefix;
        _subscriptionId = subscriptionId;
        _attempt = attempt;
    }

    /// <summary>A marshaller that writes frames (the server never reads them back).</summary>
    /// <remarks>
    /// It is here, on a broker type, because writing straight into gRPC's <see cref="SerializationContext"/> (the
    /// payload length first, then the buffer writer, the envelope's size computed once) is what the frame is for:
    /// the gateway's stream writer uses it as the response marshaller of <c>StreamEvents</c>. Outside this class it
    /// would need a second public way to write a frame with its size known in advance, for that one caller. It adds
    /// no transport dependency to the broker: <c>Grpc.Core.Api</c> comes with <c>Marie.Events.Protocol</c> (the
    /// generated service bases and clients) in any case.
    /// </remarks>
    public static Marshaller<OutboundFrame> Marshaller { get; } = new(
        static (frame, context) => frame.Serialize(context),
        static _ => throw new NotSupportedException("outbound frames are written by the server, never read"));

    /// <summary>Whether this frame is an event delivery.</summary>
    public bool IsEvent => _event is not null;

    /// <summary>The frame as a message object (allocates; the writer uses <see cref="Marshaller"/> instead).</summary>
    public ServerMessage ToMessage()
    {
        if (_message is not null)
        {
            return _message;
        }

        var stored = Stored;
        var message = new ServerMessage
        {
            Event = new EventEnvelope
            {
                AckId = Encoding.UTF8.GetString(_ackPrefix!) + stored.Sequence.ToString(CultureInfo.InvariantCulture),
                SubscriptionId = Encoding.UTF8.GetString(_subscriptionId!),
                SequenceNum = stored.Sequence,
                // The envelope's event, as the frame writes it: its trace context is in the envelope's field 7.
                Event = stored.HasTraceContext ? EventData.Parser.ParseFrom(stored.DataBytes) : stored.Data,
                PublishedAt = stored.PublishedAt,
                DeliveryAttempt = _attempt,
            },
        };
        if (stored.HasTraceContext)
        {
            TraceContextBytes.AddTo(stored.TraceContextBytes, message.Event.TraceContext);
        }

        return message;
    }

    /// <summary>The serialized size in bytes.</summary>
    public int CalculateSize() => _message?.CalculateSize() ?? 1 + VarintSize((uint)EnvelopeSize()) + EnvelopeSize();

    private void Serialize(SerializationContext context)
    {
        if (_message is not null)
        {
            var size = _message.CalculateSize();
            context.SetPayloadLength(size);
            var writer = context.GetBufferWriter();
            _message.WriteTo(writer);
            context.Complete();
            return;
        }

        var envelopeSize = EnvelopeSize();
        var total = 1 + VarintSize((uint)envelopeSize) + envelopeSize;
        context.SetPayloadLength(total);
        var buffer = context.GetBufferWriter();
        var span = buffer.GetSpan(total);
        WriteEvent(span, envelopeSize);
        buffer.Advance(total);
        context.Complete();
    }

    /// <summary>
    /// Writes the frame into <paramref name="destination"/> (at least <see cref="CalculateSize"/> bytes).
    /// </summary>
    public int WriteTo(Span<byte> destination)
    {
        if (_message is not null)
        {
            var bytes = _message.ToByteArray();
            bytes.CopyTo(destination);
            return bytes.Length;
        }

        var envelopeSize = EnvelopeSize();
        return WriteEvent(destination, envelopeSize);
    }

    /// <summary>The event of an event frame; an empty frame (new or cleared) has nothing to write.</summary>
    private StoredEvent Stored => _event
        ?? throw new InvalidOperationException(
            "the frame is empty: fill it with BrokerConnection.TryReadFrame before writing it");

    private int EnvelopeSize()
    {
        _ = Stored;
        var ackIdLength = AckIdLength();
        var size = 1 + VarintSize((uint)ackIdLength) + ackIdLength;
        if (_subscriptionId!.Length > 0)
        {
            size += 1 + VarintSize((uint)_subscriptionId.Length) + _subscriptionId.Length;
        }

        if (_event!.Sequence != 0)
        {
            size += 1 + VarintSize((ulong)_event.Sequence);
        }

        size += 1 + VarintSize((uint)_event.DataBytes.Length) + _event.DataBytes.Length;
        size += 1 + VarintSize((uint)_event.PublishedAtBytes.Length) + _event.PublishedAtBytes.Length;
        if (_attempt != 0)
        {
            size += 1 + VarintSize((ulong)(long)_attempt);
        }

        // The trace context's entries are stored with their tags and lengths (empty when none).
        size += _event.TraceContextBytes.Length;
        return size;
    }

    private int WriteEvent(Span<byte> span, int envelopeSize)
    {
        var position = 0;
        span[position++] = ServerMessageEventTag;
        position += WriteVarint(span[position..], (uint)envelopeSize);
        span[position++] = AckIdTag;
        position += WriteVarint(span[position..], (uint)AckIdLength());
        var ackPrefix = _ackPrefix!;
        ackPrefix.CopyTo(span[position..]);
        position += ackPrefix.Length;
        Utf8Formatter.TryFormat(_event!.Sequence, span[position..], out var digits);
        position += digits;
        if (_subscriptionId!.Length > 0)
        {
            position += WriteBytes(span[position..], SubscriptionIdTag, _subscriptionId);
        }

        if (_event!.Sequence != 0)
        {
            span[position++] = SequenceNumTag;
            position += WriteVarint(span[position..], (ulong)_event.Sequence);
        }

        position += WriteBytes(span[position..], EventTag, _event.DataBytes);
        position += WriteBytes(span[position..], PublishedAtTag, _event.PublishedAtBytes);
        if (_attempt != 0)
        {
            span[position++] = DeliveryAttemptTag;
            // int32 fields encode negative values sign-extended to 64 bits, as protobuf does.
            position += WriteVarint(span[position..], (ulong)(long)_attempt);
        }

        var trace = _event.TraceContextBytes;
        trace.CopyTo(span[position..]);
        return position + trace.Length;
    }

    /// <summary>The ack id's length in bytes: its prefix and the sequence number's decimal digits.</summary>
    private int AckIdLength()
    {
        Span<byte> digits = stackalloc byte[MaxSequenceDigits];
        Utf8Formatter.TryFormat(_event!.Sequence, digits, out var count);
        return _ackPrefix!.Length + count;
    }

    private static int WriteBytes(Span<byte> span, byte tag, ReadOnlySpan<byte> bytes)
    {
        span[0] = tag;
        var position = 1 + WriteVarint(span[1..], (uint)bytes.Length);
        bytes.CopyTo(span[position..]);
        return position + bytes.Length;
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

    private static int WriteVarint(Span<byte> span, ulong value)
    {
        var position = 0;
        while (value >= 0x80)
        {
            span[position++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[position++] = (byte)value;
        return position;
    }
}
