using Marie.Events.Broker.Limits;

namespace Marie.Events.Broker;

/// <summary>The broker options turned into the values the hot paths use, computed once.</summary>
internal sealed class Settings
{
    /// <summary>While a subscription stays over the threshold, the signal repeats at most this often (1 s).</summary>
    public static readonly TimeSpan BackpressureRepeat = TimeSpan.FromSeconds(1);

    // The recommended delay runs from 100 ms at the threshold to 1,000 ms at the cap (docs/protocol.md).
    private const int MinDelayMs = 100;
    private const int DelaySpanMs = 900;

    public Settings(BrokerOptions options)
    {
        ReplaySize = options.ReplaySize;
        MaxInFlight = options.MaxInFlight;
        AckTimeout = TimeSpan.FromSeconds(options.AckTimeoutSeconds);
        HeartbeatInterval = TimeSpan.FromSeconds(options.HeartbeatIntervalSeconds);
        RedeliveryInterval = TimeSpan.FromSeconds(options.RedeliveryDelaySeconds);
        MaxAttempts = options.MaxRedeliveryAttempts;
        BackpressureThreshold = Math.Max(
            1,
            (int)Math.Ceiling(options.MaxInFlight * options.BackpressureThresholdPct / 100.0));
        MaxQueuedControl = options.MaxQueuedControlMessages;
        DefaultReplayMaxEvents = options.DefaultReplayMaxEvents;
        Limits = options.Limits;
        MaxAckExtension = TimeSpan.FromSeconds(options.MaxAckExtensionSeconds);
        DeadLetters = options.DeadLetters;
    }

    /// <summary>Reasons a client gives with nack or terminate are at most this many UTF-8 bytes (1 KiB, the
    /// issue's bound: enough for an exception message, small enough that a full dead-letter store stays
    /// bounded).</summary>
    public const int MaxReasonBytes = 1024;

    /// <summary>Entries a subscription's <c>redelivery_backoff_ms</c> may have (JetStream's BackOff lists are a few
    /// entries; 32 leaves room and bounds a subscription's memory).</summary>
    public const int MaxBackoffEntries = 32;

    public TimeSpan MaxAckExtension { get; }

    public DeadLetterOptions DeadLetters { get; }

    public int ReplaySize { get; }

    public int MaxInFlight { get; }

    public TimeSpan AckTimeout { get; }

    public TimeSpan HeartbeatInterval { get; }

    public TimeSpan RedeliveryInterval { get; }

    public int MaxAttempts { get; }

    /// <summary>Unacked events at which backpressure is signalled: ceil(max_in_flight * pct / 100).</summary>
    public int BackpressureThreshold { get; }

    public int MaxQueuedControl { get; }

    public int DefaultReplayMaxEvents { get; }

    /// <summary>The client limits (not copied: set before the broker is created, never changed after).</summary>
    public BrokerLimits Limits { get; }

    /// <summary>100 + 900 * (pending - threshold) / max(1, max_in_flight - threshold), in milliseconds.</summary>
    public int RecommendedDelayMs(int pending)
    {
        var over = Math.Clamp(pending - BackpressureThreshold, 0, MaxInFlight);
        return MinDelayMs + (int)((long)DelaySpanMs * over / Math.Max(1, MaxInFlight - BackpressureThreshold));
    }
}
