using System.Diagnostics;
using System.Text.Json;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Broker;
using Marie.Events.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>Cluster mode (docs/cluster.md): several gateways on one real Redis, on loopback.</summary>
public sealed class ClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task PublishOnA_SubscribersOnBAndC_EachGetsEveryEventOnceInOrder()
    {
        const int perTopic = 1_000;
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        // A ring that holds the run: a subscriber that falls behind finds what it missed (no loss by overwrite).
        var kit = new ClusterKit(redis) { Broker = { ["replay_size"] = $"{2 * perTopic}" } };
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        await using var c = await kit.StartAsync("gw-c");
        string[] topics = ["orders", "invoices"];
        await using var onB = ClusterKit.Client(kit.Keys.Subscriber, ClusterKit.AddressOf(b));
        await using var onC = ClusterKit.Client(kit.Keys.Subscriber, ClusterKit.AddressOf(c));
        await using var publisher = ClusterKit.Client(kit.Keys.Admin, ClusterKit.AddressOf(a));
        var options = new SubscriptionOptions();
        options.Topics.Add(topics[0]);
        options.Topics.Add(topics[1]);
        await using var subB = await onB.SubscribeAsync(options);
        await using var subC = await onC.SubscribeAsync(options);

        var readB = Task.Run(() => Gateways.ReadAsync(subB, 2 * perTopic));
        var readC = Task.Run(() => Gateways.ReadAsync(subC, 2 * perTopic));
        var responses = await publisher.PublishBatchAsync(
            Enumerable.Range(0, perTopic).SelectMany(_ => topics.Select(t => Gateways.Event(t))));

        foreach (var topic in topics)
        {
            Assert.Equal(
                Enumerable.Range(1, perTopic).Select(i => (long)i),
                responses.Where(r => r.Topic == topic).Select(r => r.SequenceNum).Order());
        }

        foreach (var reading in new[] { readB, readC })
        {
            var received = await reading;
            foreach (var topic in topics)
            {
                Assert.Equal(
                    Enumerable.Range(1, perTopic).Select(i => (long)i),
                    received.Where(e => e.Topic == topic).Select(e => e.SequenceNum));
            }

            Assert.Equal(responses.Select(r => r.Id).Order(), received.Select(e => e.Event.Id).Order());
        }

        // Stats: topic figures cluster-wide (from Redis), and which gateway answered.
        using var stats = await c.GetStatsAsync(kit.Keys.Admin);
        using var json = JsonDocument.Parse(await stats.Content.ReadAsStringAsync());
        Assert.Equal("gw-c", json.RootElement.GetProperty("gateway").GetString());
        Assert.Equal("redis", json.RootElement.GetProperty("backend").GetString());
        Assert.Equal("redis", json.RootElement.GetProperty("topic_stats_from").GetString());
        Assert.Equal(
            perTopic,
            json.RootElement.GetProperty("topic_stats").GetProperty("orders").GetProperty("head").GetInt64());
    }

    [Fact]
    public async Task GatewayProcessKilledMidRun_ClientFailsOverToAnother_NoEventLost()
    {
        const int perTopic = 10_000;
        string[] topics = ["kill-1", "kill-2"];
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        // The ring holds the whole run, so the gateway failed over to still has what the client had not processed.
        var kit = new ClusterKit(redis) { Broker = { ["replay_size"] = $"{perTopic}" } };
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartProcessAsync("gw-b");
        await using var c = await kit.StartAsync("gw-c");
        await using var subscriber = ClusterKit.Client(kit.Keys.Subscriber, b.Address, ClusterKit.AddressOf(c));
        await using var publisher = ClusterKit.Client(kit.Keys.Admin, ClusterKit.AddressOf(a));
        var options = new SubscriptionOptions { BufferCapacity = 2_000 };
        options.Topics.Add(topics[0]);
        options.Topics.Add(topics[1]);
        await using var subscription = await subscriber.SubscribeAsync(options);
        Assert.Equal(b.Address, subscriber.ConnectedAddress);

        var stopwatch = Stopwatch.StartNew();
        var publishing = Task.Run(() => publisher.PublishBatchAsync(
            Enumerable.Range(0, perTopic).SelectMany(_ => topics.Select(t => Gateways.Event(t)))));
        var seen = topics.ToDictionary(t => t, _ => new HashSet<long>());
        var last = topics.ToDictionary(t => t, _ => 0L);
        var duplicates = 0;
        var outOfOrder = 0;
        var total = 0;
        var killedAt = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await foreach (var e in subscription.WithCancellation(timeout.Token))
        {
            if (!seen[e.Topic].Add(e.SequenceNum))
            {
                duplicates++;
            }
            else if (e.SequenceNum != last[e.Topic] + 1)
            {
                outOfOrder++;
            }

            last[e.Topic] = Math.Max(last[e.Topic], e.SequenceNum);
            total++;
            if (killedAt == 0 && total == 5_000)
            {
                killedAt = total;
                await b.KillAsync();
            }

            if (seen.Values.Sum(s => s.Count) == topics.Length * perTopic)
            {
                await e.AckAsync();
                break;
            }
        }

        await publishing;
        var statistics = subscriber.Statistics;
        output.WriteLine($"{topics.Length * perTopic} events, gateway process killed after {killedAt}: " +
            $"{stopwatch.ElapsedMilliseconds} ms, " +
            $"{duplicates} duplicates reached the application, {statistics.DuplicatesDropped} dropped by the client, " +
            $"{statistics.Connections} connections, now on {subscriber.ConnectedAddress}");
        Assert.Equal(ClusterKit.AddressOf(c), subscriber.ConnectedAddress);
        Assert.All(seen.Values, s => Assert.Equal(perTopic, s.Count));
        Assert.Equal(0, outOfOrder);
        Assert.Equal(0, statistics.EventsLost);
        Assert.Equal(0, statistics.EpochChanges);
    }

    [Fact]
    public async Task RedisRestartedMidRunWithAof_EveryAcknowledgedEventDelivered()
    {
        const int events = 3_000;
        await using var redis = await RedisServer.StartAsync(appendOnly: true);
        var kit = new ClusterKit(redis) { Broker = { ["replay_size"] = $"{events}" } };
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        await using var subscriber = ClusterKit.Client(kit.Keys.Subscriber, ClusterKit.AddressOf(b));
        await using var publisher = ClusterKit.Client(kit.Keys.Admin, ClusterKit.AddressOf(a));
        var options = new SubscriptionOptions { BufferCapacity = 4_000 };
        options.Topics.Add("restart");
        await using var subscription = await subscriber.SubscribeAsync(options);

        var received = new HashSet<string>(StringComparer.Ordinal);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var reading = Task.Run(async () =>
        {
            await foreach (var e in subscription.WithCancellation(timeout.Token))
            {
                lock (received)
                {
                    received.Add(e.Event.Id);
                }
            }
        });
        var acknowledged = new List<PublishResponse>();
        Task? restart = null;
        await foreach (var response in publisher.PublishStreamAsync(Generate()))
        {
            acknowledged.Add(response);
            if (acknowledged.Count == 1_000)
            {
                restart = redis.RestartAsync();
            }
        }

        Assert.NotNull(restart);
        await restart;
        await Wait.UntilAsync(() =>
        {
            lock (received)
            {
                return acknowledged.All(r => received.Contains(r.Id));
            }
        }, $"every acknowledged event received (lost: {subscriber.Statistics.EventsLost})", TimeSpan.FromSeconds(20));
        await timeout.CancelAsync();
        await reading.ContinueWith(_ => { }, TaskScheduler.Default);

        Assert.Equal(events, acknowledged.Count);
        // Sequence numbers went on after the restart (the AOF kept them): one run 1..N, no reset.
        Assert.Equal(Enumerable.Range(1, events).Select(i => (long)i), acknowledged.Select(r => r.SequenceNum).Order());
        Assert.Equal(0, subscriber.Statistics.EpochChanges);
        // The subscriber's stream stayed up through the outage (one connection in all).
        Assert.Equal(1, subscriber.Statistics.Connections);
        // Event 8003: the gateway saw Redis come back and caught up.
        Assert.Contains(b.Logs.Entries, e => e.EventId.Id == 8003);

        static async IAsyncEnumerable<EventData> Generate()
        {
            for (var i = 0; i < events; i++)
            {
                yield return Gateways.Event("restart");
                await Task.Yield();
            }
        }
    }

    [Fact]
    public async Task EveryGatewayRestarted_SubscriberResumesBySequence_NoReset()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = new ClusterKit(redis);
        var portA = RedisServer.FreePort();
        var portB = RedisServer.FreePort();
        var a = await kit.StartAsync("gw-a", portA);
        var b = await kit.StartAsync("gw-b", portB);
        await using var subscriber = ClusterKit.Client(
            kit.Keys.Subscriber,
            ClusterKit.AddressOf(a),
            ClusterKit.AddressOf(b));
        var options = new SubscriptionOptions();
        options.Topics.Add("resume");
        await using var subscription = await subscriber.SubscribeAsync(options);
        await using (var publisher = ClusterKit.Client(kit.Keys.Admin, ClusterKit.AddressOf(b)))
        {
            await publisher.PublishBatchAsync(Enumerable.Range(0, 100).Select(_ => Gateways.Event("resume")));
        }

        var before = await Gateways.ReadAsync(subscription, 100);
        await a.DisposeAsync();
        await b.DisposeAsync();

        await using var a2 = await kit.StartAsync("gw-a2", portA);
        await using var b2 = await kit.StartAsync("gw-b2", portB);
        // Replay survived: a new subscriber gets the 100 events from the restarted gateway's ring.
        await using (var late = ClusterKit.Client(kit.Keys.Subscriber, ClusterKit.AddressOf(b2)))
        {
            var replayOptions = new SubscriptionOptions { ReplayCount = 100 };
            replayOptions.Topics.Add("resume");
            await using var replay = await late.SubscribeAsync(replayOptions);
            var replayed = await Gateways.ReadAsync(replay, 100);
            Assert.Equal(before.Select(e => e.Event.Id), replayed.Select(e => e.Event.Id));
        }

        IReadOnlyList<PublishResponse> more;
        await using (var publisher = ClusterKit.Client(kit.Keys.Admin, ClusterKit.AddressOf(b2)))
        {
            more = await publisher.PublishBatchAsync(Enumerable.Range(0, 50).Select(_ => Gateways.Event("resume")));
        }

        var after = await Gateways.ReadAsync(subscription, 50);
        Assert.Equal(Enumerable.Range(101, 50).Select(i => (long)i), more.Select(r => r.SequenceNum));
        Assert.Equal(Enumerable.Range(101, 50).Select(i => (long)i), after.Select(e => e.SequenceNum));
        Assert.Equal(0, subscriber.Statistics.EpochChanges);
        Assert.Equal(0, subscriber.Statistics.EventsLost);
        Assert.True(subscriber.Statistics.Connections >= 2);
    }

    [Fact]
    public async Task RedisRestartedWithoutAof_TopicStartsOverUnderNewEpoch_SubscriberToldAndGetsNewEvents()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = new ClusterKit(redis);
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        await using var subscriber = ClusterKit.Client(kit.Keys.Subscriber, ClusterKit.AddressOf(b));
        await using var publisher = ClusterKit.Client(kit.Keys.Admin, ClusterKit.AddressOf(a));
        var options = new SubscriptionOptions();
        options.Topics.Add("volatile");
        await using var subscription = await subscriber.SubscribeAsync(options);
        await publisher.PublishBatchAsync(Enumerable.Range(0, 10).Select(_ => Gateways.Event("volatile")));
        var before = await Gateways.ReadAsync(subscription, 10);
        var oldEpoch = b.App.Services.GetRequiredService<GrpcEventBroker>().GetTopicPosition("volatile")!.Value.Epoch;

        // Redis loses everything: the topic starts over in Redis under a new epoch with its next event.
        await redis.RestartAsync();
        var after = await publisher.PublishBatchAsync(Enumerable.Range(0, 5).Select(_ => Gateways.Event("volatile")));
        var received = await Gateways.ReadAsync(subscription, 5);

        Assert.Equal(Drain(1, 5), after.Select(r => r.SequenceNum));
        Assert.Equal(after.Select(r => r.Id), received.Select(e => e.Event.Id));
        Assert.Equal(Drain(1, 10), before.Select(e => e.SequenceNum));
        Assert.NotEqual(
            oldEpoch,
            b.App.Services.GetRequiredService<GrpcEventBroker>().GetTopicPosition("volatile")!.Value.Epoch);
        Assert.True(subscriber.Statistics.EpochChanges >= 1);

        static IEnumerable<long> Drain(int first, int count) => Enumerable.Range(first, count).Select(i => (long)i);
    }
}
