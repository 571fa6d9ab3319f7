using System.Diagnostics.Metrics;
using Marie.Events.Broker.Telemetry;
using Marie.Events.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Marie.Events.Broker.Tests;

/// <summary>A broker on fake time with its instruments on a meter factory of its own (one per test, so collectors
/// of parallel tests never see each other's measurements).</summary>
public sealed class MetricsBroker : IDisposable
{
    private readonly ServiceProvider _services;

    public MetricsBroker(
        Action<BrokerOptions>? configure = null,
        int maxTopicLabels = TopicLabels.DefaultMax,
        int latencySampleEvery = 1)
    {
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        Factory = _services.GetRequiredService<IMeterFactory>();
        Test = new TestBroker(configure);
        Test.Broker.EnableMetrics(Factory, maxTopicLabels, latencySampleEvery);
    }

    public IMeterFactory Factory { get; }

    public TestBroker Test { get; }

    public MetricCollector<T> Collect<T>(string instrument)
        where T : struct => new(Factory, MarieTelemetry.Name, instrument, Test.Time);

    /// <summary>The observable instrument's values now, by their <c>topic</c> (and <c>kind</c>) tags.</summary>
    public Dictionary<string, T> Observe<T>(string instrument)
        where T : struct
    {
        using var collector = Collect<T>(instrument);
        collector.RecordObservableInstruments();
        return collector.GetMeasurementSnapshot().ToDictionary(
            m => string.Join("/", m.Tags.OrderBy(t => t.Key).Select(t => t.Value)),
            m => m.Value);
    }

    public T ObserveOne<T>(string instrument)
        where T : struct => Assert.Single(Observe<T>(instrument)).Value;

    public void Dispose()
    {
        Test.Dispose();
        _services.Dispose();
    }
}

/// <summary>Every instrument of the broker (docs/metrics.md) as a <see cref="MetricCollector{T}"/> sees it.</summary>
public sealed class MetricsTests
{
    [Fact]
    public async Task Gauges_ConnectionsSubscriptionsTopics_FollowTheBroker()
    {
        using var m = new MetricsBroker();
        var connection = await m.Test.ConnectAndSubscribeAsync("s1", "a");
        await connection.HandleAsync(Msg.Subscribe("s2", "b"));
        m.Test.Connect();
        m.Test.Publish("a");
        m.Test.Publish("c");

        Assert.Equal(2, m.ObserveOne<int>("marie.events.connections"));
        Assert.Equal(2, m.ObserveOne<int>("marie.events.subscriptions"));
        Assert.Equal(3, m.ObserveOne<int>("marie.events.topics"));

        connection.Dispose();
        Assert.Equal(1, m.ObserveOne<int>("marie.events.connections"));
        Assert.Equal(0, m.ObserveOne<int>("marie.events.subscriptions"));
    }

    [Fact]
    public async Task Counters_PublishAckRedeliverDrop_Counted()
    {
        using var m = new MetricsBroker(o =>
        {
            o.AckTimeoutSeconds = 10;
            o.RedeliveryDelaySeconds = 4;
            o.MaxRedeliveryAttempts = 2;
        });
        var connection = await m.Test.ConnectAndSubscribeAsync("s1", "a");
        m.Test.PublishMany("a", 3);
        connection.All();
        await connection.HandleAsync(Msg.AckUpTo("s1", "a", 1));

        // Two unacked events: redelivered once after the timeout, dropped after the second.
        m.Test.AdvanceSeconds(12);
        m.Test.AdvanceSeconds(12);

        Assert.Equal(3, m.ObserveOne<long>("marie.events.published"));
        Assert.Equal(1, m.ObserveOne<long>("marie.events.acked"));
        Assert.Equal(2, m.ObserveOne<long>("marie.events.redelivered"));
        Assert.Equal(2, m.ObserveOne<long>("marie.events.dropped"));
    }

    [Fact]
    public async Task Delivered_LiveReplayRedelivery_ByTopicAndKind()
    {
        using var m = new MetricsBroker(o =>
        {
            o.AckTimeoutSeconds = 10;
            o.RedeliveryDelaySeconds = 4;
        });
        m.Test.PublishMany("a", 2);
        var request = Msg.Sub("s1", "a", "b");
        request.ResumeFrom["a"] = 0;
        var connection = await m.Test.ConnectAndSubscribeAsync(request);
        m.Test.Publish("b");
        connection.All();
        await connection.HandleAsync(Msg.AckUpTo("s1", "a", 1));
        m.Test.AdvanceSeconds(12);

        var delivered = m.Observe<long>("marie.events.delivered");

        Assert.Equal(0, delivered["live/a"]);
        Assert.Equal(2, delivered["replay/a"]);
        Assert.Equal(1, delivered["redelivery/a"]);
        Assert.Equal(1, delivered["live/b"]);
        Assert.Equal(1, delivered["redelivery/b"]);
        Assert.Equal(0, delivered["live/_other"]);
    }

