namespace Marie.Events.LoadTest.Infra;

/// <summary>
/// Publish-to-receive latencies, recorded lock-free from many subscriber loops: one counter per microsecond up to
/// 100 ms, then one per millisecond up to 60 s (a slower one counts in the last bucket). Percentiles are exact to a
/// microsecond below 100 ms.
/// </summary>
internal sealed class LatencyHistogram
{
    /// <summary>Microsecond resolution up to this many microseconds (100 ms).</summary>
    private const int FineLimitMicros = 100_000;

    /// <summary>Millisecond buckets from 100 ms up to 60 s.</summary>
    private const int CoarseBuckets = 60_000;

    private readonly long[] _fine = new long[FineLimitMicros];
    private readonly long[] _coarse = new long[CoarseBuckets];
    private long _count;

    public long Count => Interlocked.Read(ref _count);

    public void Record(double micros)
    {
        if (micros < 0)
        {
            micros = 0;
        }

        if (micros < FineLimitMicros)
        {
            Interlocked.Increment(ref _fine[(int)micros]);
        }
        else
        {
            var ms = (int)Math.Min(CoarseBuckets - 1, micros / 1000);
            Interlocked.Increment(ref _coarse[ms]);
        }

        Interlocked.Increment(ref _count);
    }

    /// <summary>Adds <paramref name="other"/>'s samples (a round's) to this one (the target's over all
    /// rounds).</summary>
    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < _fine.Length; i++)
        {
            Interlocked.Add(ref _fine[i], Interlocked.Read(ref other._fine[i]));
        }

        for (var i = 0; i < _coarse.Length; i++)
        {
            Interlocked.Add(ref _coarse[i], Interlocked.Read(ref other._coarse[i]));
        }

        Interlocked.Add(ref _count, other.Count);
    }

    /// <summary>The latency in milliseconds below which <paramref name="percentile"/> percent of samples
    /// fall.</summary>
    public double PercentileMs(double percentile)
    {
        var total = Count;
        if (total == 0)
        {
            return double.NaN;
        }

        var rank = (long)Math.Ceiling(total * percentile / 100.0);
        long seen = 0;
        for (var i = 0; i < _fine.Length; i++)
        {
            seen += Interlocked.Read(ref _fine[i]);
            if (seen >= rank)
            {
                return (i + 1) / 1000.0;
            }
        }

        for (var i = 0; i < _coarse.Length; i++)
        {
            seen += Interlocked.Read(ref _coarse[i]);
            if (seen >= rank)
            {
                return i + 1;
            }
        }

        return CoarseBuckets;
    }
}
