using System.Diagnostics;
using System.Globalization;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.FunctionalTests.Infrastructure;
using Xunit.Abstractions;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>
/// Publish-to-receive latency, one event at a time: the memory backend (publish and receive on one gateway) and
/// cluster mode (publish on gateway A, receive on gateway B, through Redis). Reports the figures (docs/cluster.md
/// quotes them); asserts only that every event arrives, never a speed.
/// </summary>
public sealed class ClusterLatencyTests(ITestOutputHelper output)
{
    /// <summary>Events measured per backend (after a warm-up of the same size).</summary>
    private const int Samples = 300;

    [Fact]
    public async Task PublishToReceive_MemoryAndCluster_EveryEventArrivesAndFiguresReported()
    {
        await using var memory = await Gateways.StartAsync();
        var memoryFigures = await MeasureAsync(memory, memory, memory.Keys);

        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = new ClusterKit(redis);
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        var clusterFigures = await MeasureAsync(a, b, kit.Keys);

        output.WriteLine($"memory backend, one gateway:        {memoryFigures}");
        output.WriteLine($"redis backend, publish A, receive B: {clusterFigures}");
    }

    private static async Task<string> MeasureAsync(GatewayFixture publishTo, GatewayFixture receiveFrom, TestKeys keys)
    {
        await using var subscriber = ClusterKit.Client(keys.Subscriber, ClusterKit.AddressOf(receiveFrom));
        await using var publisher = ClusterKit.Client(keys.Admin, ClusterKit.AddressOf(publishTo));
        var options = new SubscriptionOptions();
        options.Topics.Add("latency");
        await using var subscription = await subscriber.SubscribeAsync(options);
        await using var events = subscription.GetAsyncEnumerator();
        var samples = new List<double>();
        for (var i = 0; i < 2 * Samples; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var response = await publisher.PublishAsync(Gateways.Event("latency"));
            using var timeout = new CancellationTokenSource(Wait.Timeout);
            Assert.True(await events.MoveNextAsync().AsTask().WaitAsync(timeout.Token));
            Assert.Equal(response.Id, events.Current.Event.Id);
            if (i >= Samples)
            {
                samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }

        samples.Sort();
        return string.Create(CultureInfo.InvariantCulture,
            $"p50 {samples[samples.Count / 2]:F2} ms, p90 {samples[samples.Count * 9 / 10]:F2} ms, p99 "
                + $"{samples[samples.Count * 99 / 100]:F2} ms ({Samples} events)");
    }
}
