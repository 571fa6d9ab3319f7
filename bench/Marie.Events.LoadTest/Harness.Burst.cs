using System.Diagnostics;
using System.Globalization;
using Marie.Events.LoadTest.Infra;
using Marie.Events.LoadTest.Report;
using Marie.Events.LoadTest.Targets;
using Marie.Events.LoadTest.Workloads;

namespace Marie.Events.LoadTest;

/// <summary>W6 "burst" (issue 16): producers write a fixed batch as fast as their streams take it, to subscribers
/// opened just before; the server's CPU is taken over the whole round, stream set-up and tear-down included.</summary>
internal sealed partial class Harness
{
    /// <summary>Events of one W6 round, split evenly over the producers.</summary>
    private const int BurstEvents = 40_000;

    /// <summary>W6's cumulative ack interval (W1's is <see cref="ClientSettings.AckEvery"/>).</summary>
    private const int BurstAckEvery = 32;

    /// <summary>How long a W6 round may take to deliver everything (it takes 1-10 s on the 2-core machine).</summary>
    private static readonly TimeSpan BurstDeadline = TimeSpan.FromSeconds(120);

    private async Task RunW6Async()
    {
        // No window: the Flow only counts; its window is never consulted.
        var shape = new FanoutShape(new WorkloadShape("w6", 10, _plan.ReplayRing), 10, 1, Producers, PerConnection, 0);
        var targets = Targets(ackAll: true, client: true);
        var rounds = Math.Max(_plan.Rounds, 3);
        Console.WriteLine($"W6: a warm-up, then {rounds} rounds of {BurstEvents:N0} events per target");
        var results = targets.ToDictionary(t => t, _ => new List<BurstRound>());
        try
        {
            foreach (var target in targets)
            {
                await target.PrepareAsync(shape.Shape, CancellationToken.None);
                await BurstRoundAsync(target, shape, "warm");
            }

            for (var i = 0; i < rounds; i++)
            {
                foreach (var target in Rotated(targets, i))
                {
                    var round = await BurstRoundAsync(target, shape, $"r{i}");
                    results[target].Add(round);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  W6 round {i + 1} {target.Name,-22} {round.DeliveriesPerSecond,12:N0} deliveries/s"
                        + $"  server {round.CpuPerMillion,6:F2} CPU s/M"
                        + $" (delivery only {round.DeliveryCpuPerMillion:F2})"
                        + $"  {round.Deliveries:N0}/{round.Expected:N0}"
                        + $"  sends/k {round.SendsPerThousand?.ToString("F1", CultureInfo.InvariantCulture) ?? "n/a"}"
                        + $"  switches/k {round.SwitchesPerThousand:F1}"));
                }
            }
        }
        finally
        {
            foreach (var target in targets)
            {
                await target.CleanupAsync(shape.Shape);
            }

            await ResetConnectionsAsync();
        }

        var workload = new WorkloadReport("W6", string.Create(CultureInfo.InvariantCulture,
            $"burst: 4 producers write {BurstEvents:N0} events as fast as their streams take them (no window), ")
            + "distinct job id and source per event, 10 topics; 100 fresh live subscribers (10 per connection) "
            + $"opened before, closed after; cumulative ack every {BurstAckEvery}");
        foreach (var target in targets)
        {
            var list = results[target];
            var row = new TargetRow(target.Name)
                .Set(Metrics.DeliveriesPerSecond, Median(list.Select(r => r.DeliveriesPerSecond)))
                .Set(Metrics.ServerCpuPerMillion, Median(list.Select(r => r.CpuPerMillion)))
                .Set(Metrics.Lost, list.Sum(r => r.Expected - r.Deliveries))
                .Set(Metrics.SwitchesPerThousand, Median(list.Select(r => r.SwitchesPerThousand)));
            if (list.All(r => r.SendsPerThousand is not null))
            {
                row.Set(Metrics.SendsPerThousand, Median(list.Select(r => r.SendsPerThousand!.Value)));
            }

            row.Rounds.AddRange(list.Select(r => r.DeliveriesPerSecond));
            workload.Rows.Add(row);
        }

        workload.AddRatios(Metrics.DeliveriesPerSecond, "deliveries/s");
        workload.AddRatios(Metrics.ServerCpuPerMillion, "server CPU per delivery");
        workload.Notes.Add("medians of the rounds; server CPU from /proc over the whole round (subscribe, burst, "
            + "close) per delivery; 'delivery only' in the log excludes opening and closing the streams; lost = "
            + "deliveries missing at the deadline; the ring is --ring (the issue's shape: --ring 5000)");
        workload.Notes.Add("rounds' CPU per delivery: " + string.Join("; ", targets.Select(t => $"{t.Name} "
            + string.Join(" / ", results[t].Select(r =>
                r.CpuPerMillion.ToString("F2", CultureInfo.InvariantCulture))))));
        AddSpreadNote(workload);
        Print(workload);
    }

    private static async Task<BurstRound> BurstRoundAsync(IBenchTarget target, FanoutShape shape, string round)
    {
        var expected = (long)BurstEvents * shape.Fanout;
        var flow = new Flow(shape.Shape.Topics, shape.Fanout, shape.Window);
        using var run = new CancellationTokenSource();
        var cpuStart = target.Server.CpuSeconds();
        var specs = Rounds.Specs(shape, round).Select(s => s with { AckEvery = BurstAckEvery }).ToList();
        var subscriptions = await Rounds.SubscribeAllAsync(target, specs, flow, run.Token);
        var publishers = new List<IBenchPublisher>();
        double cpuDeliveryStart, cpuDeliveryEnd;
        long started, finished, switchesStart, switchesEnd;
        long? segmentsStart, segmentsEnd;
        try
        {
            for (var p = 0; p < shape.Producers; p++)
            {
                publishers.Add(await target.OpenPublisherAsync(p, run.Token));
            }

            segmentsStart = ProcStat.TcpDataSegmentsOut(target.Server.Pid);
            switchesStart = ProcStat.ContextSwitches(target.Server.Pid);
            cpuDeliveryStart = target.Server.CpuSeconds();
            started = Stopwatch.GetTimestamp();
            await Task.WhenAll(publishers.Select((publisher, p) => BurstProduceAsync(publisher, p, shape, flow)));
            var deadline = started + (long)(BurstDeadline.TotalSeconds * Stopwatch.Frequency);
            // Polls the counters every millisecond: the round ends when the last delivery arrives.
            while (flow.Received < expected && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(1);
            }

            finished = Stopwatch.GetTimestamp();
            cpuDeliveryEnd = target.Server.CpuSeconds();
            switchesEnd = ProcStat.ContextSwitches(target.Server.Pid);
            segmentsEnd = ProcStat.TcpDataSegmentsOut(target.Server.Pid);
        }
        finally
        {
            await run.CancelAsync();
            await Rounds.DisposeAllAsync(publishers);
            await Rounds.DisposeAllAsync(subscriptions);
        }

        var cpuEnd = target.Server.CpuSeconds();
        var deliveries = flow.Received;
        return new BurstRound(
            (finished - started) / (double)Stopwatch.Frequency,
            deliveries,
            expected,
            cpuEnd - cpuStart,
            cpuDeliveryEnd - cpuDeliveryStart,
            segmentsEnd - segmentsStart,
            switchesEnd - switchesStart);
    }

    /// <summary>One W6 producer: its share of the burst, round-robin over the topics, as fast as it is taken.</summary>
    private static async Task BurstProduceAsync(IBenchPublisher publisher, int index, FanoutShape shape, Flow flow)
    {
        var factory = new EventFactory(index);
        var share = BurstEvents / shape.Producers;
        for (var n = 0; n < share; n++)
        {
            // Producers start on different topics, so they do not write the same topic in lockstep.
            var topic = (n + (index * 7)) % shape.Shape.Topics;
            await publisher.PublishAsync(factory.CreateDistinct(shape.Shape.Topic(topic)), CancellationToken.None);
            flow.OnPublished(topic);
        }

        await publisher.FlushAsync(CancellationToken.None);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return 0;
        }

        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>What one W6 round gave: its seconds from the first publish to the last delivery; the server's TCP
    /// sends (null without <c>ss</c>) and context switches over the same span.</summary>
    private sealed record BurstRound(
        double Seconds,
        long Deliveries,
        long Expected,
        double Cpu,
        double DeliveryCpu,
        long? Segments,
        long Switches)
    {
        public double? SendsPerThousand =>
            Segments is { } segments ? TransportFigures.PerThousand(segments, Deliveries) : null;

        public double SwitchesPerThousand => TransportFigures.PerThousand(Switches, Deliveries);

        public double DeliveriesPerSecond => Deliveries / Math.Max(Seconds, 1e-9);

        public double CpuPerMillion => Cpu / Math.Max(1, Deliveries) * 1e6;

        public double DeliveryCpuPerMillion => DeliveryCpu / Math.Max(1, Deliveries) * 1e6;
    }
}
