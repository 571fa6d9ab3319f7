using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.FunctionalTests.Infrastructure;
using Xunit.Abstractions;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>
/// What cluster mode costs per event, measured on real processes (docs/cluster.md, Sizing): gateway A (its own
/// process) files the events in Redis, gateway B (its own process) has no stream at all and only keeps its rings,
/// and redis-server's own CPU (INFO cpu). The figures are printed; the test asserts delivery only, never a
/// speed.
/// </summary>
public sealed class ClusterCostTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(10, 8)]
    [InlineData(1, 8)]
    [InlineData(1, 1)]
    public async Task PublishThroughA_BWithNoStreams_EveryEventInBsRingAndCostsReported(int topicCount, int depth)
    {
        const int events = 20_000;
        string[] topics = [.. Enumerable.Range(1, topicCount).Select(i => $"cost-{i}")];
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = new ClusterKit(redis) { Broker = { ["replay_size"] = "2000" } };
        kit.Broker["redis:pipeline_depth"] = depth.ToString(CultureInfo.InvariantCulture);
        await using var a = await kit.StartProcessAsync("gw-a");
        await using var b = await kit.StartProcessAsync("gw-b");
        var options = ClusterKit.Options(kit.Keys.Admin, a.Address);
        // Enough requests outstanding that each topic's lane has a queue to batch and pipeline.
        options.PublishWindow = 2_000;
        await using var publisher = new EventStreamClient(options);
        // Warm-up: the topics exist everywhere and the code paths are jitted before anything is measured.
        await publisher.PublishBatchAsync(topics.Select(t => Gateways.Event(t)));
        await Wait.UntilAsync(async () => await StoredAsync(b, kit) == topics.Length, "B holding the warm-up");

        var (aCpu, bCpu, redisCpu) = (a.CpuTime, b.CpuTime, await RedisCpuAsync(redis));
        var stopwatch = Stopwatch.StartNew();
        var receipts = await publisher.PublishBatchAsync(
            Enumerable.Range(0, events).Select(i => Gateways.Event(topics[i % topics.Length])));
        var published = stopwatch.Elapsed;
        await Wait.UntilAsync(
            async () => await StoredAsync(b, kit) == topics.Length + events,
            "B holding every event",
            TimeSpan.FromSeconds(30));
        var aUs = (a.CpuTime - aCpu).TotalMicroseconds / events;
        var bUs = (b.CpuTime - bCpu).TotalMicroseconds / events;
        var redisUs = (await RedisCpuAsync(redis) - redisCpu) * 1e6 / events;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"pipeline_depth {depth}: {events} events over {topics.Length} topics in "
                + $"{published.TotalMilliseconds:F0} ms "
                + $"({events / published.TotalSeconds:F0} acknowledged publishes/s): gateway A (files them) "
                + $"{aUs:F1} us CPU/event, gateway B (no streams) {bUs:F1} us CPU/event, redis-server "
                + $"{redisUs:F1} us CPU/event"));
        Assert.Equal(events, receipts.Count);
        foreach (var topic in topics)
        {
            Assert.Equal(
                Enumerable.Range(2, events / topics.Length).Select(n => (long)n),
                receipts.Where(r => r.Topic == topic).Select(r => r.SequenceNum));
        }
    }

    /// <summary>events_published of a gateway process: the events its broker stored (from any gateway).</summary>
    private static async Task<long> StoredAsync(GatewayProcess gateway, ClusterKit kit)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gateway.AdminPort}") };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/internal/stats");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", kit.Keys.Admin);
        using var response = await http.SendAsync(request);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("events_published").GetInt64();
    }

    /// <summary>redis-server's CPU seconds so far (used_cpu_sys + used_cpu_user of INFO cpu).</summary>
    private static async Task<double> RedisCpuAsync(RedisServer redis)
    {
        var info = await RedisProcess.TryCommandAsync(redis.Port, "INFO", "cpu") ?? "";
        return info.Split("\r\n")
            .Where(l => l.StartsWith("used_cpu_sys:", StringComparison.Ordinal)
                || l.StartsWith("used_cpu_user:", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..], CultureInfo.InvariantCulture));
    }
}
