using System.Diagnostics;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.FunctionalTests.Infrastructure;
using Xunit.Abstractions;

namespace Marie.Events.Client.Tests.Functional;

/// <summary>Broken connections, a silent gateway and a gateway restart, against the real gateway on loopback.</summary>
public sealed class ClientResilienceTests(ITestOutputHelper output)
{
    private const int Topics = 4;
    private const int EventsPerTopic = 2_500;

    [Fact]
    public async Task ProxyCutsConnectionsAtRandom_10000Events_NoneLostInOrderPerTopic()
    {
        const int maxInFlight = 500;
        // The ring holds every event of a topic, so a consumer that reconnects late still finds what it missed.
        await using var gateway = await Gateways.StartAsync(
            ("max_in_flight", $"{maxInFlight}"),
            ("replay_size", $"{EventsPerTopic}"));
        await using var proxy = new TcpChaosProxy(gateway.Ports.Grpc);
        // Each connection through the proxy is reset after 20-150 KB (a few hundred events), mid-frame.
        proxy.CutRandomly(seed: 20240611, minBytes: 20_000, maxBytes: 150_000);
        await using var subscriber = Gateways.Client(
            gateway,
            gateway.Keys.Subscriber,
            proxy.Address,
            o => o.AckBatchSize = 50);
        await using var publisher = Gateways.Client(gateway);
        var topics = Enumerable.Range(0, Topics).Select(i => $"chaos-{i}").ToArray();
        var options = new SubscriptionOptions { BufferCapacity = 2_000 };
        foreach (var topic in topics)
        {
            options.Topics.Add(topic);
        }

        await using var subscription = await subscriber.SubscribeAsync(options);
        var stopwatch = Stopwatch.StartNew();
        var publishing = Task.Run(() => publisher.PublishBatchAsync(
            Enumerable.Range(0, EventsPerTopic).SelectMany(_ => topics.Select(t => Gateways.Event(t)))));

        var last = topics.ToDictionary(t => t, _ => 0L);
        var outOfOrder = 0;
        var duplicates = 0;
        var total = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(45));
        try
        {
            await foreach (var e in subscription.WithCancellation(timeout.Token))
            {
                if (e.SequenceNum <= last[e.Topic])
                {
                    duplicates++;
                }
                else if (e.SequenceNum != last[e.Topic] + 1)
                {
                    outOfOrder++;
                }

                last[e.Topic] = Math.Max(last[e.Topic], e.SequenceNum);
                if (++total == Topics * EventsPerTopic + duplicates)
                {
                    await e.AckAsync();
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            Assert.Fail($"Timed out: {total} events seen; last per topic {string.Join(", ", last)}; stats "
                + $"{subscriber.Statistics}");
        }

        var receipts = await publishing;
        var stats = subscriber.Statistics;
        output.WriteLine($"{total} events in {stopwatch.ElapsedMilliseconds} ms through {proxy.Accepted} " +
            $"connections, {proxy.Cuts} cut by the proxy; " +
            $"consumer duplicates {duplicates}, wire duplicates dropped {stats.DuplicatesDropped}, " +
            $"reconnects {stats.Disconnections}, acks {stats.AckMessagesSent} messages");

        Assert.Equal(Topics * EventsPerTopic, receipts.Count);
        Assert.All(topics, t => Assert.Equal(EventsPerTopic, last[t]));
        Assert.Equal(0, outOfOrder);
        Assert.Equal(0, duplicates);
        Assert.True(proxy.Cuts >= 3, $"the proxy cut connections during the run ({proxy.Cuts})");
        // A replay after a cut re-sends at most what was delivered and not yet processed: bounded by the in-flight cap.
        Assert.True(
            stats.DuplicatesDropped <= (long)proxy.Cuts * maxInFlight,
            $"{stats.DuplicatesDropped} duplicates for {proxy.Cuts} cuts");
        Assert.Equal(0, stats.EventsLost);
    }

    [Fact]
    public async Task GatewaySilent_TwoHeartbeatIntervals_ClientReconnectsAndResumes()
    {
        await using var gateway = await Gateways.StartAsync(("heartbeat_interval_s", "0.2"));
        await using var proxy = new TcpChaosProxy(gateway.Ports.Grpc);
        await using var client = Gateways.Client(
            gateway,
            gateway.Keys.Subscriber,
            proxy.Address,
            o => o.ServerHeartbeatInterval = TimeSpan.FromSeconds(0.2));
        await using var publisher = Gateways.Client(gateway);
        await using var subscription = await client.SubscribeAsync(new SubscriptionOptions { Topics = { "silent" } });
        await publisher.PublishAsync(Gateways.Event("silent", id: "before"));
        var before = await Gateways.ReadAsync(subscription, 1);

        proxy.Freeze();
        await publisher.PublishAsync(Gateways.Event("silent", id: "during"));
        var after = await Gateways.ReadAsync(subscription, 1);

        Assert.Equal("before", Assert.Single(before).Event.Id);
        Assert.Equal("during", Assert.Single(after).Event.Id);
        Assert.Equal(2, after[0].SequenceNum);
        Assert.True(client.Statistics.SilentGatewayTimeouts >= 1);
        Assert.True(proxy.Accepted >= 2, "a new connection replaced the silent one");
    }

    [Fact]
    public async Task GatewayRestartsOnSamePort_ClientReconnectsNoticesEpochChangeAndGoesOn()
    {
        var first = await Gateways.StartAsync();
        var port = first.Ports.Grpc;
        var keys = first.Keys;
        await using var client = Gateways.Client(first);
        var epochChanged = new TaskCompletionSource<EpochChangedException>(
            TaskCreationOptions.RunContinuationsAsynchronously);
        client.ErrorReceived += (_, e) =>
        {
            if (e.Error is EpochChangedException changed)
            {
                epochChanged.TrySetResult(changed);
            }
        };
        await using var subscription = await client.SubscribeAsync(new SubscriptionOptions { Topics = { "restart" } });
        await client.PublishBatchAsync(Enumerable.Range(0, 100).Select(_ => Gateways.Event("restart")));
        var beforeRestart = await Gateways.ReadAsync(subscription, 100);
        var oldEpoch = subscription.GetResumePoints()["restart"].Epoch;

        await first.DisposeAsync();
        // A new gateway on the same port, with the same keys: an empty ring under a new epoch.
        await using var second = await GatewayFixture.StartAsync(s =>
        {
            s.Config["gateway:port"] = $"{port}";
            foreach (var (key, value) in keys.AsConfiguration())
            {
                s.Config[key] = value;
            }
        });
        var changed = await epochChanged.Task.WaitAsync(Wait.Timeout);
        await client.PublishBatchAsync(Enumerable.Range(0, 50).Select(_ => Gateways.Event("restart")));
        var afterRestart = await Gateways.ReadAsync(subscription, 50);

        Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), beforeRestart.Select(e => e.SequenceNum));
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), afterRestart.Select(e => e.SequenceNum));
        Assert.Equal(oldEpoch, changed.ExpectedEpoch);
        Assert.NotEqual(oldEpoch, changed.CurrentEpoch);
        Assert.Equal(changed.CurrentEpoch, subscription.GetResumePoints()["restart"].Epoch);
        Assert.Equal(50, subscription.GetResumePoints()["restart"].SequenceNum);
        Assert.True(client.Statistics.EpochChanges >= 1);
        Assert.Equal(0, client.Statistics.DuplicatesDropped);
    }

    [Fact]
    public async Task UnknownKey_Unauthenticated_FatalNotRetried()
    {
        await using var gateway = await Gateways.StartAsync();
        await using var client = Gateways.Client(gateway, TestKeys.NewKey());

        var error = await Assert.ThrowsAsync<EventStreamAuthenticationException>(
            () => client.SubscribeAsync(new SubscriptionOptions { Topics = { "t" } }));

        Assert.Equal(Grpc.Core.StatusCode.Unauthenticated, error.Status);
        Assert.Equal(EventStreamClientState.Failed, client.State);
        Assert.Same(client.Failure, error);
        Assert.Equal(1, gateway.Logs.Entries.Count(e => e.Message == "gRPC auth failed: invalid or missing token"));
    }
}