    [Fact]
    public async Task TopicLabel_PastMaxTopicLabels_FoldedIntoOther()
    {
        using var m = new MetricsBroker(maxTopicLabels: 2);
        await m.Test.ConnectAndSubscribeAsync("s1", "*");
        m.Test.Publish("a");
        m.Test.Publish("b");
        m.Test.PublishMany("c", 2);
        m.Test.PublishMany("d", 3);

        var delivered = m.Observe<long>("marie.events.delivered");
        var buffered = m.Observe<long>("marie.events.ring.buffered");

        Assert.Equal(1, delivered["live/a"]);
        Assert.Equal(1, delivered["live/b"]);
        Assert.Equal(5, delivered["live/_other"]);
        Assert.DoesNotContain(delivered.Keys, k => k.EndsWith("/c", StringComparison.Ordinal));
        Assert.Equal(["_other", "a", "b"], buffered.Keys.Order());
        Assert.Equal(5, buffered["_other"]);
    }

    [Fact]
    public async Task InFlightLagOldestUnacked_ByTopic_LargestAndSum()
    {
        using var m = new MetricsBroker(o => o.AckTimeoutSeconds = 60);
        var one = await m.Test.ConnectAndSubscribeAsync("s1", "a");
        var two = await m.Test.ConnectAndSubscribeAsync("s2", "a");
        m.Test.PublishMany("a", 5);
        m.Test.Publish("idle");
        m.Test.AdvanceSeconds(3);
        one.All();
        two.All();
        await one.HandleAsync(Msg.AckUpTo("s1", "a", 4));

        var inFlight = m.Observe<long>("marie.events.in_flight");
        var lag = m.Observe<long>("marie.events.subscription.lag");
        var age = m.Observe<double>("marie.events.oldest_unacked.age");

        Assert.Equal(1 + 5, inFlight["a"]);
        Assert.Equal(5, lag["a"]);
        Assert.Equal(3.0, age["a"], 3);
        Assert.Equal(0, inFlight["idle"]);
        Assert.Equal(0, lag["idle"]);
        Assert.Equal(0.0, age["idle"]);
    }

    [Fact]
    public void RingBuffered_ReplaySize_BoundsTheCount()
    {
        using var m = new MetricsBroker(o => o.ReplaySize = 4);
        m.Test.PublishMany("a", 6);
        m.Test.PublishMany("b", 2);

        var buffered = m.Observe<long>("marie.events.ring.buffered");

        Assert.Equal(4, buffered["a"]);
        Assert.Equal(2, buffered["b"]);
    }

    [Fact]
    public async Task DeliveryLatency_FirstAttempt_PublishToWriter()
    {
        using var m = new MetricsBroker(o =>
        {
            o.AckTimeoutSeconds = 10;
            o.RedeliveryDelaySeconds = 4;
        });
        using var latency = m.Collect<double>("marie.events.delivery.latency");
        var connection = await m.Test.ConnectAndSubscribeAsync("s1", "a");
        connection.All();
        m.Test.Publish("a");
        m.Test.Time.Advance(TimeSpan.FromMilliseconds(250));
        connection.All();

        // The redelivery after the ack timeout is not a publish-to-write figure.
        m.Test.AdvanceSeconds(12);

        var recorded = Assert.Single(latency.GetMeasurementSnapshot());
        Assert.Equal(0.25, recorded.Value, 6);
    }

    [Fact]
    public async Task AckLatency_IndividualAndCumulative_SendToAck()
    {
        using var m = new MetricsBroker(o => o.AckTimeoutSeconds = 60);
        using var latency = m.Collect<double>("marie.events.ack.latency");
        var connection = await m.Test.ConnectAndSubscribeAsync("s1", "a");
        m.Test.Publish("a");
        m.Test.Time.Advance(TimeSpan.FromSeconds(1));
        m.Test.PublishMany("a", 2);
        var events = connection.All().Events();
        m.Test.Time.Advance(TimeSpan.FromSeconds(2));

        await connection.HandleAsync(Msg.Ack("s1", events[2].AckId));
        await connection.HandleAsync(Msg.AckUpTo("s1", "a", 2));

        var values = latency.GetMeasurementSnapshot().Select(x => x.Value).ToArray();
        Assert.Equal([2.0, 3.0, 2.0], values);
    }

