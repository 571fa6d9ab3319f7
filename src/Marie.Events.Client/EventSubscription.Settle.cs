using System.Text;
using Marie.Events.Client.Internal;
using Marie.Events.Protocol;

namespace Marie.Events.Client;

/// <summary>The settle verbs of a received event: nack, terminate, extend (written at once, not batched: each must
/// reach the gateway before any ack that could cover its event).</summary>
public sealed partial class EventSubscription
{
    /// <summary>The gateway keeps at most this many bytes of UTF-8 of a reason (and refuses a longer one).</summary>
    internal const int MaxReasonBytes = 1024;

    internal async ValueTask<bool> NackAsync(ReceivedEvent received, TimeSpan delay, string? reason,
        CancellationToken cancellationToken)
    {
        var delayMs = CheckWait(delay, nameof(delay));
        CheckReason(reason);
        if (Closed || !received.TrySettle())
        {
            return false;
        }

        long sessionId;
        string ackId;
        lock (_gate)
        {
            if (_trackers.GetValueOrDefault(received.Topic) is not { } tracker
                || !tracker.TryGetDelivery(received.SequenceNum, received.Generation, out sessionId, out ackId))
            {
                return false;
            }

            // Given back before the nack is written: the redelivery it causes is handed over again.
            tracker.OnGivenBack(received.SequenceNum, received.Generation);
        }

        var message = new AckMessage
        {
            SubscriptionId = Id,
            Nack = new Nack { AckIds = { ackId }, DelayMs = delayMs, Reason = reason ?? "" },
        };
        return await SendVerbAsync("nack", received, sessionId, message, cancellationToken).ConfigureAwait(false);
    }

    internal async ValueTask<bool> TerminateAsync(ReceivedEvent received, string? reason,
        CancellationToken cancellationToken)
    {
        CheckReason(reason);
        if (Closed || !received.TrySettle())
        {
            return false;
        }

        if (!TryGetDelivery(received, out var sessionId, out var ackId))
        {
            return false;
        }

        var message = new AckMessage
        {
            SubscriptionId = Id,
            Terminate = new Terminate { AckIds = { ackId }, Reason = reason ?? "" },
        };
        var sent = await SendVerbAsync("terminate", received, sessionId, message, cancellationToken)
            .ConfigureAwait(false);
        ProcessedOutcome outcome;
        lock (_gate)
        {
            var tracker = _trackers.GetValueOrDefault(received.Topic);
            if (!sent)
            {
                // Not dead-lettered: the resumed stream's copy is handed over again.
                tracker?.OnGivenBack(received.SequenceNum, received.Generation);
                return false;
            }

            // Only now, after the terminate is written, may the resume point (and so a cumulative ack) pass it.
            outcome = tracker?.OnProcessed(received.SequenceNum, received.Generation) ?? default;
        }

        if (outcome.Ack.IsCumulative)
        {
            // An individual ack is not needed (the terminate settled the event); a cumulative one covers others.
            _client.QueueAck(Id, outcome.Ack);
        }

        return true;
    }

    internal async ValueTask<bool> ExtendAsync(ReceivedEvent received, TimeSpan by,
        CancellationToken cancellationToken)
    {
        var ms = CheckWait(by, nameof(by));
        if (Closed || received.IsSettled || !TryGetDelivery(received, out var sessionId, out var ackId))
        {
            return false;
        }

        var message = new AckMessage { SubscriptionId = Id, Extend = new Extend { AckIds = { ackId }, ExtendMs = ms } };
        return await SendVerbAsync("extend", received, sessionId, message, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Automatic extension (<see cref="AckLease"/>): queues an extend without waiting; false when nothing
    /// was queued (settled, processed, or its stream has ended).</summary>
    internal bool TryExtendInBackground(ReceivedEvent received, long extendMs)
    {
        if (Closed || received.IsSettled || !TryGetDelivery(received, out var sessionId, out var ackId)
            || _client.SessionFor(sessionId) is not { } session)
        {
            return false;
        }

        session.Send(new ClientMessage
        {
            Ack = new AckMessage
            {
                SubscriptionId = Id,
                Extend = new Extend { AckIds = { ackId }, ExtendMs = extendMs },
            },
        });
        return true;
    }

    private bool TryGetDelivery(ReceivedEvent received, out long sessionId, out string ackId)
    {
        lock (_gate)
        {
            if (_trackers.GetValueOrDefault(received.Topic) is { } tracker
                && tracker.TryGetDelivery(received.SequenceNum, received.Generation, out sessionId, out ackId))
            {
                return true;
            }
        }

        (sessionId, ackId) = (0, "");
        return false;
    }

    private async ValueTask<bool> SendVerbAsync(string verb, ReceivedEvent received, long sessionId,
        AckMessage message, CancellationToken cancellationToken)
    {
        if (_client.SessionFor(sessionId) is { } session
            && await session.SendAsync(new ClientMessage { Ack = message }, cancellationToken).ConfigureAwait(false))
        {
            return true;
        }

        ClientLog.SettleNotSent(_client.Logger, verb, received.Topic, received.SequenceNum, Id);
        return false;
    }

    /// <summary>A nack delay or extension in whole milliseconds, within the gateway's maximum when known.</summary>
    private long CheckWait(TimeSpan wait, string name)
    {
        if (wait < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, wait, "must not be negative");
        }

        var max = Limits?.MaxAckExtension;
        if (max > TimeSpan.Zero && wait > max)
        {
            throw new ArgumentOutOfRangeException(name, wait,
                $"must be at most the gateway's max_ack_extension_s ({max.Value.TotalMilliseconds:F0} ms)");
        }

        // Rounded up: a wait below a millisecond still asks for one.
        return (long)Math.Ceiling(wait.TotalMilliseconds);
    }

    private static void CheckReason(string? reason)
    {
        if (reason is not null && Encoding.UTF8.GetByteCount(reason) > MaxReasonBytes)
        {
            throw new ArgumentException(
                $"a reason may be at most {MaxReasonBytes} bytes of UTF-8 (got {Encoding.UTF8.GetByteCount(reason)})",
                nameof(reason));
        }
    }
}
