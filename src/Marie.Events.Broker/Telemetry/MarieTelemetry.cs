namespace Marie.Events.Broker.Telemetry;

/// <summary>The one name the gateway's telemetry goes by: its <see cref="System.Diagnostics.Metrics.Meter"/> and
/// its <see cref="System.Diagnostics.ActivitySource"/> are both called this, so that an exporter, dashboard or
/// <c>dotnet-counters monitor --counters Marie.Events</c> needs one name.</summary>
public static class MarieTelemetry
{
    /// <summary><c>Marie.Events</c>.</summary>
    public const string Name = "Marie.Events";

    /// <summary>Topics that get a metric <c>topic</c> label of their own by default
    /// (<c>gateway.telemetry.max_topic_labels</c>): enough for a dashboard's topic list, few enough that a scrape
    /// stays small (each labelled topic is some ten series).</summary>
    public const int DefaultMaxTopicLabels = 100;

    /// <summary>One event in this many has its delivery and ack latency recorded by default
    /// (<c>gateway.telemetry.latency_sample_every</c>): a histogram record per delivery and per ack cost W1 some
    /// 10 % of its CPU per delivery (docs/performance.md); one in 8 keeps the distribution's shape at a
    /// few hundred samples a second on a busy gateway.</summary>
    public const int DefaultLatencySampleEvery = 8;

    /// <summary>Largest <c>latency_sample_every</c>.</summary>
    public const int MaxLatencySampleEvery = 1024;

    /// <summary>The bucket boundaries, in seconds, of every duration histogram of the meter (publish, delivery, ack,
    /// Redis): from 100 µs (a delivery on an idle gateway) to 10 s (an ack after a long processing step), about
    /// three per decade. OpenTelemetry's default boundaries (0 to 10 000) are meant for milliseconds.</summary>
    public static IReadOnlyList<double> DurationBuckets { get; } =
    [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ];
}
