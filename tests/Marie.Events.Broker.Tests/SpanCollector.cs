using System.Collections.Concurrent;
using System.Diagnostics;
using Marie.Events.Broker.Telemetry;

namespace Marie.Events.Broker.Tests;

/// <summary>Records every span of <see cref="MarieTelemetry.Name"/> that ends while it listens (all data, every
/// span sampled). Listeners are process-wide, so tests pick their own spans out by trace id.</summary>
public sealed class SpanCollector : IDisposable
{
    private readonly ConcurrentQueue<Activity> _spans = new();
    private readonly ActivityListener _listener;

    public SpanCollector()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == MarieTelemetry.Name,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) =>
                ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _spans.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    /// <summary>The ended spans of <paramref name="traceId"/>, in the order they ended.</summary>
    public List<Activity> Of(ActivityTraceId traceId) => _spans.Where(s => s.TraceId == traceId).ToList();

    public void Dispose() => _listener.Dispose();
}

/// <summary>A producer's W3C context, made up for a test.</summary>
public sealed record ProducerContext(ActivityTraceId TraceId, ActivitySpanId SpanId)
{
    public static ProducerContext New() => new(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom());

    public string TraceParent => $"00-{TraceId}-{SpanId}-01";
}
