namespace Marie.Events.Gateway.Logging;

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