    [Fact]
    public async Task Latencies_SampleEvery8_OneEventInAboutEightRecorded()
    {
        using var m = new MetricsBroker(o => o.AckTimeoutSeconds = 60, latencySampleEvery: 8);
        using var delivery = m.Collect<double>("marie.events.delivery.latency");
        using var ack = m.Collect<double>("marie.events.ack.latency");
        var connection = await m.Test.ConnectAndSubscribeAsync("s1", "a");
        const int events = 800;
        for (var i = 0; i < events; i += 100)
        {
            m.Test.PublishMany("a", 100);
            connection.All();
            await connection.HandleAsync(Msg.AckUpTo("s1", "a", i + 100));
        }

        var delivered = delivery.GetMeasurementSnapshot().Count;
        var acked = ack.GetMeasurementSnapshot().Count;
        // 100 expected; a hash picks them, so allow for its unevenness but not for "all" or "none".
        Assert.InRange(delivered, 60, 140);
        Assert.Equal(delivered, acked);
    }

    [Fact]
    public void SamplesLatency_EveryEighthSequence_StillSampledAboutOneInEight()
    {
        using var m = new MetricsBroker(latencySampleEvery: 8);
        var metrics = m.Test.Broker.Metrics!;

        // A subscription filtering every 8th event of a topic (e.g. one of 8 job ids published round-robin).
        var sampled = Enumerable.Range(1, 8000).Count(i => metrics.SamplesLatency(i * 8L));

        Assert.InRange(sampled, 800, 1200);
    }

    [Fact]
    public async Task DeadLetters_Terminated_DepthOldestAgeAndCountByReason()
    {
        using var m = new MetricsBroker(o => o.AckTimeoutSeconds = 60);
        var connection = await m.Test.ConnectAndSubscribeAsync("s1", "a");
        m.Test.PublishMany("a", 2);
        var events = connection.All().Events();

        await connection.HandleAsync(Msg.Terminate("bad input", events[0].AckId, events[1].AckId));
        m.Test.Time.Advance(TimeSpan.FromSeconds(3));

        Assert.Equal(2, m.ObserveOne<long>("marie.events.dead_letters"));
        Assert.Equal(3.0, m.ObserveOne<double>("marie.events.dead_letters.oldest.age"), 3);
        Assert.Equal(
            new Dictionary<string, long> { ["max_attempts"] = 0, ["terminated"] = 2 },
            m.Observe<long>("marie.events.dead_lettered"));
    }

    [Fact]
    public async Task LostAndBackpressure_Counted()
    {
        using var m = new MetricsBroker(o =>
        {
            o.ReplaySize = 2;
            o.MaxInFlight = 4;
            o.BackpressureThresholdPct = 50;
        });
        m.Test.PublishMany("a", 5);
        var request = Msg.Sub("s1", "a");
        request.ResumeFrom["a"] = 0;
        await m.Test.ConnectAndSubscribeAsync(request);
        await m.Test.ConnectAndSubscribeAsync("s2", "b");
        m.Test.PublishMany("b", 2);

        // s1 missed 1..3 (the ring holds 4 and 5); each subscription reached the threshold (2 of 4) once.
        Assert.Equal(3, m.ObserveOne<long>("marie.events.lost"));
        Assert.Equal(2, m.ObserveOne<long>("marie.events.backpressure.signals"));
    }

    [Fact]
    public async Task RateLimited_MessagesOverTheBurst_Counted()
    {
        using var m = new MetricsBroker(o =>
        {
            o.Limits.ClientMessagesPerSecond = 1;
            o.Limits.ClientMessageBurst = 2;
        });
        var connection = m.Test.Connect();
        for (var i = 0; i < 5; i++)
        {
            await connection.HandleAsync(Msg.Heartbeat());
        }

        Assert.Equal(3, connection.All().Errors().Count(e => e.Code == ErrorCode.ErrorRateLimited));
        Assert.Equal(3, m.ObserveOne<long>("marie.events.rate_limited"));
    }

    [Fact]
    public void EnableMetrics_AfterATopicExists_Throws()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var t = new TestBroker();
        t.Publish("a");

        Assert.Throws<InvalidOperationException>(
            () => t.Broker.EnableMetrics(services.GetRequiredService<IMeterFactory>()));
    }
}
