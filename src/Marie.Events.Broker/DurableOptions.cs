namespace Marie.Events.Broker;

/// <summary>Durable subscriptions (<c>toast.grpc.broker.durable.*</c>, defaults in docs/configuration.md).</summary>
public sealed class DurableOptions
{
    /// <summary>Seconds a durable subscription no stream holds is kept before it is removed
    /// (<c>inactive_ttl_s</c>, default 86400: a day, long enough for a consumer down overnight).</summary>
    public double InactiveTtlSeconds { get; set; } = 86_400;

    /// <summary>Milliseconds between saves of changed durable state to the backend (<c>flush_interval_ms</c>,
    /// default 200). A restart redelivers what was acknowledged in the last interval (never loses what was not).
    /// </summary>
    public int FlushIntervalMs { get; set; } = 200;

    /// <summary>Milliseconds a gateway's lease on a durable subscription runs unless renewed, with a store other
    /// gateways share (Redis; <c>lease_ttl_ms</c>, default 10000: a crashed gateway's durables are free again
    /// within 10 s, and renewals every third of it let a lease survive a missed renewal, a Redis blip or a pause of
    /// up to a third of the TTL, before the gateway stops delivering).</summary>
    public int LeaseTtlMs { get; set; } = 10_000;

    /// <summary>The smallest <see cref="LeaseTtlMs"/>: a renewal (a third of it) must fit a Redis round trip and
    /// a timer's lateness with room to spare.</summary>
    public const int MinLeaseTtlMs = 1_000;

    /// <summary>Returns the first invalid setting as (key, message), or null when all are valid.</summary>
    public (string Key, string Message)? Validate()
    {
        if (!(InactiveTtlSeconds > 0))
            return ("durable.inactive_ttl_s", $"must be greater than 0 (got {InactiveTtlSeconds})");
        if (FlushIntervalMs < 1)
            return ("durable.flush_interval_ms", $"must be at least 1 (got {FlushIntervalMs})");
        if (LeaseTtlMs < MinLeaseTtlMs)
            return ("durable.lease_ttl_ms", $"must be at least {MinLeaseTtlMs} (got {LeaseTtlMs})");
        return null;
    }
}
