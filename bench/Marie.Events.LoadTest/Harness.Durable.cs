using System.Globalization;
using Marie.Events.LoadTest.Report;
using Marie.Events.LoadTest.Targets;
using Marie.Events.LoadTest.Workloads;

namespace Marie.Events.LoadTest;

/// <summary>W1D (issue 15): W1 with every subscription durable, in rounds alternating with plain W1 on the same
/// gateway, so the cost of durability is a ratio taken under the same machine load.</summary>
internal sealed partial class Harness
{
    /// <summary>Issue 15: W1 all durable costs at most this times the server CPU per delivery of plain W1.</summary>
    private const double DurableCpuGoal = 1.2;

    /// <summary>Our gateways driven through the stubs (ours, and ours-base when given): the ones W1D and WG vary.
    /// </summary>
    private List<IBenchTarget> OurStubTargets()
    {
        var targets = new List<IBenchTarget>();
        if (_ours is not null && _options.Targets.Contains("ours"))
        {
            targets.Add(_ours);
        }

        if (_oursBase is not null)
        {
            targets.Add(_oursBase);
        }

        return targets;
    }

    /// <summary>W1D's targets: each of <see cref="OurStubTargets"/> with a durable name on every
    /// subscription.</summary>
    private List<VariantTarget> DurableVariants() => [.. OurStubTargets().Select(VariantTarget.Durable)];

    /// <summary>W1D without W1: its own rounds, plain and durable alternating (with W1, they are W1's rounds).
    /// </summary>
    private async Task RunW1DAsync()
    {
        var durables = DurableVariants();
        var plain = durables.Select(d => d.Inner).ToList();
        var results = await RunRoundsAsync(
            "W1D", [.. plain, .. durables], W1Shape, rate: null, latency: null, _plan.Round, prefill: true);
        ReportW1D(results, durables);
        await RunW1DFixedRateAsync(durables);
    }

    /// <summary>W1D's second part: plain and durable at the same fixed rate (W4's 10,000 events/s, 100,000
    /// deliveries/s), so both write as many events per flush and the CPU per delivery compares the work per
    /// delivery alone (at their own maximum rates, a variant that runs slower also batches less). Runs after W1D's
    /// (or W1's) rounds, on rings already full.</summary>
    private async Task RunW1DFixedRateAsync(List<VariantTarget> durables)
    {
        const double Rate = 10_000;
        var plain = durables.Select(d => d.Inner).ToList();
        var results = await RunRoundsAsync(
            "W1D-rate", [.. plain, .. durables], W1Shape with { Window = 2_000 }, Rate, latency: null, _plan.Round);
        var inv = CultureInfo.InvariantCulture;
        var workload = new WorkloadReport("W1D", string.Create(inv,
            $"W1D at a fixed {Rate:N0} events/s ({Rate * W1Shape.Fanout:N0} deliveries/s): plain and all durable, ")
                + "rounds alternating on the same gateway");
        foreach (var durable in durables)
        {
            foreach (var target in new[] { durable.Inner, durable })
            {
                var sum = RoundResult.Sum(results[target]);
                workload.Rows.Add(ThroughputRow(target.Name, results[target])
                    // Kept up: published at least 95 % of the rate (the rest is the producers' 1 ms pacing), as W4.
                    .Set(Metrics.Saturated, sum.EventsPerSecond < Rate * 0.95 ? 1 : 0));
            }

            var ratio = CpuPerMillion(RoundResult.Sum(results[durable]))
                / CpuPerMillion(RoundResult.Sum(results[durable.Inner]));
            workload.Ratios.Add($"server CPU per delivery at the same rate: {durable.Name} / {durable.Inner.Name} = "
                + string.Create(inv, $"{ratio:F2} (issue 15's goal <= {DurableCpuGoal:F2}: ")
                + $"{(ratio <= DurableCpuGoal ? "met" : "missed")})");
            var perRound = results[durable].Zip(results[durable.Inner],
                (d, p) => CpuPerMillion(d) / CpuPerMillion(p)).ToList();
            workload.Notes.Add($"{durable.Name} / {durable.Inner.Name} at the same rate, round by round: "
                + string.Join(" / ", perRound.Select(r => r.ToString("F2", inv)))
                + string.Create(inv, $" (median {Median(perRound):F2})"));
        }

        Print(workload);
    }

    private void ReportW1D(Dictionary<IBenchTarget, List<RoundResult>> results, List<VariantTarget> durables)
    {
        var inv = CultureInfo.InvariantCulture;
        var workload = new WorkloadReport(
            "W1D",
            "W1 with every subscription durable (a durable_name each, new every round) against plain W1, rounds "
                + "alternating on the same gateway");
        foreach (var durable in durables)
        {
            workload.Rows.Add(ThroughputRow(durable.Inner.Name, results[durable.Inner]));
            workload.Rows.Add(ThroughputRow(durable.Name, results[durable]));
        }

        foreach (var durable in durables)
        {
            var plain = RoundResult.Sum(results[durable.Inner]);
            var sum = RoundResult.Sum(results[durable]);
            var cpuRatio = CpuPerMillion(sum) / CpuPerMillion(plain);
            workload.Ratios.Add(string.Create(inv,
                $"server CPU per delivery: {durable.Name} / {durable.Inner.Name} = {cpuRatio:F2} (issue 15's goal "
                + $"<= {DurableCpuGoal:F2}: {(cpuRatio <= DurableCpuGoal ? "met" : "missed")})"));
            workload.Ratios.Add(string.Create(inv,
                $"deliveries/s: {durable.Name} / {durable.Inner.Name} = "
                + $"{sum.DeliveriesPerSecond / plain.DeliveriesPerSecond:F2}"));
            // Round i of each ran back to back (rotation), under about the same load: the pairs' median is the
            // figure least moved by a round that another process slowed.
            var perRound = results[durable].Zip(results[durable.Inner],
                (d, p) => CpuPerMillion(d) / CpuPerMillion(p)).ToList();
            workload.Notes.Add($"{durable.Name} / {durable.Inner.Name} server CPU per delivery, round by round: "
                + string.Join(" / ", perRound.Select(r => r.ToString("F2", inv)))
                + string.Create(inv, $" (median {Median(perRound):F2})"));
        }

        workload.Notes.Add("server CPU per round (CPU s / M deliveries): " + string.Join("; ", workload.Rows.Select(
            r => $"{r.Target} " + string.Join(" / ", results.First(p => p.Key.Name == r.Target).Value
                .Select(x => CpuPerMillion(x).ToString("F2", inv))))));
        workload.Notes.Add($"backend {_options.Backend}; durable names d-<subscription id> (a new durable per "
            + "subscription and round, each starting live at the head like W1's); same producers, subscribers, "
            + "cumulative acks every 64 and flow window as W1");
        AddSpreadNote(workload);
        Print(workload);
    }

    private static double CpuPerMillion(RoundResult result) => result.ServerCpu / Math.Max(1, result.Deliveries) * 1e6;
}
