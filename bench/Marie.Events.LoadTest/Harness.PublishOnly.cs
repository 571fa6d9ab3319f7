using System.Globalization;
using Marie.Events.LoadTest.Infra;
using Marie.Events.LoadTest.Report;
using Marie.Events.LoadTest.Targets;

namespace Marie.Events.LoadTest;

/// <summary>WP (issue 12): publish only, no subscriber. 4 producers over 10 topics, each with
/// <see cref="ClientSettings.PublishWindow"/> publishes unanswered at most; what counts is the answered publish (for
/// the file backend with <c>fsync: always</c>, one that is on disk).</summary>
internal sealed partial class Harness
{
    /// <summary>Topics of the publish-only workload (the 10).</summary>
    private const int PublishOnlyTopics = 10;

    private async Task RunWPAsync()
    {
        var workload = new WorkloadReport("WP", string.Create(CultureInfo.InvariantCulture,
            $"publish only: {Producers} producers, {PublishOnlyTopics} topics, no subscriber, up to "
                + $"{ClientSettings.PublishWindow} unanswered publishes per producer; answered publishes/s"));
        // Our gateways through the generated stubs (ours, ours-base): their publisher measures each answer.
        var targets = Targets(ackAll: false)
            .OfType<GrpcTarget>()
            .Where(t => t.Name is "ours" or "ours-base")
            .ToList();
        Console.WriteLine($"WP: publish only, {_plan.Rounds} x {_plan.Round.TotalSeconds:F0} s per target");
        var totals = targets.ToDictionary(
            t => t.Name,
            _ => (Acked: 0L, Seconds: 0.0, Cpu: 0.0, Latency: new LatencyHistogram()));
        for (var round = 0; round < _plan.Rounds; round++)
        {
            foreach (var target in Rotated([.. targets], round).Cast<GrpcTarget>())
            {
                var result = await PublishOnlyRoundAsync(target, round);
                var total = totals[target.Name];
                total.Latency.Add(result.Latency);
                totals[target.Name] = (
                    total.Acked + result.Acked,
                    total.Seconds + result.Seconds,
                    total.Cpu + result.Cpu,
                    total.Latency);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  WP {target.Name,-10} round {round + 1}: {result.Acked / result.Seconds,10:N0} publishes/s  "
                        + $"p50 {result.Latency.PercentileMs(50):F1} ms  p99 {result.Latency.PercentileMs(99):F1} ms"));
                await ResetConnectionsAsync();
            }
        }

        foreach (var target in targets)
        {
            var total = totals[target.Name];
            workload.Rows.Add(new TargetRow(target.Name)
                .Set("publishes_per_s", total.Acked / total.Seconds)
                .Set("p50_ms", total.Latency.PercentileMs(50))
                .Set("p99_ms", total.Latency.PercentileMs(99))
                .Set("server_cpu_s_per_m", total.Cpu / total.Acked * 1e6));
        }

        workload.AddRatios("publishes_per_s", "publishes/s");
        workload.AddRatios("server_cpu_s_per_m", "server CPU per publish");
        workload.Notes.Add($"backends: {BackendNote()}");
        workload.Notes.Add("latency = from the request's write to its answer on the producer's stream, with up to "
            + $"{ClientSettings.PublishWindow} unanswered per producer (so it includes the wait behind the window)");
        Print(workload);
    }

    private async Task<(long Acked, double Seconds, double Cpu, LatencyHistogram Latency)> PublishOnlyRoundAsync(
        GrpcTarget target,
        int round)
    {
        var topics = Enumerable.Range(0, PublishOnlyTopics).Select(i => $"wp-r{round}-t{i}").ToArray();
        using var stop = new CancellationTokenSource();
        var publishers = new List<StubPublisher>();
        for (var i = 0; i < Producers; i++)
        {
            publishers.Add((StubPublisher)await target.OpenPublisherAsync(i, CancellationToken.None));
        }

        var producing = publishers.Select((publisher, index) => Task.Run(async () =>
        {
            var events = new EventFactory(index);
            var n = 0;
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    var topic = topics[(index + n++) % topics.Length];
                    await publisher.PublishAsync(events.Create(topic, "job-wp"), stop.Token);
                }
            }
            catch (Exception e) when (stop.IsCancellationRequested
                && e is OperationCanceledException
                    or Grpc.Core.RpcException { StatusCode: Grpc.Core.StatusCode.Cancelled })
            {
                // The round is over.
            }
        })).ToList();
        try
        {
            await Task.Delay(_plan.Warmup);
            var latency = new LatencyHistogram();
            foreach (var publisher in publishers)
            {
                publisher.AckLatency = latency;
            }

            var acked0 = publishers.Sum(p => p.Answered);
            var cpu0 = target.Server.CpuSeconds();
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            await Task.Delay(_plan.Round);
            var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
            var acked = publishers.Sum(p => p.Answered) - acked0;
            var cpu = target.Server.CpuSeconds() - cpu0;
            foreach (var publisher in publishers)
            {
                publisher.AckLatency = null;
            }

            return (acked, seconds, cpu, latency);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(producing);
            foreach (var publisher in publishers)
            {
                await publisher.DisposeAsync();
            }
        }
    }

    /// <summary>Which backend each of our gateways runs on (recorded with the results).</summary>
    private string BackendNote() => _options.BaselineGateway is null
        ? $"ours on {_options.Backend}"
        : $"ours on {_options.Backend}, ours-base on memory";
}
