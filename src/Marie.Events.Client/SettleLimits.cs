using Marie.Events.Protocol;

namespace Marie.Events.Client;

/// <summary>
/// A subscription's effective settle limits, as the gateway reports them in its <c>SubscriptionConfirm</c>: how many
/// deliveries an event gets before it is dead-lettered, the wait after each delivery before the next, and the longest
/// one extension or nack delay may be.
/// </summary>
/// <param name="MaxRedeliveryAttempts">Deliveries of one event in all before it is dead-lettered.</param>
/// <param name="RedeliveryBackoff">The wait after each delivery before the next (entry i after delivery i + 1; the
/// last repeats). Empty: <paramref name="AckTimeout"/> each time.</param>
/// <param name="AckTimeout">The gateway's ack timeout (the wait when there is no backoff list).</param>
/// <param name="MaxAckExtension">The longest one <see cref="ReceivedEvent.ExtendAsync"/>, nack delay or backoff
/// entry may be.</param>
public sealed record SettleLimits(
    int MaxRedeliveryAttempts,
    IReadOnlyList<TimeSpan> RedeliveryBackoff,
    TimeSpan AckTimeout,
    TimeSpan MaxAckExtension)
{
    /// <summary>How long the gateway waits for a settle after delivery number <paramref name="deliveryAttempt"/>
    /// (1 = the first) before it delivers the event again.</summary>
    public TimeSpan AckDeadlineAfter(int deliveryAttempt) =>
        RedeliveryBackoff.Count == 0
            ? AckTimeout
            : RedeliveryBackoff[Math.Clamp(deliveryAttempt, 1, RedeliveryBackoff.Count) - 1];

    /// <summary>The limits of a confirm; null when the gateway reports none (one without the settle
    /// verbs).</summary>
    internal static SettleLimits? From(SubscriptionConfirm confirm) =>
        confirm.AckTimeoutMs <= 0
            ? null
            : new SettleLimits(
                confirm.MaxRedeliveryAttempts,
                [.. confirm.RedeliveryBackoffMs.Select(ms => TimeSpan.FromMilliseconds(ms))],
                TimeSpan.FromMilliseconds(confirm.AckTimeoutMs),
                TimeSpan.FromMilliseconds(confirm.MaxAckExtensionMs));
}
