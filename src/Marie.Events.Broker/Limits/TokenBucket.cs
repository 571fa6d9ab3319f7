namespace Marie.Events.Broker.Limits;

/// <summary>
/// A token bucket on a <see cref="TimeProvider"/>'s timestamps: holds up to <c>capacity</c> tokens, refilled at
/// <c>ratePerSecond</c>; each message takes one. Used by one reader at a time (a connection's read loop), so it
/// takes no lock.
/// </summary>
internal sealed class TokenBucket
{
    private readonly TimeProvider _time;
    private readonly double _capacity;
    private readonly double _ratePerSecond;
    private double _tokens;
    private long _lastRefill;

    public TokenBucket(TimeProvider time, int ratePerSecond, int capacity)
    {
        _time = time;
        _ratePerSecond = ratePerSecond;
        _capacity = capacity;
        _tokens = capacity;
        _lastRefill = time.GetTimestamp();
    }

    /// <summary>Takes a token; false (and nothing taken) when the bucket is empty.</summary>
    public bool TryTake()
    {
        var now = _time.GetTimestamp();
        var elapsed = _time.GetElapsedTime(_lastRefill, now).TotalSeconds;
        if (elapsed > 0)
        {
            _tokens = Math.Min(_capacity, _tokens + (elapsed * _ratePerSecond));
            _lastRefill = now;
        }

        if (_tokens < 1)
        {
            return false;
        }

        _tokens -= 1;
        return true;
    }

    /// <summary>Milliseconds until the next token (at least 1).</summary>
    public int MillisecondsUntilNext() => Math.Max(1, (int)Math.Ceiling((1 - _tokens) / _ratePerSecond * 1000));
}
