using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Broker.DeadLetters;
using Proto = Marie.Events.Protocol;

namespace Marie.Events.Broker.Storage;

/// <summary>The bytes of a <see cref="DeadLetter"/>: the gRPC API's <c>marieai.events.DeadLetter</c> message
/// (dead_letters.proto), which carries all of it: the event (with its trace context), topic, sequence, subscription,
/// the last round and the earlier ones. The same in every store.</summary>
internal static class DeadLetterCodec
{
    public static byte[] Encode(DeadLetter letter) => ToProto(letter).ToByteArray();

    /// <summary>The letter as the gRPC API's message (what <see cref="Encode"/> writes).</summary>
    public static Proto.DeadLetter ToProto(DeadLetter letter)
    {
        var proto = new Proto.DeadLetter
        {
            Id = letter.Id,
            Key = letter.Key,
            Topic = letter.Topic,
            SequenceNum = letter.Sequence,
            Event = letter.Event,
            PublishedAt = Timestamp.FromDateTimeOffset(letter.PublishedAt),
            Subscription = new Proto.DeadLetterSubscription
            {
                SubscriptionId = letter.Subscription.SubscriptionId,
                ConnectionId = letter.Subscription.ConnectionId,
                DurableName = letter.Subscription.DurableName ?? "",
                Group = letter.Subscription.Group ?? "",
            },
            ReasonCode = DeadLetterReasons.Code(letter.Last.Reason),
            Reason = letter.Last.ClientReason,
            Attempts = letter.Last.Attempts,
            FirstDeliveredAt = Timestamp.FromDateTimeOffset(letter.Last.FirstDeliveredAt),
            LastDeliveredAt = Timestamp.FromDateTimeOffset(letter.Last.LastDeliveredAt),
            DeadLetteredAt = Timestamp.FromDateTimeOffset(letter.Last.DeadLetteredAt),
            DeadLetterCount = letter.Count,
        };
        proto.History.AddRange(letter.History.Select(r => new Proto.DeadLetterRound
        {
            ReasonCode = DeadLetterReasons.Code(r.Reason),
            Reason = r.ClientReason,
            Attempts = r.Attempts,
            FirstDeliveredAt = Timestamp.FromDateTimeOffset(r.FirstDeliveredAt),
            LastDeliveredAt = Timestamp.FromDateTimeOffset(r.LastDeliveredAt),
            DeadLetteredAt = Timestamp.FromDateTimeOffset(r.DeadLetteredAt),
        }));
        return proto;
    }

    public static DeadLetter Decode(ReadOnlySpan<byte> bytes)
    {
        Proto.DeadLetter proto;
        try
        {
            proto = Proto.DeadLetter.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new FormatException($"stored dead letter is not readable: {ex.Message}", ex);
        }

        if (proto.Id.Length == 0 || proto.Topic.Length == 0 || proto.Event is null || proto.Subscription is null)
        {
            throw new FormatException("stored dead letter lacks its id, topic, event or subscription");
        }

        var subscription = proto.Subscription;
        return new DeadLetter(
            proto.Id,
            proto.Key,
            proto.Topic,
            proto.SequenceNum,
            proto.Event.ToByteArray(),
            Time(proto.PublishedAt),
            new DeadLetterSubscription(
                subscription.SubscriptionId,
                subscription.ConnectionId,
                subscription.DurableName.Length == 0 ? null : subscription.DurableName,
                subscription.Group.Length == 0 ? null : subscription.Group),
            new DeadLetterRound(Reason(proto.ReasonCode), proto.Reason, proto.Attempts, Time(proto.FirstDeliveredAt),
                Time(proto.LastDeliveredAt), Time(proto.DeadLetteredAt)),
            [.. proto.History.Select(r => new DeadLetterRound(Reason(r.ReasonCode), r.Reason, r.Attempts,
                Time(r.FirstDeliveredAt), Time(r.LastDeliveredAt), Time(r.DeadLetteredAt)))]);
    }

    private static DateTimeOffset Time(Timestamp? at) => at?.ToDateTimeOffset() ?? DateTimeOffset.UnixEpoch;

    private static DeadLetterReason Reason(string code) =>
        DeadLetterReasons.TryParse(code, out var reason)
            ? reason
            : throw new FormatException($"stored dead letter has reason code '{code}', not a known one");
}
