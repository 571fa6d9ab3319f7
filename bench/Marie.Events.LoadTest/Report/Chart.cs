using System.Globalization;
using ScottPlot;

namespace Marie.Events.LoadTest.Report;

/// <summary>The results chart (PNG, drawn with ScottPlot): W1 deliveries/s and server CPU per delivery, and W4 p99
/// latency at each rate, for ours, raw gRPC and JetStream.</summary>
internal static class Chart
{
    private const int Width = 1500;
    private const int Height = 480;

    private static readonly Dictionary<string, Color> Colors = new()
    {
        ["ours"] = new Color(31, 119, 180),
        ["ours-client"] = new Color(44, 160, 44),
        ["ours-base"] = new Color(148, 103, 189),
        ["raw-grpc"] = new Color(127, 127, 127),
        ["jetstream-ackall"] = new Color(255, 127, 14),
        ["jetstream-ackexplicit"] = new Color(214, 39, 40),
    };

    public static bool Write(RunReport report, string path)
    {
        var w1 = report.Workloads.FirstOrDefault(w => w.Id == "W1");
        var w4 = report.Workloads.Where(w => w.Id == "W4").ToList();
        if (w1 is null || w4.Count == 0)
        {
            return false;
        }

        var multiplot = new Multiplot();
        multiplot.AddPlots(3);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        SimpleBars(multiplot.GetPlot(0), "W1: deliveries/s (higher is better)", w1, Metrics.DeliveriesPerSecond, "N0");
        SimpleBars(
            multiplot.GetPlot(1),
            "W1: server CPU s per M deliveries (lower is better)",
            w1,
            Metrics.ServerCpuPerMillion,
            "F2");
        GroupedBars(multiplot.GetPlot(2), "W4: p99 latency, ms (lower is better)", w4);
        multiplot.SavePng(path, Width, Height);
        return true;
    }

    private static void SimpleBars(Plot plot, string title, WorkloadReport workload, string metric, string format)
    {
        var rows = workload.Rows.Where(r => r.Get(metric) is not null).ToList();
        var bars = rows.Select((row, i) => new Bar
        {
            Position = i,
            Value = row.Get(metric)!.Value,
            FillColor = ColorOf(row.Target),
            Label = row.Get(metric)!.Value.ToString(format, CultureInfo.InvariantCulture),
        }).ToList();
        var plottable = plot.Add.Bars(bars);
        plottable.ValueLabelStyle.FontSize = 11;
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            [.. rows.Select((_, i) => (double)i)], [.. rows.Select(r => Short(r.Target))]);
        plot.Axes.Margins(bottom: 0, top: 0.15);
        plot.Title(title, 13);
    }

    private static void GroupedBars(Plot plot, string title, List<WorkloadReport> rates)
    {
        var targets = rates.SelectMany(w => w.Rows.Select(r => r.Target)).Distinct().ToList();
        var bars = new List<Bar>();
        var ticks = new List<(double, string)>();
        for (var g = 0; g < rates.Count; g++)
        {
            var origin = g * (targets.Count + 1);
            for (var t = 0; t < targets.Count; t++)
            {
                if (rates[g].Row(targets[t])?.Get(Metrics.P99) is { } p99 && !double.IsNaN(p99))
                {
                    bars.Add(new Bar
                    {
                        Position = origin + t,
                        Value = p99,
                        FillColor = ColorOf(targets[t]),
                        Label = p99.ToString("F2", CultureInfo.InvariantCulture),
                    });
                }
            }

            ticks.Add((origin + (targets.Count - 1) / 2.0, rates[g].Title.Split(' ')[2] + " events/s"));
        }

        plot.Add.Bars(bars);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            [.. ticks.Select(t => t.Item1)],
            [.. ticks.Select(t => t.Item2)]);
        plot.Axes.Margins(bottom: 0, top: 0.15);
        foreach (var target in targets)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = target, FillColor = ColorOf(target) });
        }

        plot.ShowLegend(Edge.Bottom);
        plot.Title(title, 13);
    }

    /// <summary>Axis labels short enough not to overlap.</summary>
    private static string Short(string target) => target.Replace("jetstream-", "js-", StringComparison.Ordinal);

    /// <summary>Draws the chart of a results JSON file again (<c>--chart FILE.json</c>): FILE.png beside it.</summary>
    public static string Redraw(string jsonPath)
    {
        using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(jsonPath));
        var root = document.RootElement;
        var report = new RunReport
        {
            Command = root.GetProperty("command").GetString()!,
            Mode = root.GetProperty("mode").GetString()!,
            Started = root.GetProperty("started").GetDateTimeOffset(),
            Machine = new MachineInfo(0, 0, "", "", "", ""),
        };
        foreach (var workload in root.GetProperty("workloads").EnumerateArray())
        {
            var item = new WorkloadReport(
                workload.GetProperty("id").GetString()!,
                workload.GetProperty("title").GetString()!);
            foreach (var row in workload.GetProperty("rows").EnumerateArray())
            {
                var target = new TargetRow(row.GetProperty("target").GetString()!);
                foreach (var metric in row.GetProperty("metrics").EnumerateObject())
                {
                    target.Set(
                        metric.Name,
                        metric.Value.ValueKind == System.Text.Json.JsonValueKind.Number
                            ? metric.Value.GetDouble()
                            : double.NaN);
                }

                item.Rows.Add(target);
            }

            report.Workloads.Add(item);
        }

        var png = Path.ChangeExtension(jsonPath, ".png");
        return Write(report, png)
            ? png
            : throw new InvalidOperationException($"{jsonPath} has no W1 and W4 results to chart");
    }

    private static Color ColorOf(string target) =>
        Colors.TryGetValue(target, out var color) ? color : new Color(44, 160, 44);
}
