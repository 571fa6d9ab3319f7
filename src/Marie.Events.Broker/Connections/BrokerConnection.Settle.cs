using System.Globalization;
using System.Text;
using Marie.Events.Broker.Subscriptions;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

/// <summary>The settle verbs: <c>nack</c>, <c>terminate</c>, <c>extend</c>. Unlike an individual ack, which ignores
/// ids it does not know, a verb answers ids that are not in flight on this stream with
/// <c>ERROR_UNKNOWN_ACK_ID</c> (the others of the message are settled): a client that means to dead-letter or delay an
/// event should learn that it did not.</summary>
public sealed partial class BrokerConnection
{
    /// <summary>An unknown id is echoed in the error up to this many characters (ack ids are ~30).</summary>
    private const int MaxEchoedIdLength = 128;

    private void SettleVerb(AckMessage ack)
    {
        var (field, ids) = ack.AckModeCase switch
        {
            AckMessage.AckModeOneofCase.Nack => ("nack", ack.Nack.AckIds),
            AckMessage.AckModeOneofCase.Terminate => ("terminate", ack.Terminate.AckIds),
            _ => ("extend", ack.Extend.AckIds),
        };

        if (CheckSettleArguments(ack, field) is not { } ticks)
        {
            return;
        }

        var reason = ack.AckModeCase switch
        {
            AckMessage.AckModeOneofCase.Nack => ack.Nack.Reason,
            AckMessage.AckModeOneofCase.Terminate => ack.Terminate.Reason,
            _ => null,
        };

        var now = Broker.Time.GetTimestamp();
        var unknown = 0;
        string? firstUnknown = null;
        foreach (var ackId in ids)
        {
            var outcome = SettleOutcome.Unknown;
            if (AckId.TryParse(ackId, Tag, out var subscriptionNumber, out var topicNumber, out var sequence)
                && Find(subscriptionNumber) is { } subscription)
            {
                lock (subscription.Gate)
                {
                    outcome = ack.AckModeCase switch
                    {
                        AckMessage.AckModeOneofCase.Nack =>
                            subscription.Nack(topicNumber, sequence, ticks, reason, now),
                        AckMessage.AckModeOneofCase.Terminate =>
                            subscription.Terminate(topicNumber, sequence, reason, now),
                        _ => subscription.Extend(topicNumber, sequence, ticks, now),
                    };
                }
            }

            if (outcome == SettleOutcome.Unknown)
            {
                unknown++;
                firstUnknown ??= ackId.Length <= MaxEchoedIdLength ? ackId : ackId[..MaxEchoedIdLength];
            }
        }

        if (unknown > 0)
        {
            EnqueueError(
                ack.SubscriptionId,
                ErrorCode.ErrorUnknownAckId,
                $"{unknown} of the {field}'s ack ids are not in flight on this stream (unknown, already settled, or "
                    + "another stream's); the others were settled",
                ("field", field + ".ack_ids"),
                ("unknown", unknown.ToString(CultureInfo.InvariantCulture)),
                ("first", firstUnknown!));
        }
    }

    /// <summary>Checks a verb's delay, extension and reason; answers a bad one and returns null, else the wait in
    /// timestamp ticks (0 for terminate and for a zero delay or extension).</summary>
    private long? CheckSettleArguments(AckMessage ack, string field)
    {
        var (ms, msField, reason) = ack.AckModeCase switch
        {
            AckMessage.AckModeOneofCase.Nack => (ack.Nack.DelayMs, "nack.delay_ms", ack.Nack.Reason),
            AckMessage.AckModeOneofCase.Terminate => (0L, "", ack.Terminate.Reason),
            _ => (ack.Extend.ExtendMs, "extend.extend_ms", ""),
        };

        if (ms < 0)
        {
            EnqueueError(ack.SubscriptionId, ErrorCode.ErrorInvalidRequest,
                $"{msField} must be 0 or more (got {ms})", ("field", msField));
            return null;
        }

        var max = Broker.Settings.MaxAckExtension;
        if (ms > max.TotalMilliseconds)
        {
            var maxMs = ((long)max.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
            EnqueueError(ack.SubscriptionId, ErrorCode.ErrorAckExtensionLimit,
                $"{msField} asks for {ms} ms, over max_ack_extension_s ({maxMs} ms); nothing was changed",
                ("field", msField), ("max_ms", maxMs));
            return null;
        }

        if (Encoding.UTF8.GetByteCount(reason) > Settings.MaxReasonBytes)
        {
            var maxBytes = Settings.MaxReasonBytes.ToString(CultureInfo.InvariantCulture);
            EnqueueError(ack.SubscriptionId, ErrorCode.ErrorInvalidRequest,
                $"{field}.reason is longer than {maxBytes} bytes of UTF-8; nothing was changed",
                ("field", field + ".reason"), ("max_bytes", maxBytes));
            return null;
        }

        return RedeliveryPolicy.ToTicks(TimeSpan.FromMilliseconds(ms), Broker.Time);
    }
}
