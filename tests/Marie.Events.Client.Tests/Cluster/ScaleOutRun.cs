using System.Collections.Concurrent;
using System.Diagnostics;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.FunctionalTests.Infrastructure;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>What one subscriber saw of a run.</summary>
/// <param name="Events">Per topic, the (sequence, event id) pairs in arrival order.</param>
/// <param name="Duplicates">Events handed over again (same topic and sequence).</param>
/// <param name="Lost">Events the client reported lost.</param>
/// <param name="Connections">Streams the client opened (1 = it stayed up).</param>
public sealed record SubscriberView(
    IReadOnlyDictionary<string, List<(long Sequence, string Id)>> Events,
    int Duplicates,
    long Lost,
    long Connections);

/// <summary>
/// A run over several gateways of one cluster: one publisher on each gateway (each gateway's share of the topics,
/// interleaved), one subscriber on each gateway to every topic. <c>disrupt</c> is called once a third of the events
/// were acknowledged. Returns every acknowledgement and what each subscriber received.
/// </summary>
public static class ScaleOutRun
{
    public static async Task<(List<(string Topic, long Sequence, string Id)> Acked, List<SubscriberView> Views)>
        RunAsync(
            ClusterKit kit,
            IReadOnlyList<GatewayFixture> gateways,
            string[] topics,
            int perTopic,
            Func<Task>? disrupt,
            TimeSpan timeout)
    {
        var total = topics.Length * perTopic;
        using var cts = new CancellationTokenSource(timeout);
        var subscribers = new List<EventStreamClient>();
        var subscriptions = new List<EventSubscription>();
        var acked = new ConcurrentQueue<(string Topic, long Sequence, string Id)>();
        try
        {
            foreach (var gateway in gateways)
            {
                var client = ClusterKit.Client(kit.Keys.Subscriber, ClusterKit.AddressOf(gateway));
                subscribers.Add(client);
                var options = new SubscriptionOptions { BufferCapacity = 2_000 };
                foreach (var topic in topics)
                {
                    options.Topics.Add(topic);
                }

                subscriptions.Add(await client.SubscribeAsync(options, cts.Token));
            }

            var progress = subscriptions.Select(_ => new int[1]).ToList();
            var reading = subscriptions
                .Select((s, i) => Task.Run(() => ReadAsync(s, topics, perTopic, progress[i], cts.Token)))
                .ToList();
            var publishing = gateways.Select((gateway, i) => Task.Run(async () =>
            {
                var mine = topics.Where((_, t) => t % gateways.Count == i).ToArray();
                var options = ClusterKit.Options(kit.Keys.Admin, ClusterKit.AddressOf(gateway));
                // A publish waits out a failover (the toast lane retries it until Redis takes it).
                options.PublishTimeout = timeout;
                await using var publisher = new EventStreamClient(options);
                var events = Enumerable.Range(0, perTopic).SelectMany(_ => mine.Select(t => Gateways.Event(t)));
                await foreach (var receipt in publisher.PublishStreamAsync(ToAsync(events), cts.Token))
                {
                    acked.Enqueue((receipt.Topic, receipt.SequenceNum, receipt.Id));
                }
            })).ToList();

            if (disrupt is not null)
            {
                await Wait.UntilAsync(() => acked.Count >= total / 3, "a third of the events acknowledged", timeout);
                await disrupt();
            }

            SubscriberView[] views;
            try
            {
                await Task.WhenAll(publishing);
                views = await Task.WhenAll(reading);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                // Where the run stood: stuck producers or stuck subscribers.
                throw new TimeoutException($"run not done in {timeout}: {acked.Count} of {total} acknowledged; "
                    + $"received per subscriber: {string.Join(", ", progress.Select(p => Volatile.Read(ref p[0])))}");
            }

            return ([.. acked], [.. views.Select((v, i) => v with { Connections = subscribers[i].Statistics.Connections,
                Lost = subscribers[i].Statistics.EventsLost })]);
        }
        finally
        {
            foreach (var subscription in subscriptions)
            {
                await subscription.DisposeAsync();
            }

            foreach (var client in subscribers)
            {
                await client.DisposeAsync();
            }
        }
    }

    /// <summary>The promises: every acknowledged event reached every subscriber under the number it was acknowledged
    /// with, each number went to one event only, and every subscriber got each topic's numbers 1..N in order with no
    /// gap.</summary>
    public static void AssertPromises(
        List<(string Topic, long Sequence, string Id)> acked,
        List<SubscriberView> views,
        string[] topics,
        int perTopic)
    {
        Assert.Equal(topics.Length * perTopic, acked.Count);
        var numbered = acked.GroupBy(a => (a.Topic, a.Sequence)).ToList();
        Assert.All(numbered, g => Assert.Single(g));
        foreach (var topic in topics)
        {
            Assert.Equal(
                Enumerable.Range(1, perTopic).Select(n => (long)n),
                acked.Where(a => a.Topic == topic).Select(a => a.Sequence).Order());
        }

        var ids = acked.ToDictionary(a => (a.Topic, a.Sequence), a => a.Id);
        foreach (var view in views)
        {
            Assert.Equal(0, view.Lost);
            foreach (var topic in topics)
            {
                var received = view.Events[topic];
                Assert.Equal(Enumerable.Range(1, perTopic).Select(n => (long)n), received.Select(e => e.Sequence));
                Assert.All(received, e => Assert.Equal(ids[(topic, e.Sequence)], e.Id));
            }
        }
    }

    private static async Task<SubscriberView> ReadAsync(
        EventSubscription subscription,
        string[] topics,
        int perTopic,
        int[] progress,
        CancellationToken cancellationToken)
    {
        var events = topics.ToDictionary(t => t, _ => new List<(long, string)>());
        var seen = topics.ToDictionary(t => t, _ => new HashSet<long>());
        var duplicates = 0;
        var complete = 0;
        await foreach (var e in subscription.WithCancellation(cancellationToken))
        {
            if (!seen[e.Topic].Add(e.SequenceNum))
            {
                duplicates++;
                continue;
            }

            events[e.Topic].Add((e.SequenceNum, e.Event.Id));
            Interlocked.Increment(ref progress[0]);
            if (seen[e.Topic].Count == perTopic && ++complete == topics.Length)
            {
                await e.AckAsync(CancellationToken.None);
                break;
            }
        }

        return new SubscriberView(events, duplicates, 0, 0);
    }

    private static async IAsyncEnumerable<T> ToAsync<T>(IEnumerable<T> items)
    {
        foreach (var item in items)
        {
            yield return item;
        }

        await Task.CompletedTask;
    }

    /// <summary>Milliseconds since <paramref name="stopwatch"/> started, for the test output.</summary>
    public static long Ms(Stopwatch stopwatch) => stopwatch.ElapsedMilliseconds;
}
