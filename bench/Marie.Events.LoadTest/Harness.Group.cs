using System.Diagnostics;
using System.Globalization;
using Marie.Events.LoadTest.Infra;
using Marie.Events.LoadTest.Report;
using Marie.Events.LoadTest.Targets;
using Marie.Events.LoadTest.Workloads;

namespace Marie.Events.LoadTest;

/// <summary>
/// WG (issue 15): one topic worked through by 10 streams, (i) as the members of one consumer group, (ii) as 10 plain
/// subscriptions each filtering on a tenth of the job ids; the same producers and the same count of events each
/// round, every event counted by its sequence number; the two alternate round by round on the same gateway.
/// </summary>
internal sealed partial class Harness
{
    /// <summary>Streams sharing the topic: the group's members, or the plain subscriptions splitting it.</summary>
    private const int GroupStreams = 10;

    /// <summary>Job ids the events are spread over (evenly: each gets the same count); each plain subscription
    /// filters on <see cref="GroupJobs"/> / <see cref="GroupStreams"/> of them.</summary>
    private const int GroupJobs = 100;

    /// <summary>Events of one WG round (4 to 8 s on the 2-core machine, at the gateway's publish rate).</summary>
    private const int GroupEvents = 200_000;

    /// <summary>Issue 15: the group delivers at least this times the events/s of the plain split.</summary>
    private const double GroupRateGoal = 0.8;

    /// <summary>How long a WG round may take to deliver every event before it counts the rest as missing.</summary>
    private static readonly TimeSpan GroupDeadline = TimeSpan.FromSeconds(120);

