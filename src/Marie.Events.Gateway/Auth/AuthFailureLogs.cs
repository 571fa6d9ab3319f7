namespace Marie.Events.Gateway.Auth;

/// <summary>
/// Keeps a flood of failed authentications from flooding the log: each kind of failure line is written at most
/// <see cref="PerSecond"/> times a second; the failures not written are counted and reported in one line with the
/// next one written.
/// </summary>
internal sealed class AuthFailureLogs(TimeProvider time)
{
    /// <summary>Failure lines written per second and kind: enough to see an attack begin, few enough that a flood
    /// of bad keys costs the log nothing.</summary>
    public const int PerSecond = 10;

    /// <summary>gRPC calls (<c>gRPC auth failed: invalid or missing token</c>).</summary>
    public LogThrottle Grpc { get; } = new(time, PerSecond);

    /// <summary>Admin API requests.</summary>
    public LogThrottle Admin { get; } = new(time, PerSecond);

    /// <summary>Failed authentications so far, gRPC and admin API (each one asks its throttle once).</summary>
    public long Failures => Grpc.Calls + Admin.Calls;
}

/// <summary>At most N log lines per one-second window; counts the rest.</summary>
internal sealed class LogThrottle(TimeProvider time, int perSecond)
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private long _windowStart = time.GetTimestamp();
    private int _written;
    private long _suppressed;
    private long _calls;

    /// <summary>Times <see cref="TryEnter"/> was called, written or not.</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>True when this line may be written; <paramref name="suppressedBefore"/> is then the count of lines
    /// dropped since the last one written (0 when none).</summary>
    public bool TryEnter(out long suppressedBefore)
    {
        Interlocked.Increment(ref _calls);
        var now = time.GetTimestamp();
        lock (_gate)
        {
            if (time.GetElapsedTime(_windowStart, now) >= Window)
            {
                _windowStart = now;
                _written = 0;
            }

            if (_written >= perSecond)
            {
                _suppressed++;
                suppressedBefore = 0;
                return false;
            }

            _written++;
            suppressedBefore = _suppressed;
            _suppressed = 0;
            return true;
        }
    }
}
