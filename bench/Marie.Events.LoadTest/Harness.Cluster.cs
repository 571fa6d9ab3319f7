using System.Diagnostics;
using System.Globalization;
using Marie.Events.LoadTest.Infra;
using Marie.Events.LoadTest.Report;
using Marie.Events.LoadTest.Targets;
using Marie.Events.LoadTest.Workloads;

namespace Marie.Events.LoadTest;

/// <summary>
/// WC, the cluster run (issues 7 and 13): W1's shape on (a) one gateway on the memory backend, (b) one gateway on
/// Redis, (c) two gateways on the same Redis and (d) two gateways on a 3-shard Redis Cluster, producers and each
/// topic's subscribers split evenly over the gateways; rounds alternate between the configurations. Starts its own
/// redis-server processes and gateways, stops them at the end. (d) is left out, with a note, when the cluster cannot
/// be made (no redis-cli).
/// </summary>
internal sealed partial class Harness
{
    /// <summary>What one WC round measured beyond <see cref="RoundResult"/> (whose ServerCpu is every
    /// gateway's).</summary>
    private sealed record ClusterRound(RoundResult Result, double[] GatewayCpu, double RedisCpu);

    /// <summary>Shards of WC (d)'s Redis Cluster.</summary>
    private const int ClusterShards = 3;

    /// <summary>Warm-up rounds per WC configuration (the first of <c>Plan.Warmup</c>, the others of a round's
    /// length): about 10 s of load per gateway, by which the tiered JIT has compiled the hot paths (see
    /// docs/cluster.md, Cluster run).</summary>
    private const int ClusterWarmups = 3;

    private async Task RunWCAsync()
    {
        var redisBinary = ClusterLaunch.FindRedisServer(out var reason);
        if (redisBinary is null)
        {
            if (_options.OnlyGiven)
            {
                throw new InvalidOperationException($"WC (cluster run) cannot run: {reason}");
            }

            var message = $"WC (cluster run) skipped: {reason}";
            Console.WriteLine(message);
            _report.Notes.Add(message);
            return;
        }

        var settings = new ServerSettings(
            _workDir,
            _plan.ReplayRing,
            _options.HeartbeatSeconds,
            _options.GatewayEnvironment);
        var servers = new List<GrpcTarget>();
        ServerProcess? redis = null;
        var shards = new List<ServerProcess>();
        try
        {
            (redis, var connection) = await ClusterLaunch.StartRedisAsync(_workDir, redisBinary);
            // Four gateways: (b) has its own key prefix, so (c)'s pair never receives (b)'s fan-out and the reverse.
            var memory = await ClusterLaunch.StartGatewayAsync(settings, "memory", null, null);
            var single = await ClusterLaunch.StartGatewayAsync(settings, "redis-1", connection, "wc1:");
            var pairA = await ClusterLaunch.StartGatewayAsync(settings, "redis-2a", connection, "wc2:");
            var pairB = await ClusterLaunch.StartGatewayAsync(settings, "redis-2b", connection, "wc2:");
            servers.AddRange([memory, single, pairA, pairB]);
            Console.WriteLine($"WC: redis-server pid {redis.Pid} ({connection}); gateways: "
                + $"memory pid {memory.Server.Pid}, redis-1 pid {single.Server.Pid}, "
                + $"redis-2a pid {pairA.Server.Pid}, redis-2b pid {pairB.Server.Pid}");
            List<ClusterTarget> configs =
            [
                new("(a) 1 gateway, memory", [memory], []),
                new("(b) 1 gateway, Redis", [single], [redis]),
                new("(c) 2 gateways, Redis", [pairA, pairB], [redis]),
            ];
            try
            {
                (shards, var clusterConnection) =
                    await RedisClusterLaunch.StartAsync(_workDir, redisBinary, ClusterShards);
                var shardA = await ClusterLaunch.StartGatewayAsync(settings, "rcluster-a", clusterConnection, "wc3:");
                var shardB = await ClusterLaunch.StartGatewayAsync(settings, "rcluster-b", clusterConnection, "wc3:");
                servers.AddRange([shardA, shardB]);
                configs.Add(new($"(d) 2 gateways, {ClusterShards}-shard Redis Cluster", [shardA, shardB], shards));
                Console.WriteLine($"WC: Redis Cluster pids {string.Join(",", shards.Select(s => s.Pid))} "
                    + $"({clusterConnection}); gateways rcluster-a pid {shardA.Server.Pid}, rcluster-b pid "
                    + $"{shardB.Server.Pid}");
            }
            catch (InvalidOperationException ex)
            {
                var message = $"WC (d) skipped: {ex.Message}";
                Console.WriteLine(message);
                _report.Notes.Add(message);
            }

            await RunClusterRoundsAsync(configs);
        }
        finally
        {
            foreach (var gateway in servers)
            {
                await gateway.DisposeAsync();
                await gateway.Server.DisposeAsync();
            }

            if (redis is not null)
            {
                await redis.DisposeAsync();
            }

            foreach (var shard in shards)
            {
                await shard.DisposeAsync();
            }
        }
    }

