namespace Marie.Events.Broker;

/// <summary>Dead letters: retention per key and the pace of replays (<c>toast.grpc.broker.dead_letters.*</c>,
/// defaults in docs/configuration.md).</summary>
public sealed class DeadLetterOptions
{
    /// <summary>Dead letters kept per key; the oldest goes first (<c>max_count</c>, default 10000).</summary>
    public int MaxCount { get; set; } = 10_000;

    /// <summary>Seconds a dead letter is kept (<c>max_age_s</c>, default 604800: seven days).</summary>
    public double MaxAgeSeconds { get; set; } = 604_800;

    /// <summary>Dead letters a key may replay per second, and at once (<c>replay_per_second</c>, default 100).
    /// </summary>
    public int ReplayPerSecond { get; set; } = 100;

    /// <summary>Returns the first invalid setting as (key, message), or null when all are valid.</summary>
    public (string Key, string Message)? Validate()
    {
        if (MaxCount < 1) return ("dead_letters.max_count", $"must be at least 1 (got {MaxCount})");
        if (!(MaxAgeSeconds > 0)) return ("dead_letters.max_age_s", $"must be greater than 0 (got {MaxAgeSeconds})");
        if (ReplayPerSecond < 1)
            return ("dead_letters.replay_per_second", $"must be at least 1 (got {ReplayPerSecond})");
        return null;
    }
}
