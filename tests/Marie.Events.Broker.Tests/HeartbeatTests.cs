using Marie.Events.Broker.Connections;

namespace Marie.Events.Broker.Tests;

/// <summary>ServerHeartbeat every heartbeat_interval_s with topic_heads/topic_epochs for covered topics only.</summary>
public sealed class HeartbeatTests
{
    private static TestBroker NewBroker() => new(o => o.HeartbeatIntervalSeconds = 10);

    [Fact]
    public async Task Heartbeat_BeforeInterval_NoneSent()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        connection.All();

        t.AdvanceSeconds(9.9);

        Assert.Empty(connection.All().Heartbeats());
    }

    [Fact]
    public async Task Heartbeat_EveryInterval_OneEachWithUnixSecondsTimestamp()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        connection.All();

        t.AdvanceSeconds(10);
        var first = connection.All().Heartbeats();
        t.AdvanceSeconds(20);
        var next = connection.All().Heartbeats();

        Assert.Equal(TestBroker.StartTime.AddSeconds(10).ToUnixTimeSeconds(), Assert.Single(first).Timestamp);
        Assert.Equal(2, next.Count);
        Assert.Equal(TestBroker.StartTime.AddSeconds(30).ToUnixTimeSeconds(), next[1].Timestamp);
    }

    [Fact]
    public void Heartbeat_TimeWithMilliseconds_TimestampIsWholeUnixSecondsAsMarie()
    {
        // Marie-AI's server fills ServerHeartbeat.timestamp with int(time.time()): unix seconds, truncated.
        var start = new DateTimeOffset(2026, 3, 4, 5, 6, 7, 890, TimeSpan.Zero);
        using var t = new TestBroker(o => o.HeartbeatIntervalSeconds = 10, start);
        var connection = t.Connect();

        t.AdvanceSeconds(10);

        var heartbeat = Assert.Single(connection.All().Heartbeats());
        Assert.Equal(start.AddSeconds(10).ToUnixTimeSeconds(), heartbeat.Timestamp);
        Assert.Equal(1_772_600_777L, heartbeat.Timestamp);
    }

    [Fact]
    public void Heartbeat_DefaultInterval_Is15Seconds()
    {
        using var t = new TestBroker();
        var connection = t.Connect();

        t.AdvanceSeconds(14.9);
        var before = connection.All().Heartbeats();
        t.AdvanceSeconds(0.1);

        Assert.Empty(before);
        Assert.Single(connection.All().Heartbeats());
    }

    [Fact]
    public async Task Heartbeat_SubscriptionOnOneOfTwoTopics_ListsOnlyThatTopic()
    {
        using var t = NewBroker();
        t.PublishMany("a", 3);
        t.PublishMany("b", 5);
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");

        t.AdvanceSeconds(10);

        var heartbeat = Assert.Single(connection.All().Heartbeats());
        Assert.Equal(["a"], heartbeat.TopicHeads.Keys);
        Assert.Equal(3, heartbeat.TopicHeads["a"]);
        Assert.Equal(["a"], heartbeat.TopicEpochs.Keys);
        Assert.Equal(t.Epoch("a"), heartbeat.TopicEpochs["a"]);
    }

    [Fact]
    public async Task Heartbeat_HeadsAreCurrent()
    {
        using var t = NewBroker();
        t.PublishMany("a", 3);
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 4);

        t.AdvanceSeconds(10);

        Assert.Equal(7, Assert.Single(connection.All().Heartbeats()).TopicHeads["a"]);
    }

    [Fact]
    public async Task Heartbeat_SeveralSubscriptions_UnionOfTheirTopics()
    {
        using var t = NewBroker();
        t.Publish("a");
        t.Publish("b");
        t.Publish("c");
        var connection = t.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        await connection.HandleAsync(Msg.Subscribe("s2", "b"));

        t.AdvanceSeconds(10);

        var heartbeat = Assert.Single(connection.All().Heartbeats());
        Assert.Equal(["a", "b"], heartbeat.TopicHeads.Keys.Order());
        Assert.Equal(["a", "b"], heartbeat.TopicEpochs.Keys.Order());
    }

    [Fact]
    public async Task Heartbeat_StarSubscription_ListsEveryTopicIncludingNewOnes()
    {
        using var t = NewBroker();
        t.Publish("a");
        t.Publish("b");
        var connection = await t.ConnectAndSubscribeAsync("s1", "*");
        t.Publish("c");

        t.AdvanceSeconds(10);

        var heartbeat = Assert.Single(connection.All().Heartbeats());
        Assert.Equal(["a", "b", "c"], heartbeat.TopicHeads.Keys.Order());
        Assert.Equal(["a", "b", "c"], heartbeat.TopicEpochs.Keys.Order());
        Assert.Equal(t.Epoch("c"), heartbeat.TopicEpochs["c"]);
    }

    [Fact]
    public async Task Heartbeat_NoSubscription_SentWithEmptyMaps()
    {
        using var t = NewBroker();
        t.Publish("a");
        var connection = t.Connect();

        t.AdvanceSeconds(10);

        var heartbeat = Assert.Single(connection.All().Heartbeats());
        Assert.Empty(heartbeat.TopicHeads);
        Assert.Empty(heartbeat.TopicEpochs);
    }

    [Fact]
    public async Task Heartbeat_AfterUnsubscribe_TopicNoLongerListed()
    {
        using var t = NewBroker();
        t.Publish("a");
        t.Publish("b");
        var connection = t.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        await connection.HandleAsync(Msg.Subscribe("s2", "b"));
        await connection.HandleAsync(Msg.Unsubscribe("s1"));

        t.AdvanceSeconds(10);

        Assert.Equal(["b"], Assert.Single(connection.All().Heartbeats()).TopicHeads.Keys);
    }

    [Fact]
    public async Task Heartbeat_OtherConnectionsTopics_NotLeaked()
    {
        using var t = NewBroker();
        t.Publish("tenant-a");
        t.Publish("tenant-b");
        var a = await t.ConnectAndSubscribeAsync("s1", "tenant-a");
        var b = await t.ConnectAndSubscribeAsync("s1", "tenant-b");

        t.AdvanceSeconds(10);

        Assert.Equal(["tenant-a"], Assert.Single(a.All().Heartbeats()).TopicHeads.Keys);
        Assert.Equal(["tenant-b"], Assert.Single(b.All().Heartbeats()).TopicHeads.Keys);
    }

    [Fact]
    public async Task ClientHeartbeat_Accepted_NothingSentBack()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        connection.All();

        var reply = await connection.SendAndDrainAsync(Msg.Heartbeat(TestBroker.StartTime.ToUnixTimeSeconds()));

        Assert.Empty(reply);
    }
}

