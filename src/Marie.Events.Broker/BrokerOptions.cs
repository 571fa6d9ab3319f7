using Marie.Events.Broker.Limits;

namespace Marie.Events.Broker;

/// <summary>
/// Broker settings: Marie-AI's <c>toast.grpc.broker.*</c> keys, with Marie-AI's defaults (documented in
/// docs/configuration.md).
/// </summary>
public sealed class BrokerOptions
{
    /// <summary>Events kept per topic for replay (<c>replay_size</c>, default 200).</summary>
    public int ReplaySize { get; set; } = 200;

    /// <summary>Hard cap on unacknowledged events per subscription (<c>max_in_flight</c>, default 100).</summary>
    public int MaxInFlight { get; set; } = 100;

    /// <summary>
    /// Seconds after its last send before an unacked event is sent again (<c>ack_timeout_s</c>, default 30).
    /// </summary>
    public double AckTimeoutSeconds { get; set; } = 30.0;

    /// <summary>Seconds between server heartbeats (<c>heartbeat_interval_s</c>, default 15).</summary>
    public double HeartbeatIntervalSeconds { get; set; } = 15.0;

    /// <summary>Seconds between redelivery checks (<c>redelivery_delay_s</c>, default 5).</summary>
    public double RedeliveryDelaySeconds { get; set; } = 5.0;

    /// <summary>
    /// Percent of <see cref="MaxInFlight"/> at which a backpressure signal is sent
    /// (<c>backpressure_threshold_pct</c>, default 80).
    /// </summary>
    public int BackpressureThresholdPct { get; set; } = 80;

    /// <summary>
    /// Deliveries of one event in all before it is dropped (<c>max_redelivery_attempts</c>, default 5).
    /// </summary>
    public int MaxRedeliveryAttempts { get; set; } = 5;

    /// <summary>
    /// Control messages (confirms, errors) a connection may have queued before reading its client's next message
    /// waits for the writer (default 256). Bounds a stream's memory when its client sends but never reads.
    /// </summary>
    public int MaxQueuedControlMessages { get; set; } = 256;

    /// <summary>Default <c>max_events</c> for <c>GetReplayBuffer</c> when the request gives 0 (default 100).</summary>
    public int DefaultReplayMaxEvents { get; set; } = 100;

    /// <summary>
    /// Longest wait one <c>extend</c> or <c>nack</c> may ask for, and longest <c>redelivery_backoff_ms</c> entry
    /// (<c>max_ack_extension_s</c>, default 300).
    /// </summary>
    public double MaxAckExtensionSeconds { get; set; } = 300.0;

    /// <summary>Dead-letter retention and replay (<c>dead_letters.*</c>).</summary>
    public DeadLetterOptions DeadLetters { get; set; } = new();

    /// <summary>Durable subscriptions: inactive TTL and state saves (<c>durable.*</c>).</summary>
    public DurableOptions Durable { get; set; } = new();

    /// <summary>Bounds on what one client may ask (the gateway's <c>gateway.limits.*</c>).</summary>
    public BrokerLimits Limits { get; set; } = new();

    /// <summary>Returns the first invalid setting as (key, message), or null when all are valid.</summary>
    public (string Key, string Message)? Validate()
    {
        if (ReplaySize < 1) return ("replay_size", $"must be at least 1 (got {ReplaySize})");
        if (MaxInFlight < 1) return ("max_in_flight", $"must be at least 1 (got {MaxInFlight})");
        if (!(AckTimeoutSeconds > 0)) return ("ack_timeout_s", $"must be greater than 0 (got {AckTimeoutSeconds})");
        if (!(HeartbeatIntervalSeconds > 0))
            return ("heartbeat_interval_s", $"must be greater than 0 (got {HeartbeatIntervalSeconds})");
        if (!(RedeliveryDelaySeconds > 0))
            return ("redelivery_delay_s", $"must be greater than 0 (got {RedeliveryDelaySeconds})");
        if (BackpressureThresholdPct is < 1 or > 100)
            return ("backpressure_threshold_pct", $"must be between 1 and 100 (got {BackpressureThresholdPct})");
        if (MaxRedeliveryAttempts < 1)
            return ("max_redelivery_attempts", $"must be at least 1 (got {MaxRedeliveryAttempts})");
        if (MaxQueuedControlMessages < 1)
            return ("max_queued_control_messages", $"must be at least 1 (got {MaxQueuedControlMessages})");
        if (DefaultReplayMaxEvents < 1)
            return ("default_replay_max_events", $"must be at least 1 (got {DefaultReplayMaxEvents})");
        if (!(MaxAckExtensionSeconds > 0))
            return ("max_ack_extension_s", $"must be greater than 0 (got {MaxAckExtensionSeconds})");
        if (DeadLetters is null) return ("dead_letters", "must be set");
        if (DeadLetters.Validate() is { } deadLetters) return deadLetters;
        if (Durable is null) return ("durable", "must be set");
        if (Durable.Validate() is { } durable) return durable;
        return Limits is null ? ("limits", "must be set") : Limits.Validate();
    }
}
