namespace Marie.Events.Broker.Tests;

/// <summary>DescribeSubscriptions and DescribeConnections: the figures the admin API, dashboard and gauges
/// show.</summary>
public sealed class SnapshotTests
{
    [Fact]
    public async Task DescribeSubscriptions_AfterPartialAck_LagInFlightAndOldestAge()
    {
        using var t = new TestBroker(o => o.AckTimeoutSeconds = 30);
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 5);
        connection.All();
        t.AdvanceSeconds(3);
        await connection.HandleAsync(Msg.AckUpTo("s1", "a", 2));

        var snapshot = Assert.Single(t.Broker.DescribeSubscriptions(Access.ConnectionAccess.All));

        Assert.Equal("s1", snapshot.Id);
        Assert.Equal(connection.Id, snapshot.ConnectionId);
        Assert.Equal(3, snapshot.InFlight);
        var topic = Assert.Single(snapshot.Topics);
        Assert.Equal(("a", 5L, 2L, 3L), (topic.Topic, topic.Head, topic.AckedThrough, topic.Lag));
        Assert.Equal(TimeSpan.FromSeconds(3), snapshot.OldestUnackedAge);
        Assert.Equal(3, snapshot.Lag);
    }

    [Fact]
    public async Task DescribeSubscriptions_AllAcked_NoLagNoAge()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 4);
        connection.All();
        await connection.HandleAsync(Msg.AckUpTo("s1", "a", 4));

        var snapshot = Assert.Single(t.Broker.DescribeSubscriptions(Access.ConnectionAccess.All));

        Assert.Equal(0, snapshot.Lag);
        Assert.Null(snapshot.OldestUnackedAge);
        Assert.Equal(0, snapshot.InFlight);
    }

    [Fact]
    public async Task DescribeSubscriptions_AfterTimeout_CountsRedeliveries()
    {
        using var t = new TestBroker(o =>
        {
            o.AckTimeoutSeconds = 10;
            o.RedeliveryDelaySeconds = 4;
        });
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 2);
        connection.All();

        t.AdvanceSeconds(12);

        var snapshot = Assert.Single(t.Broker.DescribeSubscriptions(Access.ConnectionAccess.All));
        Assert.Equal(2, snapshot.Redelivered);
    }

    [Fact]
    public async Task DescribeSubscriptions_TopicNotVisible_Left()
    {
        using var t = new TestBroker();
        await t.ConnectAndSubscribeAsync("s1", "tenant-a.jobs");
        await t.ConnectAndSubscribeAsync("s2", "tenant-b.jobs");

        var onlyA = Access.ConnectionAccess.ForTopics(["tenant-a.jobs"]);
        var seen = t.Broker.DescribeSubscriptions(onlyA);

        Assert.Equal(["s1"], seen.Select(s => s.Id));
    }

    [Fact]
    public async Task DescribeConnections_TwoStreams_OwnersSubscriptionsAndInFlight()
    {
        using var t = new TestBroker();
        var one = t.ConnectAs("alice");
        await one.HandleAsync(Msg.Subscribe("s1", "a"));
        await one.HandleAsync(Msg.Subscribe("s2", "b"));
        t.ConnectAs("bob");
        t.PublishMany("a", 3);

        var connections = t.Broker.DescribeConnections();

        Assert.Equal(["alice", "bob"], connections.Select(c => c.Owner));
        Assert.Equal(2, connections[0].Subscriptions);
        Assert.Equal(3, connections[0].InFlight);
        Assert.Equal(0, connections[1].Subscriptions);
    }
}
