using System.Text.Json;
using System.Text.RegularExpressions;

namespace Marie.Events.Gateway.Tests;

/// <summary><c>deploy/grafana/marie-events.json</c> and the PromQL in <c>docs/operations.md</c> use only the
/// metric names issue 14 pins (the Prometheus exporter's translation of the <c>Marie.Events</c> instruments).</summary>
public sealed partial class GrafanaDashboardTests
{
    /// <summary>The scraped names of the instruments, as issue 14 lists them.</summary>
    public static readonly IReadOnlySet<string> PinnedNames = new HashSet<string>(StringComparer.Ordinal)
    {
        // Gauges.
        "marie_events_connections",
        "marie_events_streams",
        "marie_events_subscriptions",
        "marie_events_topics",
        "marie_events_in_flight",
        "marie_events_subscription_lag",
        "marie_events_oldest_unacked_age_seconds",
        "marie_events_ring_buffered",
        "marie_events_toast_queue_depth",
        "marie_events_dead_letters",
        "marie_events_dead_letters_oldest_age_seconds",
        // Counters.
        "marie_events_published_total",
        "marie_events_delivered_total",
        "marie_events_acked_total",
        "marie_events_redelivered_total",
        "marie_events_dropped_total",
        "marie_events_lost_total",
        "marie_events_dead_lettered_total",
        "marie_events_backpressure_signals_total",
        "marie_events_auth_failures_total",
        "marie_events_rate_limited_total",
        "marie_events_toast_retries_total",
        "marie_events_toast_gave_up_total",
        // Histograms (scraped as _bucket, _sum and _count).
        "marie_events_publish_duration_seconds",
        "marie_events_delivery_latency_seconds",
        "marie_events_ack_latency_seconds",
        "marie_events_redis_duration_seconds",
    };

    private static readonly string[] HistogramSeries = ["_bucket", "_sum", "_count"];

    [Fact]
    public void Dashboard_EveryMetricName_IsPinned()
    {
        var json = File.ReadAllText(RepoFile("deploy", "grafana", "marie-events.json"));

        var used = MetricNames(json);

        Assert.NotEmpty(used);
        Assert.All(used, name => Assert.Contains(name, PinnedNames));
    }

    [Fact]
    public void Dashboard_Panels_EachQueryAPinnedMetric()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(RepoFile("deploy", "grafana", "marie-events.json")));
        var root = json.RootElement;

        Assert.Equal("marie-events", root.GetProperty("uid").GetString());
        var panels = root.GetProperty("panels").EnumerateArray()
            .Where(p => p.GetProperty("type").GetString() != "row")
            .ToList();
        Assert.NotEmpty(panels);
        var ids = panels.Select(p => p.GetProperty("id").GetInt32()).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        foreach (var panel in panels)
        {
            var title = panel.GetProperty("title").GetString();
            var exprs = panel.GetProperty("targets").EnumerateArray()
                .Select(t => t.GetProperty("expr").GetString() ?? "")
                .ToList();
            Assert.True(exprs.Count > 0, $"panel '{title}' has no query");
            Assert.All(exprs, e => Assert.True(MetricNames(e).Count > 0, $"panel '{title}': '{e}' names no metric"));
        }
    }

    [Fact]
    public void Dashboard_KeyFigures_AllShown()
    {
        var used = MetricNames(File.ReadAllText(RepoFile("deploy", "grafana", "marie-events.json")));

        // What the dashboard is for: throughput, consumer health, the trouble signals.
        foreach (var name in new[]
                 {
                     "marie_events_published_total", "marie_events_delivered_total", "marie_events_subscription_lag",
                     "marie_events_oldest_unacked_age_seconds", "marie_events_dropped_total",
                     "marie_events_backpressure_signals_total", "marie_events_auth_failures_total",
                     "marie_events_toast_gave_up_total", "marie_events_publish_duration_seconds",
                 })
        {
            Assert.Contains(name, used);
        }
    }

    [Fact]
    public void OperationsDoc_AlertQueries_UsePinnedNames()
    {
        var doc = File.ReadAllText(RepoFile("docs", "operations.md"));

        var used = MetricNames(doc);

        Assert.Contains("marie_events_subscription_lag", used);
        Assert.Contains("marie_events_oldest_unacked_age_seconds", used);
        Assert.All(used, name => Assert.Contains(name, PinnedNames));
    }

    [Fact]
    public void MetricNames_HistogramSeriesAndUnknownName_ReducedToBaseAndKept()
    {
        var used = MetricNames(
            "rate(marie_events_ack_latency_seconds_bucket[5m]) + marie_events_made_up_total + marie_events_topics");

        Assert.Equal(
            ["marie_events_ack_latency_seconds", "marie_events_made_up_total", "marie_events_topics"],
            used.Order(StringComparer.Ordinal));
    }

    /// <summary>Every metric name in <paramref name="text"/>, a histogram's series reduced to its name.</summary>
    private static HashSet<string> MetricNames(string text)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match match in MetricName().Matches(text))
        {
            var name = match.Value;
            foreach (var series in HistogramSeries)
            {
                if (name.EndsWith(series, StringComparison.Ordinal)
                    && PinnedNames.Contains(name[..^series.Length]))
                {
                    name = name[..^series.Length];
                }
            }

            names.Add(name);
        }

        return names;
    }

    private static string RepoFile(params string[] parts)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Marie.Events.slnx")))
            {
                return Path.Combine([dir.FullName, .. parts]);
            }
        }

        throw new InvalidOperationException(
            "repo root (Marie.Events.slnx) not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex("marie_events_[a-z_]+")]
    private static partial Regex MetricName();
}
