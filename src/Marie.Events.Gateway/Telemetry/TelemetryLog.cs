using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Telemetry;

/// <summary>The telemetry wiring's log lines, source-generated; event ids 9000-9049 (ledger in
/// docs/configuration.md).</summary>
internal static partial class TelemetryLog
{
    [LoggerMessage(
        EventId = 9000,
        Level = LogLevel.Information,
        Message = "Telemetry: metrics at /metrics on the admin port ({Access}), OTLP {Otlp}, "
            + "trace sample ratio {Ratio}, {TopicLabels} topic labels")]
    public static partial void Enabled(ILogger logger, string access, string otlp, double ratio, int topicLabels);

    [LoggerMessage(
        EventId = 9001,
        Level = LogLevel.Information,
        Message = "Telemetry disabled (gateway.telemetry.enabled: false): no metrics, no traces, no /metrics")]
    public static partial void Disabled(ILogger logger);
}
