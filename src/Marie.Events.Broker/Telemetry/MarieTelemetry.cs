namespace Marie.Events.Broker.Telemetry;

/// <summary>The one name the gateway's telemetry goes by: its <see cref="System.Diagnostics.Metrics.Meter"/> and
/// its <see cref="System.Diagnostics.ActivitySource"/> are both called this, so that an exporter, dashboard or
/// <c>dotnet-counters monitor --counters Marie.Events</c> needs one name.</summary>
public static class MarieTelemetry
{
    /// <summary><c>Marie.Events</c>.</summary>
    public const string Name = "Marie.Events";
}
