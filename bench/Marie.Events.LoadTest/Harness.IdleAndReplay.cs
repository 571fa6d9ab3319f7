using System.Diagnostics;
using System.Globalization;
using Marie.Events.LoadTest.Infra;
using Marie.Events.LoadTest.Report;
using Marie.Events.LoadTest.Targets;
using Marie.Events.LoadTest.Workloads;

namespace Marie.Events.LoadTest;

/// <summary>W3 (connection scale) and W5 (replay).</summary>
internal sealed partial class Harness
{
    /// <summary>Streams per HTTP/2 connection in W3: Kestrel's default limit of concurrent streams per
    /// connection.</summary>
    private const int IdlePerConnection = 100;

    /// <summary>The longest a replay round may take before it is reported incomplete.</summary>
    private static readonly TimeSpan ReplayTimeout = TimeSpan.FromSeconds(120);

    private async Task RunW3Async()
    {
        var n = _plan.IdleStreams;
        var workload = new WorkloadReport("W3", string.Create(CultureInfo.InvariantCulture,
            $"connection scale: {n:N0} open idle streams with heartbeats every {_options.HeartbeatSeconds:F0} s, one "
                + $"subscription each, {IdlePerConnection} streams per connection"));
        Console.WriteLine($"W3: {n:N0} idle streams per target");
        foreach (var target in Targets())
        {
            var shape = new WorkloadShape("w3", 1, _plan.ReplayRing);
            await target.PrepareAsync(shape, CancellationToken.None);
            var flow = new Flow(1, n, long.MaxValue);
            var specs = Enumerable.Range(0, n)
                .Select(i => new SubscribeSpec($"w3-s{i}", shape, 0, i / IdlePerConnection))
                .ToList();
            var rss0 = target.Server.RssBytes();
            var opening = Stopwatch.GetTimestamp();
            IAsyncDisposable[] handles = [];
            try
            {
                handles = await Rounds.SubscribeAllAsync(target, specs, flow, CancellationToken.None);
                var openSeconds = Stopwatch.GetElapsedTime(opening).TotalSeconds;
                // Time for the servers to settle after the streams opened (timers started, buffers allocated).
                await Task.Delay(_plan.IdleSettle);
                var start = Snapshot.Take(target, flow);
                await Task.Delay(_plan.IdleWindow);
                var end = Snapshot.Take(target, flow);
                var rss1 = target.Server.RssBytes();
                var fds = target.Server.OpenFileDescriptors();
                var idle = end.Since(start, 0);
                workload.Rows.Add(new TargetRow(target.Name)
                    .Set(Metrics.Streams, n)
                    .Set(Metrics.KibPerStream, (rss1 - rss0) / 1024.0 / n)
                    .Set(Metrics.RssMib, rss1 / 1024.0 / 1024.0)
                    .Set(Metrics.FileDescriptors, fds)
                    .Set(Metrics.IdleCpu, idle.ServerCpu / idle.Seconds * 100)
                    .Set("open_streams_per_s", n / openSeconds)
                    .Set(Metrics.OtherLoad, idle.OtherCpu / idle.Seconds));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  W3 {target.Name,-22} {(rss1 - rss0) / 1024.0 / n,8:F1} KiB/stream  idle CPU "
                        + $"{idle.ServerCpu / idle.Seconds * 100:F2}% of a core  opened {n / openSeconds:N0}/s  "
                        + $"RSS {rss1 / 1024.0 / 1024.0:N0} MiB  {fds:N0} fds"));
            }
            finally
            {
                await Rounds.DisposeAllAsync(handles);
                await target.CleanupAsync(shape);
                await ResetConnectionsAsync();
            }
        }

        workload.AddRatios(Metrics.KibPerStream, "memory per stream");
        workload.Notes.Add("memory per stream = growth of the server's resident set from before the streams opened to "
            + "after the idle window, divided by the streams (the GC heap's slack included)");
        workload.Notes.Add(
            "jetstream: one pull consumer per stream, consuming, with idle heartbeats at the same interval");
        Print(workload);
    }

    private async Task RunW5Async()
    {
        var ring = _plan.ReplayRing;
        var shape = new FanoutShape(
            new WorkloadShape("w5", 10, ring),
            10,
            1,
            Producers,
            PerConnection,
            Window: long.MaxValue);
        var targets = Targets().Where(t => t.CanReplay).ToList();
        var workload = new WorkloadReport("W5", string.Create(CultureInfo.InvariantCulture,
            $"replay: 100 subscribers (10 per topic) resuming from 0 at once on 10 full rings of {ring:N0} events "
                + $"({ring * 100:N0} replayed events per round)"));
        Console.WriteLine($"W5: filling 10 rings of {ring:N0} events per target");
        var results = targets.ToDictionary(t => t, _ => new List<RoundResult>());
        try
        {
            foreach (var target in targets)
            {
                await target.PrepareAsync(shape.Shape, CancellationToken.None);
                await Rounds.PrefillAsync(target, shape, ring, CancellationToken.None);
            }

            for (var i = 0; i < _plan.Rounds; i++)
            {
                foreach (var target in Rotated(targets, i))
                {
                    var result = await ReplayRoundAsync(target, shape, $"r{i}", (long)ring * 100);
                    results[target].Add(result);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  W5 round {i + 1} {target.Name,-22} {result.DeliveriesPerSecond,12:N0} replayed/s in "
                            + $"{result.Seconds:F2} s"));
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

        foreach (var target in targets)
        {
            var sum = RoundResult.Sum(results[target]);
            var row = new TargetRow(target.Name)
                .Set(Metrics.ReplayedPerSecond, sum.DeliveriesPerSecond)
                .Set(Metrics.ServerCpuPerMillion, sum.ServerCpu / Math.Max(1, sum.Deliveries) * 1e6)
                .Set(Metrics.OtherLoad, sum.OtherCpu / sum.Seconds);
            row.Rounds.AddRange(results[target].Select(r => r.DeliveriesPerSecond));
            workload.Rows.Add(row);
            if (sum.Deliveries < (long)ring * 100 * results[target].Count)
            {
                workload.Notes.Add($"{target.Name}: incomplete, {sum.Deliveries:N0} of "
                    + $"{(long)ring * 100 * results[target].Count:N0} events replayed within "
                    + $"{ReplayTimeout.TotalSeconds:F0} s per round");
            }
        }

        if (_raw is not null)
        {
            workload.Notes.Add("raw-grpc: not applicable, it keeps no ring");
        }

        workload.AddRatios(Metrics.ReplayedPerSecond, "replayed events/s");
        workload.AddRatios(Metrics.ServerCpuPerMillion, "server CPU per replayed event");
        Print(workload);
    }

    /// <summary>Everyone subscribes from 0 at once; the round ends when every subscriber has its whole ring.</summary>
    private static async Task<RoundResult> ReplayRoundAsync(
        IBenchTarget target,
        FanoutShape shape,
        string round,
        long expected)
    {
        var flow = new Flow(shape.Shape.Topics, shape.Fanout, long.MaxValue);
        var start = Snapshot.Take(target, flow);
        var handles = await Rounds.SubscribeAllAsync(
            target,
            Rounds.Specs(shape, round, fromStart: true),
            flow,
            CancellationToken.None);
        try
        {
            var deadline = Stopwatch.GetTimestamp() + (long)(ReplayTimeout.TotalSeconds * Stopwatch.Frequency);
            while (flow.Received < expected && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(2);
            }

            return Snapshot.Take(target, flow).Since(start, flow.Lost);
        }
        finally
        {
            await Rounds.DisposeAllAsync(handles);
        }
    }
}
