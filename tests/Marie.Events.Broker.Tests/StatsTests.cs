namespace Marie.Events.Broker.Tests;

/// <summary>
/// Stats: the seed's shape (connections, subscriptions, topics, in_flight_events, topic_stats) and extras.
/// </summary>
public sealed class StatsTests
{
    [Fact]
    public void Stats_NewBroker_AllZero()
    {
        using var t = new TestBroker();

        var stats = t.Stats();

        Assert.Equal(0, stats.Connections);
        Assert.Equal(0, stats.Subscriptions);
        Assert.Equal(0, stats.Topics);
        Assert.Equal(0, stats.InFlightEvents);
        Assert.Empty(stats.TopicStats);
        Assert.Equal(0, stats.EventsPublished);
        Assert.Equal(0, stats.EventsDelivered);
        Assert.Equal(0, stats.EventsRedelivered);
        Assert.Equal(0, stats.EventsDropped);
        Assert.Equal(0, stats.EventsLost);
        Assert.Equal(0, stats.BackpressureSignals);
        Assert.Equal(0, stats.EventsAcked);
    }

    [Fact]
    public async Task Stats_AfterActivity_SeedShape()
    {
        using var t = new TestBroker(o => o.ReplaySize = 4);
        var first = t.Connect();
        await first.HandleAsync(Msg.Subscribe("s1", "a"));
        await first.HandleAsync(Msg.Subscribe("s2", "b"));
        await t.ConnectAndSubscribeAsync("s3", "*");
        t.Connect();

        t.PublishMany("a", 6);
        t.PublishMany("b", 2);

        var stats = t.Stats();
        Assert.Equal(3, stats.Connections);
        Assert.Equal(3, stats.Subscriptions);
        Assert.Equal(2, stats.Topics);
        Assert.Equal(6 + 2 + 8, stats.InFlightEvents);
        Assert.Equal(["a", "b"], stats.TopicStats.Keys.Order());
        Assert.Equal(6, stats.TopicStats["a"].Head);
        Assert.Equal(4, stats.TopicStats["a"].Buffered);
        Assert.Equal(2, stats.TopicStats["b"].Head);
        Assert.Equal(2, stats.TopicStats["b"].Buffered);
        Assert.False(string.IsNullOrEmpty(stats.TopicStats["a"].Epoch));
    }

    [Fact]
    public async Task Stats_Extras_CountPublishedDeliveredAckedRedelivered()
    {
        using var t = new TestBroker(o =>
        {
            o.AckTimeoutSeconds = 10;
            o.RedeliveryDelaySeconds = 4;
        });
        var one = await t.ConnectAndSubscribeAsync("s1", "a");
        var two = await t.ConnectAndSubscribeAsync("s2", "a");
        t.PublishMany("a", 3);
        one.All();
        two.All();
        await one.HandleAsync(Msg.AckUpTo("s1", "a", 3));
        await two.HandleAsync(Msg.AckUpTo("s2", "a", 1));

        t.AdvanceSeconds(12);

        var stats = t.Stats();
        Assert.Equal(3, stats.EventsPublished);
        Assert.Equal(6 + 2, stats.EventsDelivered);
        Assert.Equal(2, stats.EventsRedelivered);
        Assert.Equal(4, stats.EventsAcked);
        Assert.Equal(2, stats.InFlightEvents);
        Assert.Equal(0, stats.EventsDropped);
        Assert.Equal(0, stats.EventsLost);
    }

    [Fact]
    public async Task Stats_FilteredOutEvents_NotDeliveredNotInFlight()
    {
        using var t = new TestBroker();
        var request = Msg.Sub("s1", "a");
        request.Events.Add("wanted");
        await t.ConnectAndSubscribeAsync(request);

        t.Publish("a", "unwanted");
        t.Publish("a", "wanted");

        var stats = t.Stats();
        Assert.Equal(2, stats.EventsPublished);
        Assert.Equal(1, stats.EventsDelivered);
        Assert.Equal(1, stats.InFlightEvents);
    }

    [Fact]
    public async Task Stats_Subscriptions_CountAcrossConnectionsAndFollowLifecycle()
    {
        using var t = new TestBroker();
        var connection = t.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        await connection.HandleAsync(Msg.Subscribe("s2", "a"));
        var other = await t.ConnectAndSubscribeAsync("s1", "a");
        var afterSubscribe = t.Stats().Subscriptions;

        await connection.HandleAsync(Msg.Unsubscribe("s2"));
        var afterUnsubscribe = t.Stats().Subscriptions;
        other.Dispose();
        var afterDispose = t.Stats();

        Assert.Equal(3, afterSubscribe);
        Assert.Equal(2, afterUnsubscribe);
        Assert.Equal(1, afterDispose.Subscriptions);
        Assert.Equal(1, afterDispose.Connections);
    }
}
