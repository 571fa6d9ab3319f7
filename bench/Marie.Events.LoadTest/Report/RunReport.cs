using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Marie.Events.LoadTest.Report;

/// <summary>Everything one run measured, written as JSON and Markdown.</summary>
internal sealed class RunReport
{
    public required string Command { get; init; }

    public required string Mode { get; init; }

    public required DateTimeOffset Started { get; init; }

    public double DurationSeconds { get; set; }

    public required MachineInfo Machine { get; init; }

    public List<WorkloadReport> Workloads { get; } = [];

    public List<string> Notes { get; } = [];

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public string ToMarkdown()
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine(
            inv,
            $"Run {Started:yyyy-MM-dd HH:mm} UTC, {Mode}, {DurationSeconds:F0} s: `{Command}`").AppendLine();
        md.AppendLine(
            inv,
            $"Machine: {Machine.Cores} cores, {Machine.MemoryGiB:F1} GiB, {Machine.Os}, .NET {Machine.Runtime}, "
                + $"{Machine.NatsServer}; load average before {Machine.LoadBefore}, after "
                + $"{Machine.LoadAfter}.").AppendLine();
        foreach (var workload in Workloads)
        {
            md.AppendLine(inv, $"### {workload.Id}: {workload.Title}").AppendLine();
            md.Append(workload.ToMarkdownTable());
            foreach (var ratio in workload.Ratios)
            {
                md.AppendLine(inv, $"- {ratio}");
            }

            foreach (var note in workload.Notes)
            {
                md.AppendLine(inv, $"- {note}");
            }

            md.AppendLine();
        }

        foreach (var note in Notes)
        {
            md.AppendLine(inv, $"- {note}");
        }

        return md.ToString();
    }
}

internal sealed record MachineInfo(
    int Cores,
    double MemoryGiB,
    string Os,
    string Runtime,
    string NatsServer,
    string LoadBefore)
{
    public string LoadAfter { get; set; } = "";
}

/// <summary>One workload: a row per target with named figures, then ratios and notes.</summary>
internal sealed class WorkloadReport(string id, string title)
{
    public string Id { get; } = id;

    public string Title { get; } = title;

    public List<TargetRow> Rows { get; } = [];

    public List<string> Ratios { get; } = [];

    public List<string> Notes { get; } = [];

    public TargetRow? Row(string target) => Rows.FirstOrDefault(r => r.Target == target);

    /// <summary>Adds "ours / other" for a figure, for each other target that has it.</summary>
    public void AddRatios(string metric, string label)
    {
        // Each of our rows (ours: generated stubs; ours-client: the client library; ours-base: a baseline build)
        // against the other servers; ours against its baseline build.
        foreach (var mine in Rows.Where(r => IsOurs(r.Target)))
        {
            if (mine.Get(metric) is not { } value || double.IsNaN(value))
            {
                continue;
            }

            foreach (var other in Rows.Where(r => !IsOurs(r.Target)
                || (mine.Target == "ours" && r.Target == "ours-base")))
            {
                if (other.Get(metric) is { } theirs && theirs > 0 && !double.IsNaN(theirs))
                {
                    Ratios.Add(string.Create(
                        CultureInfo.InvariantCulture,
                        $"{label}: {mine.Target} / {other.Target} = {value / theirs:F2}"));
                }
            }
        }
    }

    private static bool IsOurs(string target) =>
        target == "ours" || target.StartsWith("ours-", StringComparison.Ordinal);

    public string ToMarkdownTable()
    {
        var metrics = Rows.SelectMany(r => r.Metrics.Keys).Distinct().ToList();
        var md = new StringBuilder();
        md.Append("| target | ").AppendJoin(" | ", metrics.Select(Metrics.Label)).AppendLine(" |");
        md.Append("|---|").AppendJoin("", metrics.Select(_ => "---:|")).AppendLine();
        foreach (var row in Rows)
        {
            md.Append("| ").Append(row.Target).Append(" | ")
                .AppendJoin(" | ", metrics.Select(m => row.Get(m) is { } v ? Metrics.Format(m, v) : "n/a"))
                .AppendLine(" |");
        }

        md.AppendLine();
        return md.ToString();
    }
}

internal sealed class TargetRow(string target)
{
    public string Target { get; } = target;