    private async Task RunClusterRoundsAsync(List<ClusterTarget> configs)
    {
        var shape = W1Shape with { Shape = new WorkloadShape("wc", 10, _plan.ReplayRing) };
        Console.WriteLine($"WC: {(_plan.Warmup > TimeSpan.Zero ? "warm-up, then " : "")}{_plan.Rounds} round(s) of "
            + $"{_plan.Round.TotalSeconds:F1} s per configuration");
        var results = configs.ToDictionary(c => c, _ => new List<ClusterRound>());
        var latencies = configs.ToDictionary(c => c, _ => new LatencyHistogram());
        // Each gateway process compiles the same code, so a two-gateway configuration pays the JIT twice: in a
        // sampled profile the JIT took 25-30 % of a gateway's CPU over its first 80 s here and 1.4 % after. One
        // short warm-up left that in the first measured rounds and raised (c) and (d) against (a); a measured
        // round starts once each configuration has run ClusterWarmups rounds.
        for (var w = 0; w < (_plan.Warmup > TimeSpan.Zero ? ClusterWarmups : 0); w++)
        {
            foreach (var config in configs)
            {
                await ClusterRoundAsync(config, shape, "warm", w == 0 ? _plan.Warmup : _plan.Round, null);
            }
        }

        for (var i = 0; i < _plan.Rounds; i++)
        {
            // Rotated like the other workloads, so no configuration always runs first or last.
            foreach (var config in configs.Skip(i % configs.Count).Concat(configs.Take(i % configs.Count)))
            {
                var round = await ClusterRoundAsync(config, shape, $"r{i}", _plan.Round, latencies[config]);
                results[config].Add(round);
                var perMillion = 1e6 / Math.Max(1, round.Result.Deliveries);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  WC round {i + 1} {config.Name,-22} {round.Result.DeliveriesPerSecond,12:N0} deliveries/s  "
                        + $"gateways {round.Result.ServerCpu * perMillion,6:F2} CPU s/M  redis "
                        + $"{round.RedisCpu * perMillion,5:F2} CPU s/M  others "
                        + $"{round.Result.OtherCpu / round.Result.Seconds:F2} cores"));
            }
        }

        var workload = new WorkloadReport(
            "WC",
            "cluster run: W1's shape (4 producers, 10 topics, 100 subscribers, cumulative acks) on one gateway in "
                + "memory, one gateway on Redis, two gateways on one Redis, two gateways on a Redis Cluster; "
                + "producers and subscribers spread over the gateways");
        foreach (var config in configs)
        {
            var sum = RoundResult.Sum([.. results[config].Select(r => r.Result)]);
            var deliveries = Math.Max(1, sum.Deliveries);
            var row = ThroughputRow(config.Name, [.. results[config].Select(r => r.Result)])
                .Set(Metrics.P50, latencies[config].PercentileMs(50))
                .Set(Metrics.P99, latencies[config].PercentileMs(99));
            if (config.Redis.Count > 0)
            {
                var redisCpu = results[config].Sum(r => r.RedisCpu);
                row.Set(Metrics.RedisCpuPerMillion, redisCpu / deliveries * 1e6);
                // Events published = deliveries / the fan-out (every event reaches each of its topic's subscribers).
                row.Set(Metrics.RedisCpuUsPerEvent, redisCpu / ((double)deliveries / shape.Fanout) * 1e6);
            }

            workload.Rows.Add(row);
            if (config.Gateways.Count > 1)
            {
                var each = config.Gateways.Select((g, k) => string.Create(CultureInfo.InvariantCulture,
                    $"{g.Name} {results[config].Sum(r => r.GatewayCpu[k]) / deliveries * 1e6:F2}"));
                workload.Notes.Add($"{config.Name}: server CPU s / M deliveries per gateway: {string.Join(", ", each)} "
                    + "(each takes half the producers and half of every topic's subscribers)");
            }
        }

        var baseline = workload.Rows[0];
        foreach (var (metric, label) in new[]
        {
            (Metrics.DeliveriesPerSecond, "deliveries/s"),
            (Metrics.ServerCpuPerMillion, "gateway CPU per delivery"),
            (Metrics.P50, "p50 latency"),
            (Metrics.P99, "p99 latency"),
        })
        {
            var ratios = workload.Rows.Skip(1).Select(row => string.Create(CultureInfo.InvariantCulture,
                $"{row.Target[..3]} / (a) = {row.Get(metric) / baseline.Get(metric):F2}"));
            workload.Ratios.Add($"{label}: {string.Join(", ", ratios)}");
        }

        workload.Notes.Add("server CPU = our gateways' own CPU (both gateways summed in (c) and (d)); redis CPU = "
            + "redis-server's own, summed over the shards in (d) (no snapshots, no AOF, no replicas); acks cumulative "
            + "every 64 events per subscription");
        workload.Notes.Add("on a 2-core machine the gateways share the cores: the CPU-per-delivery ratios, not the "
            + "rates, tell what a gateway adds in capacity");
        workload.Notes.Add("latency: publish-to-receive under this closed loop (producers as fast as the flow window "
            + "allows, so queueing is included), as in W4; one event at a time, see docs/cluster.md (Added latency)");
        AddSpreadNote(workload);
        Print(workload);
    }

    /// <summary>One round of one configuration, as <c>FanoutRoundAsync</c>, measuring every gateway and
    /// redis-server.</summary>
    private static async Task<ClusterRound> ClusterRoundAsync(
        ClusterTarget config,
        FanoutShape shape,
        string round,
        TimeSpan measure,
        LatencyHistogram? latency)
    {
        var flow = new Flow(shape.Shape.Topics, shape.Fanout, shape.Window, latency);
        using var run = new CancellationTokenSource();
        var specs = config.Spread(
            Rounds.Specs(shape, $"{round}-{config.Gateways[0].Name}"),
            shape.SubscribersPerTopic,
            shape.PerConnection);
        var subscriptions = await Rounds.SubscribeAllAsync(config, specs, flow, run.Token);
        var publishers = new List<IBenchPublisher>();
        Task[] producers = [];
        try
        {
            for (var p = 0; p < shape.Producers; p++)
            {
                publishers.Add(await config.OpenPublisherAsync(p, run.Token));
            }

            producers =
            [
                .. publishers.Select((publisher, p) =>
                    Rounds.ProduceAsync(publisher, p, shape, flow, null, run.Token)),
            ];
            await Task.Delay(RoundRampUp);
            flow.RecordLatencyAfter = Stopwatch.GetTimestamp();
            var start = Snapshot.Take(config, flow);
            var gatewaysStart = config.Gateways.Select(g => g.Server.CpuSeconds()).ToArray();
            var redisStart = config.Redis.Sum(r => r.CpuSeconds());
            var transportStart = GatewaysTransport(config);
            await Task.Delay(measure);
            var end = Snapshot.Take(config, flow);
            var gateways = config.Gateways.Select((g, k) => g.Server.CpuSeconds() - gatewaysStart[k]).ToArray();
            var transportEnd = GatewaysTransport(config);
            var redisCpu = config.Redis.Sum(r => r.CpuSeconds()) - redisStart;
            if (producers.FirstOrDefault(p => p.IsFaulted) is { } failed)
            {
                throw new InvalidOperationException(
                    $"{config.Name}: a producer failed: {failed.Exception!.GetBaseException().Message}");
            }

            // Snapshot counts gateway A only as the server; B and redis-server move from "other processes" to their own
            // figures.
            var result = end.Since(start, flow.Lost);
            result = result with
            {
                ServerCpu = gateways.Sum(),
                OtherCpu = Math.Max(0, result.OtherCpu - (gateways.Sum() - result.ServerCpu) - redisCpu),
                ServerSegments = transportEnd.Segments - transportStart.Segments,
                ServerSwitches = transportEnd.Switches - transportStart.Switches,
            };
            return new ClusterRound(result, gateways, redisCpu);
        }
        finally
        {
            await run.CancelAsync();
            await Task.WhenAll(producers).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await Rounds.DisposeAllAsync(publishers);
            await Rounds.DisposeAllAsync(subscriptions);
        }
    }

    /// <summary>The TCP segments sent (null without <c>ss</c>) and the context switches so far, summed over the
    /// configuration's gateways (the snapshot counts the first one only).</summary>
    private static (long? Segments, long Switches) GatewaysTransport(ClusterTarget config)
    {
        long? segments = 0;
        long switches = 0;
        foreach (var gateway in config.Gateways)
        {
            segments += ProcStat.TcpDataSegmentsOut(gateway.Server.Pid);
            switches += ProcStat.ContextSwitches(gateway.Server.Pid);
        }

        return (segments, switches);
    }
}
