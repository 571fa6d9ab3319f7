using System.Collections.Concurrent;
using System.Diagnostics;
using Xunit.Abstractions;
using Marie.Events.Broker;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.FunctionalTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Marie.Events.Client.Tests.Functional;

/// <summary>The client's durable subscriptions and consumer groups against the real gateway on loopback.</summary>
public sealed class ClientDurableFunctionalTests(ITestOutputHelper output)
{
    /// <summary>The key name of <see cref="Gateways.Client"/>'s default key.</summary>
    private const string AdminKeyName = "test-admin";

    private static Broker.Storage.DurableTopicSnapshot? Position(GatewayFixture gateway, string name) =>
        gateway.App.Services.GetRequiredService<GrpcEventBroker>().ListDurables(AdminKeyName)
            .FirstOrDefault(d => d.Name == name)?.Topics.SingleOrDefault();

    [Fact]
    public async Task DurableName_NewClientSameName_GetsExactlyTheUnacknowledgedThenTheNewOnes()
    {
        await using var gateway = await Gateways.StartAsync();
        const string Topic = "dur-resume";
        await using (var first = Gateways.Client(gateway))
        {
            var subscription = await first.SubscribeAsync(new SubscriptionOptions
            {
                Topics = { Topic }, DurableName = "dur-resume", AckMode = AckMode.Manual,
            });
            Assert.Equal("dur-resume", subscription.DurableName);
            for (var i = 0; i < 5; i++)
            {
                await first.PublishAsync(Gateways.Event(Topic));
            }

            var received = await Gateways.ReadManualAsync(subscription, 5);
            foreach (var index in new[] { 0, 1, 3 })
            {
                await received[index].AckAsync();
            }

            // Sends the acks, then the unsubscribe: the durable keeps 3 and 5 unacknowledged.
            await subscription.DisposeAsync();
        }

        await Wait.UntilAsync(() => Position(gateway, "dur-resume") is { Pending.Count: 2 }, "two pending");
        await using var second = Gateways.Client(gateway);
        for (var i = 0; i < 2; i++)
        {
            await second.PublishAsync(Gateways.Event(Topic));
        }

        await using var resumed = await second.SubscribeAsync(
            new SubscriptionOptions { Topics = { Topic }, DurableName = "dur-resume" });
        var again = await Gateways.ReadAsync(resumed, 4);
        await resumed.FlushAcksAsync();
        await Wait.UntilAsync(() => Position(gateway, "dur-resume") is { Acked: 7, Pending.Count: 0 },
            "everything acknowledged");

        Assert.Equal(new long[] { 3, 5, 6, 7 }, again.Select(e => e.SequenceNum).Order());
        Assert.Equal(new[] { 2, 2 }, again.Where(e => e.SequenceNum is 3 or 5).Select(e => e.DeliveryAttempt));
        Assert.Equal(7, Position(gateway, "dur-resume")!.Delivered);
    }

    [Fact]
    public async Task Group_TwoClientsSameDurableAndGroup_EachEventToExactlyOne()
    {
        await using var gateway = await Gateways.StartAsync();
        const string Topic = "dur-group";
        const int Count = 40;
        var seen = new ConcurrentQueue<(int Member, long Sequence)>();
        await using var a = Gateways.Client(gateway);
        await using var b = Gateways.Client(gateway);
        var options = () => new SubscriptionOptions { Topics = { Topic }, DurableName = "dur-group", Group = "pool" };
        await using var memberA = await a.SubscribeAsync(options(), (e, _) =>
        {
            seen.Enqueue((0, e.SequenceNum));
            return ValueTask.CompletedTask;
        });
        await using var memberB = await b.SubscribeAsync(options(), (e, _) =>
        {
            seen.Enqueue((1, e.SequenceNum));
            return ValueTask.CompletedTask;
        });
        Assert.Equal("pool", memberB.Group);

        for (var i = 0; i < Count; i++)
        {
            await a.PublishAsync(Gateways.Event(Topic));
        }

        await Wait.UntilAsync(() => seen.Count >= Count, $"{Count} events processed");
        await memberA.FlushAcksAsync();
        await memberB.FlushAcksAsync();
        await Wait.UntilAsync(() => Position(gateway, "dur-group") is { Acked: Count, Pending.Count: 0 },
            "everything acknowledged");

        Assert.Equal(Count, seen.Count);
        Assert.Equal(Enumerable.Range(1, Count).Select(i => (long)i), seen.Select(s => s.Sequence).Order());
        Assert.Contains(seen, s => s.Member == 0);
        Assert.Contains(seen, s => s.Member == 1);
        Assert.Equal(0, Gateways.Stats(gateway).EventsRedelivered);
    }

