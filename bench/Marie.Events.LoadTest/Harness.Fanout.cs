using System.Diagnostics;
using System.Globalization;
using Marie.Events.LoadTest.Infra;
using Marie.Events.LoadTest.Report;
using Marie.Events.LoadTest.Targets;
using Marie.Events.LoadTest.Workloads;

namespace Marie.Events.LoadTest;

/// <summary>W1 (fan-out with acks), W2 (filtered fan-out) and W4 (latency at a fixed rate): the fan-out
/// rounds.</summary>
internal sealed partial class Harness
{
    /// <summary>Producers in every fan-out workload (the issue's W1).</summary>
    private const int Producers = 4;

    /// <summary>Subscriptions per connection in W1, W2, W4 and W5: 10 subscribers share an HTTP/2 (or NATS)
    /// connection.</summary>
    private const int PerConnection = 10;

    /// <summary>Warm-up before a round's measurement starts (streams open, JIT, connection windows).</summary>
    private static readonly TimeSpan RoundRampUp = TimeSpan.FromSeconds(0.5);

    /// <summary>Whether a fan-out workload has warmed up in this run already.</summary>
    private bool _fanoutWarmedUp;

    /// <summary>W1: producers pause while a topic's 10 subscribers are 200 events behind on average (2,000 in flight
    /// over the 10 topics): enough to keep every writer busy, far below the ring (no subscriber falls out of
    /// it).</summary>
    private FanoutShape W1Shape =>
        new(new WorkloadShape("w1", 10, _plan.ReplayRing), 10, 1, Producers, PerConnection, Window: 200);

    private async Task<double?> RunW1Async()
    {
        var shape = W1Shape;
        var targets = Targets(ackAll: true, ackExplicit: true, client: true);
        // W1D's durable variants take part in W1's rounds when both run: one set of alternating rounds.
        var durables = _options.Workloads.Contains("W1D") ? DurableVariants() : [];
        var results = await RunRoundsAsync(
            "W1", [.. targets, .. durables], shape, rate: null, latency: null, _plan.Round, prefill: true);
        var workload = new WorkloadReport(
            "W1",
            "fan-out with acks: 4 producers, 10 topics, 100 subscribers (10 per topic), ~256-byte events, "
                + "every event acknowledged");
        await WaitForGcEventsAsync(results);
        foreach (var target in targets)
        {
            workload.Rows.Add(ThroughputRow(target.Name, results[target]));
            SetGc(workload.Rows[^1], target, results[target]);
        }

        workload.AddRatios(Metrics.DeliveriesPerSecond, "deliveries/s");
        workload.AddRatios(Metrics.ServerCpuPerMillion, "server CPU per delivery");
        workload.Notes.Add(GcNote);
        workload.Notes.Add("acks: ours cumulative every 64 events per subscription; jetstream-ackall acks the last of "
            + "every 64 messages; jetstream-ackexplicit acks each message; raw-grpc takes none");
        AddSpreadNote(workload);
        Print(workload);
        if (durables.Count > 0)
        {
            ReportW1D(results, durables);
            await RunW1DFixedRateAsync(durables);
        }

        // W4 runs ours, raw gRPC and JetStream AckAll: half the lowest of their maxima is a rate none of them is
        // saturated at.
        var w4Rows = workload.Rows.Where(r => r.Target is "ours" or "raw-grpc" or "jetstream-ackall").ToList();
        return w4Rows.Count == 0 ? null : w4Rows.Min(r => r.Get(Metrics.EventsPerSecond));
    }

