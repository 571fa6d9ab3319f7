using System.Diagnostics;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.FunctionalTests.Infrastructure;
using Xunit.Abstractions;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>Cluster mode that scales out (docs/cluster.md): a real 3-primary/3-replica Redis Cluster and a Sentinel
/// set on loopback, three gateways, primaries killed (SIGKILL) mid-run with ack_replicas 1.</summary>
public sealed class ScaleOutTests(ITestOutputHelper output)
{
    /// <summary>Topics enough that every shard holds some (the test checks it).</summary>
    private static readonly string[] Topics = [.. Enumerable.Range(1, 9).Select(i => $"shard-topic-{i}")];

    /// <summary>The events of the Redis Cluster fault run (a primary killed a third of the way through); the
    /// failover, not the events, takes most of its 12 to 14 s here.</summary>
    private const int FaultRunEvents = 20_000;

    /// <summary>A fault run's time limit: several times what it takes on this machine.</summary>
    private static readonly TimeSpan FaultRunTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task RedisCluster_ThreeGateways_EveryEventOnceInOrderOnEveryGateway()
    {
        const int perTopic = 300;
        await using var cluster = await RedisClusterNodes.StartAsync();
        var primaries = new HashSet<int>();
        foreach (var topic in Topics)
        {
            primaries.Add((await cluster.PrimaryForAsync(topic)).Port);
        }

        Assert.Equal(3, primaries.Count);
        var kit = Kit(cluster.Connection, perTopic);
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        await using var c = await kit.StartAsync("gw-c");
        var stopwatch = Stopwatch.StartNew();
        var (acked, views) =
            await ScaleOutRun.RunAsync(kit, [a, b, c], Topics, perTopic, null, TimeSpan.FromSeconds(40));
        output.WriteLine($"{acked.Count} events over 3 shards, 3 gateways: {ScaleOutRun.Ms(stopwatch)} ms");
        ScaleOutRun.AssertPromises(acked, views, Topics, perTopic);
        Assert.All(views, v => Assert.Equal((0, 1L), (v.Duplicates, v.Connections)));
    }

    [Fact]
    public async Task RedisClusterPrimaryKilledMidRun_AckReplicasOne_NoAcknowledgedEventLostNoNumberTwice()
    {
        var perTopic = (FaultRunEvents + Topics.Length - 1) / Topics.Length;
        await using var cluster = await RedisClusterNodes.StartAsync();
        var kit = Kit(cluster.Connection, perTopic);
        kit.Broker["redis:ack_replicas"] = "1";
        kit.Broker["redis:ack_timeout_ms"] = "200";
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        await using var c = await kit.StartAsync("gw-c");
        var stopwatch = Stopwatch.StartNew();
        var victim = await cluster.PrimaryForAsync(Topics[0]);
        long killedAt = 0;
        var (acked, views) = await ScaleOutRun.RunAsync(kit, [a, b, c], Topics, perTopic, async () =>
        {
            killedAt = ScaleOutRun.Ms(stopwatch);
            await victim.KillAsync();
            // Its replica takes over; the killed node comes back (as a replica) so its shard can confirm writes.
            await Wait.UntilAsync(
                async () => await cluster.TryPrimaryForAsync(Topics[0]) is { } now && now.Port != victim.Port,
                "the replica promoted",
                TimeSpan.FromSeconds(30));
            await victim.StartAsync();
        }, FaultRunTimeout);
        output.WriteLine($"{acked.Count} events, primary :{victim.Port} killed at {killedAt} ms: "
            + $"{ScaleOutRun.Ms(stopwatch)} ms; duplicates {string.Join(",", views.Select(v => v.Duplicates))}, "
            + $"connections {string.Join(",", views.Select(v => v.Connections))}");
        ScaleOutRun.AssertPromises(acked, views, Topics, perTopic);
    }

    [Fact]
    public async Task SentinelPrimaryKilledMidRun_AckReplicasOne_NoAcknowledgedEventLostNoNumberTwice()
    {
        const int perTopic = 700;
        string[] topics = [.. Topics.Take(3)];
        await using var set = await RedisSentinelSet.StartAsync();
        var kit = Kit(set.Connection, perTopic);
        kit.Broker["redis:ack_replicas"] = "1";
        kit.Broker["redis:ack_timeout_ms"] = "200";
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        await using var c = await kit.StartAsync("gw-c");
        var stopwatch = Stopwatch.StartNew();
        long killedAt = 0;
        var (acked, views) = await ScaleOutRun.RunAsync(kit, [a, b, c], topics, perTopic, async () =>
        {
            killedAt = ScaleOutRun.Ms(stopwatch);
            await set.Primary.KillAsync();
            await Wait.UntilAsync(
                async () => await set.PrimaryPortAsync() == set.Replica.Port,
                "the sentinel promoting the replica",
                TimeSpan.FromSeconds(30));
            // The old primary comes back as the new primary's replica, so writes can be confirmed again.
            await set.Primary.StartAsync("--replicaof", "127.0.0.1", $"{set.Replica.Port}");
        }, FaultRunTimeout);
        output.WriteLine($"{acked.Count} events, sentinel failover at {killedAt} ms: {ScaleOutRun.Ms(stopwatch)} ms; "
            + $"duplicates {string.Join(",", views.Select(v => v.Duplicates))}, "
            + $"connections {string.Join(",", views.Select(v => v.Connections))}");
        ScaleOutRun.AssertPromises(acked, views, topics, perTopic);
    }

    private static ClusterKit Kit(string connection, int perTopic) =>
        new(connection)
        {
            // The ring holds the run: a stream that resumes finds everything after its last event.
            Broker = { ["replay_size"] = $"{2 * perTopic}" },
        };
}