    [Fact]
    public async Task Group_MemberClientDisposedHoldingEvents_OtherMemberProcessesThemAll()
    {
        await using var gateway = await Gateways.StartAsync();
        const string Topic = "dur-handover";
        const int Count = 20;
        var options = () => new SubscriptionOptions
        {
            Topics = { Topic }, DurableName = "dur-handover", Group = "pool", AckMode = AckMode.Manual,
        };
        var held = 0;
        var a = Gateways.Client(gateway);
        // Member a never acknowledges: what it gets is handed to b when a's client (and stream) ends.
        await using var memberA = await a.SubscribeAsync(options(), (_, _) =>
        {
            Interlocked.Increment(ref held);
            return ValueTask.CompletedTask;
        });
        await using var b = Gateways.Client(gateway);
        var seenByB = new ConcurrentQueue<long>();
        await using var memberB = await b.SubscribeAsync(options(), async (e, ct) =>
        {
            seenByB.Enqueue(e.SequenceNum);
            await e.AckAsync(ct);
        });

        await b.PublishBatchAsync(Enumerable.Range(0, Count).Select(_ => Gateways.Event(Topic)));
        await Wait.UntilAsync(() => Volatile.Read(ref held) + seenByB.Count >= Count, "every event delivered");
        var heldByA = Volatile.Read(ref held);
        await a.DisposeAsync();
        await Wait.UntilAsync(() => seenByB.Count >= Count, "b processed every event");
        await memberB.FlushAcksAsync();
        await Wait.UntilAsync(() => Position(gateway, "dur-handover") is { Acked: Count, Pending.Count: 0 },
            "everything acknowledged");

        Assert.True(heldByA > 0, "member a got some events");
        Assert.Equal(Enumerable.Range(1, Count).Select(i => (long)i), seenByB.Order());
    }