    private async Task RunW2Async()
    {
        // Each event matches one of the 1,000 subscriptions: 2,000 events in flight is about 2 per subscription.
        var shape = new FanoutShape(
            new WorkloadShape("w2", 1, _plan.ReplayRing),
            1000,
            1000,
            Producers,
            PerConnection,
            Window: 2000);
        var targets = Targets(client: true);
        var results = await RunRoundsAsync("W2", targets, shape, rate: null, latency: null, _plan.Round);
        var workload = new WorkloadReport(
            "W2",
            "filtered fan-out: 1 topic, 1,000 subscriptions each filtering on its own job id, events spread "
                + "over the 1,000 job ids");
        await WaitForGcEventsAsync(results);
        foreach (var target in targets)
        {
            workload.Rows.Add(ThroughputRow(target.Name, results[target]));
            SetGc(workload.Rows[^1], target, results[target]);
        }

        workload.AddRatios(Metrics.DeliveriesPerSecond, "deliveries/s");
        workload.AddRatios(Metrics.ServerCpuPerMillion, "server CPU per delivery");
        workload.Notes.Add(GcNote);
        workload.Notes.Add("jetstream: subjects w2.t0.<jobid>, one consumer per job id filtering on its subject");
        AddSpreadNote(workload);
        Print(workload);
    }

    private async Task RunW4Async(double? w1Max)
    {
        // 10,000 events/s, and half the lowest W1 maximum (events/s) of the W4 targets, so every target runs the same
        // rate.
        const double FixedRate = 10_000;
        var half = w1Max is { } max ? Math.Round(max / 2) : 5_000;
        foreach (var rate in new[] { FixedRate, half })
        {
            await RunW4RateAsync(rate, FixedRate, w1Max);
        }
    }

    private async Task RunW4RateAsync(double rate, double fixedRate, double? w1Max)
    {
        // Open loop at a fixed rate; the window (2,000 events per topic) only bounds queues if a target falls
        // behind.
        var shape = W1Shape with { Window = 2_000 };
        var targets = Targets(client: true);
        var latencies = targets.ToDictionary(t => t, _ => new LatencyHistogram());
        var results = await RunRoundsAsync(
            "W4",
            targets,
            shape,
            rate,
            latencies,
            _plan.LatencyRound,
            prefill: true);
        var workload = new WorkloadReport("W4", string.Create(CultureInfo.InvariantCulture,
            $"latency at {rate:N0} events/s (W1's shape: 10 topics, 100 subscribers; "
                + $"{rate * shape.Fanout:N0} deliveries/s)"));
        await WaitForGcEventsAsync(results);
        foreach (var target in targets)
        {
            var sum = RoundResult.Sum(results[target]);
            var latency = latencies[target];
            workload.Rows.Add(new TargetRow(target.Name)
                .Set(Metrics.Rate, sum.EventsPerSecond)
                .Set(Metrics.DeliveriesPerSecond, sum.DeliveriesPerSecond)
                .Set(Metrics.P50, latency.PercentileMs(50))
                .Set(Metrics.P99, latency.PercentileMs(99))
                .Set(Metrics.P999, latency.PercentileMs(99.9))
                .Set(Metrics.ServerCpuPerMillion, sum.ServerCpu / Math.Max(1, sum.Deliveries) * 1e6)
                // Kept up: published at least 95% of the asked rate (the rest is the producers' 1 ms pacing).
                .Set(Metrics.Saturated, sum.EventsPerSecond < rate * 0.95 ? 1 : 0)
                .Set(Metrics.OtherLoad, sum.OtherCpu / sum.Seconds)
                .SetTransport(sum));
            SetGc(workload.Rows[^1], target, results[target]);
        }

        workload.AddRatios(Metrics.P99, "p99 latency");
        workload.Notes.Add("latency: from the producer's timestamp taken when the event is built (before its "
            + "publish call) to its receipt by the subscriber, same process and clock");
        workload.Notes.Add(GcNote);
        if (w1Max is null && rate != fixedRate)
        {
            workload.Notes.Add("W1 did not run: the second rate is 5,000 events/s instead of half W1's maximum");
        }

        Print(workload);
    }

