using System.Diagnostics.Metrics;
using Marie.Events.Broker.Telemetry;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Streams;
using Marie.Events.Gateway.Toast;

namespace Marie.Events.Gateway.Telemetry;

/// <summary>
/// The gateway's own instruments on the <see cref="MarieTelemetry.Name"/> meter (the broker's are in
/// <c>Marie.Events.Broker.Telemetry</c>; docs/metrics.md lists all): open streams, the Toast queue, auth failures,
/// Toast retries and give-ups, read from existing counters when collected, and the publish duration, recorded by
/// <c>EventPublisherService</c>. Without a meter factory (<c>gateway.telemetry.enabled: false</c>) it records
/// nothing.
/// </summary>
internal sealed class GatewayMetrics
{
    private readonly TimeProvider _time;
    private readonly Histogram<double>? _publishDuration;

    public GatewayMetrics(
        IMeterFactory? meterFactory,
        TimeProvider time,
        StreamRegistry streams,
        ToastPipeline toast,
        AuthFailureLogs authFailures)
    {
        _time = time;
        if (meterFactory is null)
        {
            return;
        }

        var meter = meterFactory.Create(MarieTelemetry.Name);
        meter.CreateObservableGauge("marie.events.streams", () => streams.Count, "{stream}",
            "Open gRPC streams (StreamEvents and PublishStream).");
        meter.CreateObservableGauge("marie.events.toast.queue.depth", () => toast.Grpc?.Stats().QueueDepth ?? 0,
            "{event}", "Events accepted by the gRPC toast handler and not yet filed with the broker.");
        meter.CreateObservableCounter("marie.events.auth.failures", () => authFailures.Failures, "{failure}",
            "Requests refused for a missing, malformed, unknown or disabled key (gRPC and admin API).");
        meter.CreateObservableCounter("marie.events.toast.retries", () => toast.Grpc?.Stats().PublishRetries ?? 0,
            "{retry}", "Retries the gRPC toast handler scheduled after a failed publish attempt.");
        meter.CreateObservableCounter("marie.events.toast.gave_up", () => toast.Grpc?.Stats().EventsGivenUp ?? 0,
            "{event}", "Events the gRPC toast handler gave up after its maximum attempts.");
        _publishDuration = meter.CreateHistogram("marie.events.publish.duration", "s",
            "From a publish request to its answer (sequence number assigned), answered requests only.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = MarieTelemetry.DurationBuckets });
    }

    /// <summary>A timestamp to pass to <see cref="PublishAnswered"/>; 0 when nothing listens.</summary>
    public long PublishStarted() => _publishDuration is { Enabled: true } ? _time.GetTimestamp() : 0;

    /// <summary>Records the duration of a publish started at <paramref name="started"/> (from
    /// <see cref="PublishStarted"/>; 0: not measured).</summary>
    public void PublishAnswered(long started)
    {
        if (started != 0)
        {
            _publishDuration?.Record(_time.GetElapsedTime(started).TotalSeconds);
        }
    }
}