/// <summary>The broker's one heartbeat timer (<see cref="HeartbeatScheduler"/>): due times per connection.</summary>
public sealed class HeartbeatSchedulerTests
{
    private static TestBroker NewBroker() => new(o => o.HeartbeatIntervalSeconds = 10);

    [Fact]
    public void Heartbeat_ConnectionOpenedBetweenTicks_SentNoEarlierThanAnIntervalAndAtMostOneTickLate()
    {
        using var t = NewBroker();
        var first = t.Connect();
        t.AdvanceSeconds(0.3);
        var second = t.Connect();
        var tick = t.Broker.Heartbeats.Tick.TotalSeconds;

        t.AdvanceSeconds(9.9);
        var firstAt10 = first.All().Heartbeats();
        var secondBefore = second.All().Heartbeats();
        t.AdvanceSeconds(tick);

        Assert.Equal(1, tick); // min(10 s / 8, 1 s)
        Assert.Single(firstAt10);
        Assert.Empty(secondBefore);
        Assert.Single(second.All().Heartbeats());
    }

    [Fact]
    public void Heartbeat_LateFirstOne_NextStillAnIntervalAfterItsDueTime()
    {
        using var t = NewBroker();
        t.Connect();
        t.AdvanceSeconds(0.3);
        var connection = t.Connect();

        // Ticks every second from 0. Due at 10.3 and 20.3: sent at the ticks of 11 and 21 (not 11 + 10 + a tick).
        t.Advance(TimeSpan.FromMilliseconds(20_600));
        var sent = connection.All().Heartbeats();
        t.AdvanceSeconds(0.1);

        Assert.Equal(TestBroker.StartTime.AddSeconds(11).ToUnixTimeSeconds(), Assert.Single(sent).Timestamp);
        Assert.Equal(
            TestBroker.StartTime.AddSeconds(21).ToUnixTimeSeconds(),
            Assert.Single(connection.All().Heartbeats()).Timestamp);
    }

    [Fact]
    public void Heartbeat_ManyConnections_OneScheduleEmptiedWhenTheyClose()
    {
        using var t = NewBroker();
        var connections = Enumerable.Range(0, 100).Select(i => t.Connect($"c{i}")).ToList();
        Assert.Equal(100, t.Broker.Heartbeats.Count);

        // Closed in an order that moves members between slots.
        foreach (var connection in connections.Where((_, i) => i % 2 == 0))
        {
            connection.Dispose();
        }

        t.AdvanceSeconds(10);
        Assert.Equal(50, t.Broker.Heartbeats.Count);
        Assert.All(connections.Where((_, i) => i % 2 == 1), c => Assert.Single(c.All().Heartbeats()));

        foreach (var connection in connections)
        {
            connection.Dispose();
        }

        Assert.Equal(0, t.Broker.Heartbeats.Count);
    }

    [Fact]
    public void Heartbeat_AfterAllClosed_NewConnectionScheduledFromItsOwnStart()
    {
        using var t = NewBroker();
        t.Connect().Dispose();
        t.AdvanceSeconds(3.7);
        var connection = t.Connect();

        t.AdvanceSeconds(9.9);
        var before = connection.All().Heartbeats();
        t.AdvanceSeconds(0.1);

        Assert.Empty(before);
        Assert.Single(connection.All().Heartbeats());
    }
}
