namespace Marie.Events.Client.Internal;

/// <summary>
/// Exponential backoff with jitter: attempt <c>n</c> (0 = the first retry) waits
/// <c>min(max, initial × 2^n)</c>, spread uniformly by ± <c>jitter</c> of itself, then capped at <c>max</c>.
/// </summary>
internal sealed class ReconnectBackoff(TimeSpan initial, TimeSpan max, double jitter, Func<double> random)
{
    /// <summary>Past this many doublings the delay is at its maximum anyway (2^30 × 1 tick already exceeds any sane
    /// max), and the shift must not overflow.</summary>
    private const int MaxDoublings = 30;

    public ReconnectBackoff(EventStreamClientOptions options)
        : this(
            options.ReconnectInitialDelay,
            options.ReconnectMaxDelay,
            options.ReconnectJitter,
            Random.Shared.NextDouble)
    {
    }

    /// <summary>The delay before retry number <paramref name="attempt"/> (0-based).</summary>
    public TimeSpan Delay(int attempt)
    {
        var doublings = Math.Clamp(attempt, 0, MaxDoublings);
        var baseTicks = Math.Min((double)max.Ticks, initial.Ticks * Math.Pow(2, doublings));
        var spread = 1 + (jitter * ((2 * random()) - 1));
        var ticks = Math.Min(max.Ticks, baseTicks * spread);
        return TimeSpan.FromTicks((long)Math.Max(0, ticks));
    }
}
