using System.Diagnostics;
using System.Diagnostics.Metrics;
using Marie.Events.Broker.Telemetry;

namespace Marie.Events.Backends.Redis;

/// <summary><c>marie.events.redis.duration</c>: how long Redis took to answer the backend, by operation
/// (<c>append</c>: the publish script; <c>read</c>: a range of the log; <c>describe</c>: topic figures), failures
/// included. Recorded only while a listener is enabled.</summary>
internal sealed class RedisMetrics
{
    private readonly Histogram<double>? _duration;

    public RedisMetrics(IMeterFactory? meterFactory)
    {
        _duration = meterFactory?.Create(MarieTelemetry.Name).CreateHistogram(
            "marie.events.redis.duration",
            "s",
            "How long Redis took to answer the backend, by operation (append, read, describe).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = MarieTelemetry.DurationBuckets });
    }

    /// <summary>A timestamp for <see cref="Record"/>; 0 when nothing listens.</summary>
    public long Start() => _duration is { Enabled: true } ? Stopwatch.GetTimestamp() : 0;

    public void Record(long started, string operation)
    {
        if (started != 0)
        {
            _duration?.Record(
                Stopwatch.GetElapsedTime(started).TotalSeconds,
                new KeyValuePair<string, object?>("operation", operation));
        }
    }
}
