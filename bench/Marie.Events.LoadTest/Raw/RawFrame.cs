using System.Buffers.Text;
using Google.Protobuf;
using Grpc.Core;

namespace Marie.Events.LoadTest.Raw;

/// <summary>
/// One write of the raw server: a <c>ServerMessage</c> whose event envelope is put together from the event's bytes
/// and the subscription's (ack_id = prefix + sequence, subscription_id, sequence_num, event, published_at,
/// delivery_attempt = 1): the bytes a generated <c>ServerMessage</c> would serialize to.
/// <para>
/// It writes the same envelope as the broker's <c>OutboundFrame</c> on purpose, in code of its own: the raw server
/// is the baseline the gateway is measured against, so it references neither the broker nor the gateway, and a
/// change to the broker's writer (faster or slower) shows in the gateway's figures, not in the baseline's.
/// </para>
/// </summary>
internal sealed class RawFrame
{
    // Protobuf tags: (field << 3) | wire type (0 varint, 2 length-delimited).
    private const byte EventField = (1 << 3) | 2;
    private const byte AckIdField = (1 << 3) | 2;
    private const byte SubscriptionIdField = (2 << 3) | 2;
    private const byte SequenceField = (3 << 3) | 0;
    private const byte DataField = (4 << 3) | 2;
    private const byte PublishedAtField = (5 << 3) | 2;
    private const byte AttemptField = (6 << 3) | 0;

    /// <summary>Longest decimal int64 (19 digits).</summary>
    private const int MaxSequenceDigits = 19;

    private RawItem _item;

    public static Marshaller<RawFrame> Marshaller { get; } = new(
        static (frame, context) => frame.Serialize(context),
        static _ => throw new NotSupportedException("frames are only written"));

    public void Set(in RawItem item) => _item = item;

    private void Serialize(SerializationContext context)
    {
        if (_item.Message is { } message)
        {
            var bytes = message.ToByteArray();
            context.Complete(bytes);
            return;
        }

        var subscription = _item.Subscription!;
        var evt = _item.Event!;
        Span<byte> digits = stackalloc byte[MaxSequenceDigits];
        Utf8Formatter.TryFormat(evt.Sequence, digits, out var digitCount);
        var ackLength = subscription.AckPrefix.Length + digitCount;
        var envelope = 1 + CodedOutputStream.ComputeLengthSize(ackLength) + ackLength
            + 1 + CodedOutputStream.ComputeLengthSize(subscription.IdBytes.Length) + subscription.IdBytes.Length
            + 1 + CodedOutputStream.ComputeInt64Size(evt.Sequence)
            + 1 + CodedOutputStream.ComputeLengthSize(evt.Data.Length) + evt.Data.Length
            + 1 + CodedOutputStream.ComputeLengthSize(evt.PublishedAt.Length) + evt.PublishedAt.Length
            + 1 + 1;
        var total = 1 + CodedOutputStream.ComputeLengthSize(envelope) + envelope;
        context.SetPayloadLength(total);
        var writer = context.GetBufferWriter();
        var span = writer.GetSpan(total);
        var position = 0;
        span[position++] = EventField;
        position += Varint(span[position..], (ulong)envelope);
        span[position++] = AckIdField;
        position += Varint(span[position..], (ulong)ackLength);
        subscription.AckPrefix.CopyTo(span[position..]);
        position += subscription.AckPrefix.Length;
        digits[..digitCount].CopyTo(span[position..]);
        position += digitCount;
        position += Bytes(span[position..], SubscriptionIdField, subscription.IdBytes);
        span[position++] = SequenceField;
        position += Varint(span[position..], (ulong)evt.Sequence);
        position += Bytes(span[position..], DataField, evt.Data);
        position += Bytes(span[position..], PublishedAtField, evt.PublishedAt);
        span[position++] = AttemptField;
        span[position++] = 1;
        writer.Advance(position);
        context.Complete();
    }

    private static int Bytes(Span<byte> span, byte tag, byte[] bytes)
    {
        span[0] = tag;
        var position = 1 + Varint(span[1..], (ulong)bytes.Length);
        bytes.CopyTo(span[position..]);
        return position + bytes.Length;
    }

    private static int Varint(Span<byte> span, ulong value)
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