    private async Task RunWGAsync()
    {
        // Window: 2,000 events in flight over the 10 streams, 200 each as in W1; far below the in-flight cap (1,000 per
        // stream) and the ring, so neither variant stalls on the cap or loses events.
        var shape = new FanoutShape(
            new WorkloadShape("wg", 1, _plan.ReplayRing),
            GroupStreams,
            GroupJobs,
            Producers,
            PerConnection,
            Window: 2_000);
        var variants = OurStubTargets()
            .SelectMany(t => new[] { new GroupVariant(t, Grouped: true), new GroupVariant(t, Grouped: false) })
            .ToList();
        var rounds = _plan.Rounds;
        Console.WriteLine($"WG: a warm-up, then {rounds} rounds of {GroupEvents:N0} events per variant");
        var results = variants.ToDictionary(v => v, _ => new List<GroupRound>());
        try
        {
            foreach (var variant in variants)
            {
                await variant.Target.PrepareAsync(shape.Shape, CancellationToken.None);
                await GroupRoundAsync(variant, shape, "warm");
            }

            for (var i = 0; i < rounds; i++)
            {
                // Rotated as the targets of the other workloads are: neither variant always runs first.
                foreach (var variant in variants.Skip(i % variants.Count).Concat(variants.Take(i % variants.Count)))
                {
                    var round = await GroupRoundAsync(variant, shape, $"r{i}");
                    results[variant].Add(round);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  WG round {i + 1} {variant.Name,-22} {round.EventsPerSecond,12:N0} events/s"
                        + $"  server {round.CpuPerMillion,6:F2} CPU s/M  {round.Unique:N0}/{round.Expected:N0}"
                        + $" delivered, {round.Duplicates:N0} duplicates"));
                }
            }
        }
        finally
        {
            foreach (var target in variants.Select(v => v.Target).Distinct())
            {
                await target.CleanupAsync(shape.Shape);
            }

            await ResetConnectionsAsync();
        }

        ReportWG(variants, results);
    }

    private void ReportWG(List<GroupVariant> variants, Dictionary<GroupVariant, List<GroupRound>> results)
    {
        var inv = CultureInfo.InvariantCulture;
        var workload = new WorkloadReport("WG", string.Create(inv,
            $"consumer group: 1 topic, {GroupEvents:N0} events a round from 4 producers over {GroupJobs} job ids; (i) "
            + $"a group of {GroupStreams} members (one durable_name and group) against (ii) {GroupStreams} plain "
            + $"subscriptions filtering on {GroupJobs / GroupStreams} job ids each; cumulative acks every 64"));
        foreach (var variant in variants)
        {
            var list = results[variant];
            var sum = GroupRound.Sum(list);
            var row = new TargetRow(variant.Name)
                .Set(Metrics.UniquePerSecond, sum.EventsPerSecond)
                .Set(Metrics.DeliveriesPerSecond, sum.Deliveries / sum.Seconds)
                .Set(Metrics.ServerCpuPerMillion, sum.CpuPerMillion)
                .Set(Metrics.Missing, sum.Expected - sum.Unique)
                .Set(Metrics.Duplicates, sum.Duplicates)
                .Set(Metrics.Lost, sum.Lost);
            row.Rounds.AddRange(list.Select(r => r.EventsPerSecond));
            workload.Rows.Add(row);
        }

        foreach (var group in variants.Where(v => v.Grouped))
        {
            var split = variants.First(v => !v.Grouped && v.Target == group.Target);
            var g = GroupRound.Sum(results[group]);
            var s = GroupRound.Sum(results[split]);
            var rate = g.EventsPerSecond / s.EventsPerSecond;
            workload.Ratios.Add(string.Create(inv, $"events/s: {group.Name} / {split.Name} = {rate:F2} (issue 15's "
                + $"goal >= {GroupRateGoal:F2}: {(rate >= GroupRateGoal ? "met" : "missed")})"));
            workload.Ratios.Add(string.Create(inv,
                $"server CPU per delivery: {group.Name} / {split.Name} = {g.CpuPerMillion / s.CpuPerMillion:F2}"));
            var perRound = results[group].Zip(results[split], (a, b) => a.EventsPerSecond / b.EventsPerSecond)
                .ToList();
            var cpuPerRound = results[group].Zip(results[split], (a, b) => a.CpuPerMillion / b.CpuPerMillion)
                .ToList();
            workload.Notes.Add($"{group.Name} / {split.Name} events/s, round by round: "
                + string.Join(" / ", perRound.Select(r => r.ToString("F2", inv)))
                + string.Create(inv, $" (median {Median(perRound):F2}); server CPU per delivery ")
                + string.Join(" / ", cpuPerRound.Select(r => r.ToString("F2", inv)))
                + string.Create(inv, $" (median {Median(cpuPerRound):F2})"));
        }

        workload.Notes.Add("events/s = distinct events delivered / seconds from the first publish to the last "
            + "event's first delivery; server CPU over the same span, per delivery (duplicates included); missing = "
            + "events not delivered by the deadline; duplicates = deliveries of an event already delivered (counted "
            + "by sequence number)");
        workload.Notes.Add("server CPU per round (CPU s / M deliveries): " + string.Join("; ", variants.Select(v =>
            $"{v.Name} " + string.Join(" / ", results[v].Select(r => r.CpuPerMillion.ToString("F2", inv))))));
        workload.Notes.Add($"backend {_options.Backend}; a new durable name each round (the group starts live at the "
            + "head); the 10 streams share one HTTP/2 connection in both variants");
        var spread = string.Join("; ", variants.Select(v =>
            $"{v.Name} " + string.Join(" / ", results[v].Select(r => r.EventsPerSecond.ToString("N0", inv)))));
        workload.Notes.Add($"events/s per round: {spread}");
        Print(workload);
    }

    private static async Task<GroupRound> GroupRoundAsync(GroupVariant variant, FanoutShape shape, string round)
    {
        var target = variant.Target;
        var tally = new DeliveryTally(GroupEvents);
        var flow = new Flow(1, 1, shape.Window) { Tally = tally };
        using var run = new CancellationTokenSource();
        var subscriptions = await Rounds.SubscribeAllAsync(target, GroupSpecs(variant, shape, round), flow, run.Token);
        var publishers = new List<IBenchPublisher>();
        double cpuStart, cpuEnd;
        long started, finished;
        try
        {
            for (var p = 0; p < shape.Producers; p++)
            {
                publishers.Add(await target.OpenPublisherAsync(p, run.Token));
            }

            cpuStart = target.Server.CpuSeconds();
            started = Stopwatch.GetTimestamp();
            await Task.WhenAll(publishers.Select((publisher, p) => GroupProduceAsync(publisher, p, shape, flow)));
            var deadline = started + (long)(GroupDeadline.TotalSeconds * Stopwatch.Frequency);
            // Polls the tally every millisecond: the round ends when the last event's first delivery arrives.
            while (tally.Unique < tally.Expected && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(1);
            }

            finished = Stopwatch.GetTimestamp();
            cpuEnd = target.Server.CpuSeconds();
        }
        finally
        {
            await run.CancelAsync();
            await Rounds.DisposeAllAsync(publishers);
            await Rounds.DisposeAllAsync(subscriptions);
        }

        if (tally.Foreign > 0)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"WG {variant.Name}: {tally.Foreign} deliveries outside the round's sequence numbers "
                + $"({tally.Base + 1}..{tally.Base + tally.Expected})"));
        }

        return new GroupRound(
            (finished - started) / (double)Stopwatch.Frequency,
            tally.Unique,
            tally.Deliveries,
            tally.Duplicates,
            tally.Expected,
            cpuEnd - cpuStart,
            flow.Lost);
    }

    /// <summary>The round's 10 subscriptions: the group's members (one durable name for the round), or the plain
    /// subscriptions, subscription s filtering on job ids s * 10 to s * 10 + 9.</summary>
    private static List<SubscribeSpec> GroupSpecs(GroupVariant variant, FanoutShape shape, string round)
    {
        var share = GroupJobs / GroupStreams;
        return [.. Enumerable.Range(0, GroupStreams).Select(s => new SubscribeSpec(
            $"wg-{round}-{(variant.Grouped ? "g" : "p")}{s}",
            shape.Shape,
            0,
            s / shape.PerConnection,
            JobIds: variant.Grouped ? null : shape.JobNames[(s * share)..((s + 1) * share)],
            DurableName: variant.Grouped ? $"wg-{round}-{variant.Target.Name}" : null,
            Group: variant.Grouped ? "workers" : null))];
    }

    /// <summary>One WG producer: its quarter of the round, event k of the round (k = n * 4 + producer) on job id
    /// k mod 100, so every job id gets the same count; waits while the subscribers are a window behind.</summary>
    private static async Task GroupProduceAsync(IBenchPublisher publisher, int index, FanoutShape shape, Flow flow)
    {
        var factory = new EventFactory(index);
        var topic = shape.Shape.Topic(0);
        var share = GroupEvents / shape.Producers;
        for (var n = 0; n < share; n++)
        {
            var job = shape.JobNames[((n * shape.Producers) + index) % shape.JobNames.Length];
            await flow.WaitForRoomAsync(0, CancellationToken.None);
            await publisher.PublishAsync(factory.Create(topic, job), CancellationToken.None);
            flow.OnPublished(0);
        }

        await publisher.FlushAsync(CancellationToken.None);
    }

    /// <summary>WG's two ways of sharing the topic on one of our gateways.</summary>
    private sealed record GroupVariant(IBenchTarget Target, bool Grouped)
    {
        public string Name => $"{Target.Name}-{(Grouped ? "group" : "split")}";
    }

    /// <summary>What one WG round gave, from the first publish to the last event's first delivery.</summary>
    private sealed record GroupRound(
        double Seconds,
        long Unique,
        long Deliveries,
        long Duplicates,
        long Expected,
        double Cpu,
        long Lost)
    {
        public double EventsPerSecond => Unique / Math.Max(Seconds, 1e-9);

        public double CpuPerMillion => Cpu / Math.Max(1, Deliveries) * 1e6;

        public static GroupRound Sum(IReadOnlyList<GroupRound> rounds) => new(
            rounds.Sum(r => r.Seconds), rounds.Sum(r => r.Unique), rounds.Sum(r => r.Deliveries),
            rounds.Sum(r => r.Duplicates), rounds.Sum(r => r.Expected), rounds.Sum(r => r.Cpu),
            rounds.Sum(r => r.Lost));
    }
}