    /// <summary>A warm-up round per target (after filling its rings when <paramref name="prefill"/>), then
    /// <see cref="Plan.Rounds"/> rounds with the order rotating.</summary>
    private async Task<Dictionary<IBenchTarget, List<RoundResult>>> RunRoundsAsync(
        string id,
        List<IBenchTarget> targets,
        FanoutShape shape,
        double? rate,
        Dictionary<IBenchTarget, LatencyHistogram>? latency,
        TimeSpan round,
        bool prefill = false)
    {
        Console.WriteLine($"{id}: {(_plan.Warmup > TimeSpan.Zero ? "warm-up, then " : "")}{_plan.Rounds} round(s) of "
            + $"{round.TotalSeconds:F1} s per target{(rate is { } r ? $" at {r:N0} events/s" : "")}");
        foreach (var target in targets)
        {
            if (!_gcMonitors.ContainsKey(target.Server.Pid))
            {
                _gcMonitors[target.Server.Pid] = GcMonitor.TryStart(target.Server.Pid);
            }

            await target.PrepareAsync(shape.Shape, CancellationToken.None);
            // A variant (W1D's durable one) shares its server's rings with the target it varies: filled once.
            if (prefill && target.CanReplay && target is not VariantTarget)
            {
                // Measured in the steady state of a server that keeps a ring: full rings, the oldest events falling out
                // as new ones come, the heap at its working size (while the rings fill, every event survives and
                // the heap grows: the first round measured was the slowest for every server keeping a ring).
                await Rounds.PrefillAsync(target, shape, _plan.ReplayRing, CancellationToken.None);
            }
        }

        var results = targets.ToDictionary(t => t, _ => new List<RoundResult>());
        try
        {
            // The run's first fan-out workload warms up twice over: the load generator shares the 2 cores and tiers
            // its own hot paths up while it drives the first rounds (with one warm-up, the first measured round was
            // the slowest for every target, whichever went first).
            var warmups = _fanoutWarmedUp ? 1 : 2;
            _fanoutWarmedUp = true;
            for (var w = 0; w < warmups; w++)
            {
                foreach (var target in _plan.Warmup > TimeSpan.Zero ? targets : [])
                {
                    await FanoutRoundAsync(target, shape, "warm", _plan.Warmup, rate, null);
                }
            }

            for (var i = 0; i < _plan.Rounds; i++)
            {
                foreach (var target in Rotated(targets, i))
                {
                    // Each round's latencies are kept apart first, so that a round's tail can be told from the others'.
                    var roundLatency = latency is null ? null : new LatencyHistogram();
                    var result = await FanoutRoundAsync(target, shape, $"r{i}", round, rate, roundLatency);
                    results[target].Add(result);
                    latency?[target].Add(roundLatency!);
                    Console.WriteLine(string.Create(
                        CultureInfo.InvariantCulture,
                        $"  {id} round {i + 1} {target.Name,-22} {result.DeliveriesPerSecond,12:N0} deliveries/s"
                        + $"  server {result.ServerCpu / Math.Max(1, result.Deliveries) * 1e6,6:F2} CPU s/M"
                        + $"  others {result.OtherCpu / result.Seconds:F2} cores"
                        + $"  sends/k {result.SendsPerThousand?.ToString("F1", CultureInfo.InvariantCulture) ?? "n/a"}"
                        + $"  switches/k {result.SwitchesPerThousand:F1}"
                        + $"{(roundLatency is null ? "" : $"  p99 {roundLatency.PercentileMs(99):F2} ms")}"));
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

        return results;
    }

    /// <summary>Subscribes everyone, starts the producers, measures after a ramp-up, closes everything.</summary>
    private static async Task<RoundResult> FanoutRoundAsync(
        IBenchTarget target,
        FanoutShape shape,
        string round,
        TimeSpan measure,
        double? rate,
        LatencyHistogram? latency)
    {
        var flow = new Flow(shape.Shape.Topics, shape.Fanout, shape.Window, latency);
        using var run = new CancellationTokenSource();
        var subscriptions = await Rounds.SubscribeAllAsync(target, Rounds.Specs(shape, round), flow, run.Token);
        var publishers = new List<IBenchPublisher>();
        Task[] producers = [];
        try
        {
            for (var p = 0; p < shape.Producers; p++)
            {
                publishers.Add(await target.OpenPublisherAsync(p, run.Token));
            }

            producers =
            [
                .. publishers.Select((publisher, p) =>
                    Rounds.ProduceAsync(publisher, p, shape, flow, rate / shape.Producers, run.Token)),
            ];
            await Task.Delay(RoundRampUp);
            flow.RecordLatencyAfter = Stopwatch.GetTimestamp();
            var start = Snapshot.Take(target, flow);
            await Task.Delay(measure);
            var end = Snapshot.Take(target, flow);
            if (producers.FirstOrDefault(p => p.IsFaulted) is { } failed)
            {
                throw new InvalidOperationException(
                    $"{target.Name}: a producer failed: {failed.Exception!.GetBaseException().Message}");
            }

            return end.Since(start, flow.Lost);
        }
        finally
        {
            await run.CancelAsync();
            await Task.WhenAll(producers).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await Rounds.DisposeAllAsync(publishers);
            await Rounds.DisposeAllAsync(subscriptions);
        }
    }

    private const string GcNote = "GC: the server's pauses (runtime suspended to restarted) in ms per second of the "
        + "rounds, the longest, and bytes allocated per published event, from an EventPipe session on the server "
        + "(allocation sampled every ~100 KB); not for nats-server";

    /// <summary>Waits until each server's GC events up to the last round's end have arrived.</summary>
    private async Task WaitForGcEventsAsync(Dictionary<IBenchTarget, List<RoundResult>> results)
    {
        var lastRound = results.Values.SelectMany(r => r).Max(r => r.To);
        foreach (var monitor in _gcMonitors.Values)
        {
            await (monitor?.WaitPastAsync(lastRound, TimeSpan.FromSeconds(3)) ?? Task.CompletedTask);
        }
    }

    /// <summary>Adds the GC figures of <paramref name="target"/>'s rounds (a .NET server only).</summary>
    private void SetGc(TargetRow row, IBenchTarget target, List<RoundResult> rounds)
    {
        if (!_gcMonitors.TryGetValue(target.Server.Pid, out var monitor) || monitor is null)
        {
            return;
        }

        var gc = rounds.Aggregate(default(GcWindow), (w, r) => w + monitor.Window(r.From, r.To));
        var seconds = rounds.Sum(r => r.Seconds);
        row.Set(Metrics.GcPauseMsPerSecond, gc.PauseMs / seconds)
            .Set(Metrics.GcMaxPauseMs, gc.MaxPauseMs)
            .Set(Metrics.AllocatedBytesPerEvent, gc.AllocatedBytes / (double)Math.Max(1, rounds.Sum(r => r.Published)));
    }

    private static TargetRow ThroughputRow(string name, List<RoundResult> rounds)
    {
        var sum = RoundResult.Sum(rounds);
        var deliveries = Math.Max(1, sum.Deliveries);
        var row = new TargetRow(name)
            .Set(Metrics.DeliveriesPerSecond, sum.DeliveriesPerSecond)
            .Set(Metrics.EventsPerSecond, sum.EventsPerSecond)
            .Set(Metrics.ServerCpuPerMillion, sum.ServerCpu / deliveries * 1e6)
            .Set(Metrics.DriverCpuPerMillion, sum.DriverCpu / deliveries * 1e6)
            .Set(Metrics.OtherLoad, sum.OtherCpu / sum.Seconds)
            .Set(Metrics.Lost, sum.Lost)
            .SetTransport(sum);
        row.Rounds.AddRange(rounds.Select(r => r.DeliveriesPerSecond));
        return row;
    }

    private static void AddSpreadNote(WorkloadReport workload)
    {
        var spread = string.Join("; ", workload.Rows.Where(r => r.Rounds.Count > 1)
            .Select(r => $"{r.Target} "
                + $"{string.Join(" / ", r.Rounds.Select(v => v.ToString("N0", CultureInfo.InvariantCulture)))}"));
        if (spread.Length > 0)
        {
            workload.Notes.Add($"deliveries/s per round: {spread}");
        }
    }
}