    [Fact]
    public async Task Durable_ProxyCutsConnectionsAtRandom_EveryEventProcessedOnce()
    {
        const int Topics = 2;
        const int PerTopic = 1_000;
        await using var gateway = await Gateways.StartAsync(("replay_size", $"{PerTopic}"));
        await using var proxy = new TcpChaosProxy(gateway.Ports.Grpc);
        // Each connection through the proxy is reset after 20-150 KB (a few hundred events), mid-frame.
        proxy.CutRandomly(seed: 20261203, minBytes: 20_000, maxBytes: 150_000);
        await using var subscriber = Gateways.Client(gateway, address: proxy.Address);
        await using var publisher = Gateways.Client(gateway);
        var topics = Enumerable.Range(0, Topics).Select(i => $"dur-chaos-{i}").ToArray();
        var options = new SubscriptionOptions { DurableName = "dur-chaos", BufferCapacity = 2_000 };
        foreach (var topic in topics)
        {
            options.Topics.Add(topic);
        }

        await using var subscription = await subscriber.SubscribeAsync(options);
        var clock = Stopwatch.StartNew();
        var publishing = Task.Run(() => publisher.PublishBatchAsync(
            Enumerable.Range(0, PerTopic).SelectMany(_ => topics.Select(t => Gateways.Event(t)))));
        var seen = topics.ToDictionary(t => t, _ => new HashSet<long>());
        var processed = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(45));
        try
        {
            await foreach (var e in subscription.WithCancellation(timeout.Token))
            {
                processed++;
                seen[e.Topic].Add(e.SequenceNum);
                if (seen.Values.All(s => s.Count == PerTopic))
                {
                    await e.AckAsync();
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            Assert.Fail($"Timed out: {string.Join(", ", seen.Select(s => $"{s.Key} {s.Value.Count}"))}; stats "
                + $"{subscriber.Statistics}");
        }

        await publishing;
        await subscription.FlushAcksAsync();
        output.WriteLine($"{processed} handed over for {Topics * PerTopic} events in {clock.ElapsedMilliseconds} "
            + $"ms through {proxy.Accepted} connections, {proxy.Cuts} cut; {subscriber.Statistics}");

        Assert.True(proxy.Cuts >= 3, $"the proxy cut connections during the run ({proxy.Cuts})");
        Assert.All(seen.Values, s => Assert.Equal(Enumerable.Range(1, PerTopic).Select(i => (long)i), s.Order()));
        // The durable sends again what it did not see acknowledged; the client acks, not hands over, what it had
        // processed already: each event reaches the consumer once.
        Assert.Equal(Topics * PerTopic, processed);
        Assert.Equal(0, subscriber.Statistics.EventsLost);
        Assert.Equal(0, subscription.Completion.IsFaulted ? 1 : 0);
    }

    [Fact]
    public async Task Durable_FileGatewayRestartsOnSamePort_ClientGetsTheUnacknowledgedThenNewNoGap()
    {
        const string Topic = "dur-restart";
        var path = GatewayFixture.NewTempDir();
        try
        {
            var first = await GatewayFixture.StartAsync(s =>
            {
                s.Config["toast:grpc:broker:backend"] = "file";
                s.Config["toast:grpc:broker:file:path"] = path;
            });
            var port = first.Ports.Grpc;
            var keys = first.Keys;
            await using var client = Gateways.Client(first);
            await using var subscription = await client.SubscribeAsync(new SubscriptionOptions
            {
                Topics = { Topic }, DurableName = "dur-restart", AckMode = AckMode.Manual,
            });
            await using var reader = subscription.GetAsyncEnumerator();
            await client.PublishBatchAsync(Enumerable.Range(0, 5).Select(_ => Gateways.Event(Topic)));
            for (var i = 0; i < 5; i++)
            {
                Assert.True(await reader.NextAsync());
                if (reader.Current.SequenceNum <= 2)
                {
                    await reader.Current.AckAsync();
                }
            }

            await subscription.FlushAcksAsync();
            await Wait.UntilAsync(() => Position(first, "dur-restart") is { Acked: 2, Pending.Count: 3 },
                "two acknowledged, three pending");
            // A clean stop saves the durable; the new gateway loads it (and the events) from the same file.
            await first.DisposeAsync();
            await using var second = await GatewayFixture.StartAsync(s =>
            {
                s.Config["gateway:port"] = $"{port}";
                s.Config["toast:grpc:broker:backend"] = "file";
                s.Config["toast:grpc:broker:file:path"] = path;
                foreach (var (key, value) in keys.AsConfiguration())
                {
                    s.Config[key] = value;
                }
            });
            await client.PublishBatchAsync(Enumerable.Range(0, 2).Select(_ => Gateways.Event(Topic)));
            var after = new List<ReceivedEvent>();
            for (var i = 0; i < 5; i++)
            {
                Assert.True(await reader.NextAsync());
                after.Add(reader.Current);
                await reader.Current.AckAsync();
            }

            await subscription.FlushAcksAsync();
            await Wait.UntilAsync(() => Position(second, "dur-restart") is { Acked: 7, Pending.Count: 0 },
                "everything acknowledged on the new gateway");

            Assert.Equal(new long[] { 3, 4, 5, 6, 7 }, after.Select(e => e.SequenceNum).Order());
            Assert.All(after.Where(e => e.SequenceNum <= 5), e => Assert.Equal(2, e.DeliveryAttempt));
            Assert.Equal(0, client.Statistics.EpochChanges);
        }
        finally
        {
            Directory.Delete(path, recursive: true);
        }
    }
}