    /// <summary>Figures in the order they were added (the table's columns).</summary>
    public Dictionary<string, double> Metrics { get; } = [];

    /// <summary>Per-round headline figure (deliveries/s, replayed/s), to show the spread.</summary>
    public List<double> Rounds { get; } = [];

    public string? Note { get; set; }

    public double? Get(string metric) => Metrics.TryGetValue(metric, out var v) ? v : null;

    public TargetRow Set(string metric, double value)
    {
        Metrics[metric] = value;
        return this;
    }
}

/// <summary>Names and formats of the figures.</summary>
internal static class Metrics
{
    public const string DeliveriesPerSecond = "deliveries_per_s";
    public const string EventsPerSecond = "events_per_s";
    public const string ServerCpuPerMillion = "server_cpu_s_per_m";
    public const string DriverCpuPerMillion = "driver_cpu_s_per_m";
    public const string OtherLoad = "other_cpu_cores";
    public const string Lost = "events_lost";
    public const string KibPerStream = "rss_kib_per_stream";
    public const string IdleCpu = "idle_cpu_pct";
    public const string RssMib = "rss_mib";
    public const string FileDescriptors = "open_fds";
    public const string Rate = "rate_events_per_s";
    public const string P50 = "p50_ms";
    public const string P99 = "p99_ms";
    public const string P999 = "p999_ms";
    public const string Saturated = "saturated";
    public const string ReplayedPerSecond = "replayed_per_s";
    public const string Streams = "streams";
    public const string RedisCpuPerMillion = "redis_cpu_s_per_m";
    public const string RedisCpuUsPerEvent = "redis_cpu_us_per_event";
    public const string UniquePerSecond = "unique_events_per_s";
    public const string Missing = "events_missing";
    public const string Duplicates = "duplicates";
    public const string SendsPerThousand = "server_sends_per_k";
    public const string SwitchesPerThousand = "server_switches_per_k";
    public const string GcPauseMsPerSecond = "gc_pause_ms_per_s";
    public const string GcMaxPauseMs = "gc_max_pause_ms";
    public const string AllocatedBytesPerEvent = "allocated_bytes_per_event";

    public static string Label(string metric) => metric switch
    {
        DeliveriesPerSecond => "deliveries/s",
        EventsPerSecond => "events/s",
        ServerCpuPerMillion => "server CPU s / M deliveries",
        DriverCpuPerMillion => "load generator CPU s / M",
        OtherLoad => "other processes (cores)",
        Lost => "lost",
        KibPerStream => "RSS KiB / stream",
        IdleCpu => "idle CPU (% of a core)",
        RssMib => "server RSS MiB",
        FileDescriptors => "server open fds",
        Rate => "publish rate (events/s)",
        P50 => "p50 ms",
        P99 => "p99 ms",
        P999 => "p99.9 ms",
        Saturated => "kept up",
        ReplayedPerSecond => "replayed events/s",
        Streams => "streams",
        RedisCpuPerMillion => "redis-server CPU s / M deliveries",
        RedisCpuUsPerEvent => "redis-server CPU µs / event",
        UniquePerSecond => "events/s (distinct, delivered)",
        Missing => "missing",
        Duplicates => "duplicates",
        SendsPerThousand => "server TCP sends / 1,000 deliveries",
        SwitchesPerThousand => "server context switches / 1,000 deliveries",
        GcPauseMsPerSecond => "GC pauses ms / s",
        GcMaxPauseMs => "longest GC pause ms",
        AllocatedBytesPerEvent => "allocated bytes / event",
        _ => metric,
    };

    public static string Format(string metric, double value) => metric switch
    {
        Saturated => value > 0 ? "no" : "yes",
        ServerCpuPerMillion or RedisCpuPerMillion or RedisCpuUsPerEvent or DriverCpuPerMillion or OtherLoad or P50
            or P99 or P999 or IdleCpu or GcPauseMsPerSecond or GcMaxPauseMs
            => value.ToString("F2", CultureInfo.InvariantCulture),
        KibPerStream or SendsPerThousand or SwitchesPerThousand => value.ToString("F1", CultureInfo.InvariantCulture),
        _ => value.ToString("N0", CultureInfo.InvariantCulture),
    };
}
