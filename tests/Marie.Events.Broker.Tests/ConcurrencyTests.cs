using Marie.Events.Broker.Connections;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>Several threads publishing to several topics while subscribers read and ack: per-topic order, no loss,
/// no duplicate. Bounded loop counts; no sleeps. The only clock is a hang guard on the reader.</summary>
public sealed class ConcurrencyTests
{
    private const int Publishers = 4;
    private const int PerPublisherPerTopic = 250;
    private static readonly string[] Topics = ["t0", "t1", "t2", "t3"];
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(60);

    private static int PerTopic => Publishers * PerPublisherPerTopic;

    private static TestBroker NewBroker() => new(o =>
    {
        o.ReplaySize = 4096;
        o.MaxInFlight = 32;
    });

    /// <summary>Publishes from <see cref="Publishers"/> threads at once, interleaving the topics; returns the
    /// results per publisher in publish order.</summary>
    private static List<PublishResult>[] PublishConcurrently(TestBroker t, Action? onStarted = null)
    {
        var results = Enumerable.Range(0, Publishers).Select(_ => new List<PublishResult>()).ToArray();
        using var start = new Barrier(Publishers + 1);
        var threads = Enumerable.Range(0, Publishers).Select(p => new Thread(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < PerPublisherPerTopic; i++)
            {
                foreach (var topic in Topics)
                {
                    results[p].Add(t.Publish(Ev.Make(topic, $"p{p}.e{i}")));
                }
            }
        })).ToList();
        threads.ForEach(th => th.Start());
        start.SignalAndWait();
        onStarted?.Invoke();
        threads.ForEach(th => th.Join());
        return results;
    }

    /// <summary>
    /// Reads and acks (in batches) until <paramref name="expected"/> events arrived or the stream closed.
    /// </summary>
    private static Task<List<EventEnvelope>> ReadAndAckAsync(
        BrokerConnection connection,
        string subscriptionId,
        int expected)
        => Task.Run(async () =>
        {
            using var cts = new CancellationTokenSource(HangGuard);
            var received = new List<EventEnvelope>(expected);
            while (received.Count < expected && await connection.WaitToReadAsync(cts.Token))
            {
                var batch = new List<string>();
                while (connection.TryRead(out var message))
                {
                    if (message.Event is { } envelope)
                    {
                        received.Add(envelope);
                        batch.Add(envelope.AckId);
                    }
                }
                if (batch.Count > 0) await connection.HandleAsync(Msg.Ack(subscriptionId, [.. batch]), cts.Token);
            }
            return received;
        });

    private static void AssertEveryTopicInOrderComplete(List<EventEnvelope> received)
    {
        Assert.Equal(Topics.Length * PerTopic, received.Count);
        foreach (var topic in Topics)
        {
            Assert.Equal(Drain.Range(1, PerTopic), received.Seqs(topic));
        }
        Assert.Equal(received.Count, received.Select(e => e.Event.Id).Distinct().Count());
    }

    [Fact]
    public async Task Publish_ManyThreadsManyTopics_SubscriberGetsEachTopicInOrderNoLossNoDuplicate()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "*");
        var reader = ReadAndAckAsync(connection, "s1", Topics.Length * PerTopic);

        PublishConcurrently(t);
        var received = await reader.WaitAsync(HangGuard);

        AssertEveryTopicInOrderComplete(received);
        var stats = t.Stats();
        Assert.Equal(Topics.Length * PerTopic, stats.EventsPublished);
        Assert.Equal(0, stats.InFlightEvents);
        Assert.Equal(0, stats.EventsDropped);
        Assert.Equal(0, stats.EventsLost);
        Assert.All(Topics, topic => Assert.Equal(PerTopic, stats.TopicStats[topic].Head));
    }

    [Fact]
    public void Publish_ManyThreadsSameTopics_SequencesUniqueContiguousAndIncreasingPerThread()
    {
        using var t = NewBroker();

        var results = PublishConcurrently(t);

        foreach (var topic in Topics)
        {
            var all = results.SelectMany(r => r).Where(r => r.Topic == topic).Select(r => r.SequenceNum).Order();
            Assert.Equal(Drain.Range(1, PerTopic), all);
            foreach (var perThread in results)
            {
                var seqs = perThread.Where(r => r.Topic == topic).Select(r => r.SequenceNum).ToList();
                Assert.Equal(seqs.Order(), seqs);
            }
        }
        var ids = results.SelectMany(r => r).Select(r => r.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [Fact]
    public async Task Subscribe_WithReplayWhilePublishing_NoGapNoDuplicateAtTheSeam()
    {
        using var t = NewBroker();
        var connection = t.Connect();
        var request = Msg.Sub("s1", Topics);
        request.LastSequenceNum = 0;
        Task<List<EventEnvelope>>? reader = null;

        PublishConcurrently(t, onStarted: () =>
        {
            connection.HandleAsync(Msg.Subscribe(request)).AsTask().GetAwaiter().GetResult();
            reader = ReadAndAckAsync(connection, "s1", Topics.Length * PerTopic);
        });
        var received = await reader!.WaitAsync(HangGuard);

        AssertEveryTopicInOrderComplete(received);
        Assert.Equal(0, t.Stats().InFlightEvents);
    }

    [Fact]
    public void Connect_SubscribeAndDisposeWhilePublishing_StatsReturnToZero()
    {
        using var t = NewBroker();
        var confirms = 0;

        PublishConcurrently(t, onStarted: () =>
        {
            for (var i = 0; i < 50; i++)
            {
                using var connection = t.Broker.Connect();
                connection.HandleAsync(Msg.Subscribe($"s{i}", "*")).AsTask().GetAwaiter().GetResult();
                confirms += connection.All().Confirms().Count;
            }
        });

        Assert.Equal(50, confirms);
        var stats = t.Stats();
        Assert.Equal(0, stats.Connections);
        Assert.Equal(0, stats.Subscriptions);
        Assert.Equal(0, stats.InFlightEvents);
        Assert.Equal(Topics.Length * PerTopic, stats.EventsPublished);
    }
}
