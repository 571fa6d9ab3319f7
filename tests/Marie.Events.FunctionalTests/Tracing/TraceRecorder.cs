using System.Collections.Concurrent;
using System.Diagnostics;
using Marie.Events.Broker.Telemetry;

namespace Marie.Events.FunctionalTests.Tracing;

/// <summary>
/// Records the gateway's spans (source <see cref="MarieTelemetry.Name"/>) of the traces a test names, and only
/// those: listeners are process-wide and other tests' gateways run in this process at the same time, so a span of
/// another trace, or a new root, is not sampled (its event keeps no context, as with no listener).
/// </summary>
public sealed class TraceRecorder : IDisposable
{
    private readonly ConcurrentDictionary<ActivityTraceId, byte> _traces = new();
    private readonly ConcurrentQueue<Activity> _spans = new();
    private readonly SemaphoreSlim _ended = new(0);
    private readonly ActivityListener _listener;

    public TraceRecorder()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == MarieTelemetry.Name,
            Sample = Sample,
            ActivityStopped = Ended,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    /// <summary>A new producer context whose trace this recorder records.</summary>
    public (ActivityTraceId TraceId, ActivitySpanId SpanId, string TraceParent) NewProducer()
    {
        var traceId = ActivityTraceId.CreateRandom();
        var spanId = ActivitySpanId.CreateRandom();
        _traces[traceId] = 0;
        return (traceId, spanId, $"00-{traceId}-{spanId}-01");
    }

    /// <summary>Waits until the trace holds <paramref name="count"/> ended spans (or fails after the gateway
    /// timeout), then returns them in the order they ended.</summary>
    public async Task<List<Activity>> WaitForAsync(ActivityTraceId traceId, int count)
    {
        using var timeout = new CancellationTokenSource(Infrastructure.GatewayFixture.Timeout);
        while (true)
        {
            var spans = _spans.Where(s => s.TraceId == traceId).ToList();
            if (spans.Count >= count)
            {
                return spans;
            }

            try
            {
                // Woken by every span that ends (any trace), then checked again.
                await _ended.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new Xunit.Sdk.XunitException(
                    $"trace {traceId}: {spans.Count} spans of {count} ({string.Join(", ", spans.Select(Name))})");
            }
        }
    }

    private void Ended(Activity span)
    {
        if (_traces.ContainsKey(span.TraceId))
        {
            _spans.Enqueue(span);
            _ended.Release();
        }
    }

    private static string Name(Activity span) => span.DisplayName;

    private ActivitySamplingResult Sample(ref ActivityCreationOptions<ActivityContext> options) =>
        _traces.ContainsKey(options.Parent.TraceId)
            ? ActivitySamplingResult.AllDataAndRecorded
            : ActivitySamplingResult.None;

    public void Dispose()
    {
        _listener.Dispose();
        _ended.Dispose();
    }
}
