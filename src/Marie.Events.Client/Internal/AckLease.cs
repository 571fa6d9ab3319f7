namespace Marie.Events.Client.Internal;

/// <summary>
/// Automatic extension of one event's ack deadline while its handler runs (like Pub/Sub's lease management): shortly
/// before the deadline the gateway would redeliver it, the client sends an <c>extend</c>, again and again, until the
/// handler returns (dispose), the event is settled, or <see cref="SubscriptionOptions.MaxAutoExtension"/> after its
/// arrival. The deadline is counted from when the client read the event, a little after the gateway sent it: the
/// margin covers that.
/// </summary>
internal sealed class AckLease : IDisposable
{
    /// <summary>The longest margin before a deadline: a few seconds cover a slow write and a busy machine.</summary>
    private static readonly TimeSpan MaxMargin = TimeSpan.FromSeconds(5);

    /// <summary>The margin a wait gets when half of it allows: a timer and a write late by most of a second on a
    /// loaded machine still arrive in time.</summary>
    private static readonly TimeSpan PreferredMargin = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private readonly EventSubscription _subscription;
    private readonly ReceivedEvent _received;
    private readonly TimeProvider _time;
    private readonly TimeSpan _extendBy;
    private readonly TimeSpan _limit;
    private readonly ITimer _timer;

    /// <summary>The deadline the gateway works to, as time since the event's arrival.</summary>
    private TimeSpan _deadline;

    private bool _disposed;

    private AckLease(EventSubscription subscription, ReceivedEvent received, TimeProvider time, TimeSpan wait,
        TimeSpan extendBy, TimeSpan limit)
    {
        _subscription = subscription;
        _received = received;
        _time = time;
        _extendBy = extendBy;
        _limit = limit;
        _deadline = wait;
        var due = wait - Margin(wait) - time.GetElapsedTime(received.ReceivedAt);
        _timer = time.CreateTimer(static s => ((AckLease)s!).Tick(), this,
            due > TimeSpan.Zero ? due : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Starts extending <paramref name="received"/>; null when the gateway reported no limits (no known
    /// deadline).</summary>
    public static AckLease? Start(EventSubscription subscription, ReceivedEvent received, SettleLimits? limits,
        TimeSpan limit, TimeProvider time)
    {
        if (limits is null || limits.MaxAckExtension <= TimeSpan.Zero)
        {
            return null;
        }

        var wait = limits.AckDeadlineAfter(received.DeliveryAttempt);
        if (wait <= TimeSpan.Zero)
        {
            return null;
        }

        // Each extension asks for the subscription's usual wait, as one extend may be at most the gateway's maximum.
        var extendBy = wait < limits.MaxAckExtension ? wait : limits.MaxAckExtension;
        return new AckLease(subscription, received, time, wait, extendBy, limit);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
        }

        _timer.Dispose();
    }

    /// <summary>How long before a deadline the extend goes out: a fifth of the wait, but at least
    /// <see cref="PreferredMargin"/> and at most <see cref="MaxMargin"/>, and never more than half the wait (so that
    /// a short wait is extended twice per wait, not continuously).</summary>
    private static TimeSpan Margin(TimeSpan wait)
    {
        var margin = TimeSpan.FromTicks(Math.Clamp((wait / 5).Ticks, PreferredMargin.Ticks, MaxMargin.Ticks));
        return margin < wait / 2 ? margin : wait / 2;
    }

    private void Tick()
    {
        lock (_gate)
        {
            if (_disposed || _received.IsSettled)
            {
                return;
            }

            var now = _time.GetElapsedTime(_received.ReceivedAt);
            var target = now + _extendBy < _limit ? now + _extendBy : _limit;
            if (target <= _deadline || target <= now)
            {
                ClientLog.AutoExtensionLimit(_subscription.Logger, _received.Topic, _received.SequenceNum,
                    _subscription.Id, (long)now.TotalMilliseconds);
                return;
            }

            var by = target - now;
            var ms = (long)Math.Ceiling(by.TotalMilliseconds);
            if (!_subscription.TryExtendInBackground(_received, ms))
            {
                // Settled, processed, or its stream has ended: nothing to keep alive.
                return;
            }

            _deadline = target;
            ClientLog.AutoExtended(_subscription.Logger, _received.Topic, _received.SequenceNum, _subscription.Id, ms);
            _timer.Change(by - Margin(by), Timeout.InfiniteTimeSpan);
        }
    }
}
