using Marie.Events.Protocol;

namespace Marie.Events.Broker.Subscriptions;

/// <summary>
/// A subscription's settle limits: deliveries in all (at most the server's <c>max_redelivery_attempts</c>) and the
/// wait after each delivery before the next (its <c>redelivery_backoff_ms</c>, else <c>ack_timeout_s</c> each time).
/// Waits are kept as <see cref="TimeProvider"/> timestamp ticks, so the redelivery check adds, never converts. A
/// subscription that asks for neither shares the broker's default policy (no allocation per subscription).
/// </summary>
internal sealed class RedeliveryPolicy
{
    private readonly long[] _waitTicks;

    private RedeliveryPolicy(int maxAttempts, TimeSpan[] waits, TimeProvider time)
    {
        MaxAttempts = maxAttempts;
        Waits = waits;
        _waitTicks = [.. waits.Select(w => ToTicks(w, time))];
    }

    public int MaxAttempts { get; }

    /// <summary>The waits: entry i follows the (i+1)-th delivery; the last one repeats.</summary>
    public IReadOnlyList<TimeSpan> Waits { get; }

    /// <summary>True when the waits are the client's backoff list (not the ack timeout).</summary>
    public bool HasBackoff { get; private init; }

    /// <summary>The broker's policy: <c>max_redelivery_attempts</c>, <c>ack_timeout_s</c> after every
    /// delivery.</summary>
    public static RedeliveryPolicy Default(Settings settings, TimeProvider time) =>
        new(settings.MaxAttempts, [settings.AckTimeout], time);

    /// <summary>The policy a subscribe request asks for, or the error text and field of a bad one.</summary>
    public static (RedeliveryPolicy? Policy, string? Field, string? Problem) For(
        SubscribeRequest request,
        RedeliveryPolicy broker,
        Settings settings,
        TimeProvider time)
    {
        if (request.MaxRedeliveryAttempts < 0)
        {
            return (null, "max_redelivery_attempts",
                $"max_redelivery_attempts must be 0 (the server's) or more (got {request.MaxRedeliveryAttempts})");
        }

        var backoff = request.RedeliveryBackoffMs;
        if (backoff.Count > Settings.MaxBackoffEntries)
        {
            return (null, "redelivery_backoff_ms",
                $"redelivery_backoff_ms may have at most {Settings.MaxBackoffEntries} entries (got {backoff.Count})");
        }

        var maxMs = (long)settings.MaxAckExtension.TotalMilliseconds;
        foreach (var ms in backoff)
        {
            if (ms < 1 || ms > maxMs)
            {
                return (null, "redelivery_backoff_ms",
                    $"redelivery_backoff_ms entries must be 1 to {maxMs} (max_ack_extension_s) ms (got {ms})");
            }
        }

        // At most the server's: a subscription may ask for fewer deliveries, never more.
        var attempts = request.MaxRedeliveryAttempts == 0
            ? broker.MaxAttempts
            : Math.Min(request.MaxRedeliveryAttempts, broker.MaxAttempts);
        if (backoff.Count == 0 && attempts == broker.MaxAttempts)
        {
            return (broker, null, null);
        }

        var waits = backoff.Count == 0
            ? [settings.AckTimeout]
            : backoff.Select(ms => TimeSpan.FromMilliseconds(ms)).ToArray();
        return (new RedeliveryPolicy(attempts, waits, time) { HasBackoff = backoff.Count > 0 }, null, null);
    }

    /// <summary>Ticks to wait after delivery number <paramref name="attempt"/> (1 = the first).</summary>
    public long WaitTicksAfter(int attempt) => _waitTicks[Math.Min(attempt, _waitTicks.Length) - 1];

    public static long ToTicks(TimeSpan span, TimeProvider time) =>
        (long)(span.TotalSeconds * time.TimestampFrequency);
}
