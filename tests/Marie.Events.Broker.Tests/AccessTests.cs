using Marie.Events.Broker.Access;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>A connection's access policy: what it may subscribe to, and what it is told about.</summary>
public sealed class AccessTests
{
    private static readonly ConnectionAccess OnlyA = ConnectionAccess.ForTopics(["a"]);

    [Fact]
    public async Task Subscribe_InvisibleTopic_PermissionDeniedAndNothingAttached()
    {
        using var t = new TestBroker();
        t.Publish("b");
        var connection = t.Connect(OnlyA);

        var messages = await connection.SendAndDrainAsync(Msg.Subscribe("s1", "a", "b"));

        var error = Assert.Single(messages.Errors());
        Assert.Equal(ErrorCode.ErrorPermissionDenied, error.Code);
        Assert.Equal("s1", error.SubscriptionId);
        Assert.Equal("b", error.Details["topic"]);
        Assert.Empty(messages.Confirms());
        Assert.Equal(0, t.Stats().Subscriptions);
        // The id is free again: the refused subscription left nothing behind.
        Assert.Single((await connection.SendAndDrainAsync(Msg.Subscribe("s1", "a"))).Confirms());
    }

    [Fact]
    public async Task Subscribe_InvisibleTopic_SameMessageWhetherItExistsOrNot()
    {
        using var t = new TestBroker();
        t.Publish("exists");
        var connection = t.Connect(OnlyA);

        var existing = Assert.Single((await connection.SendAndDrainAsync(Msg.Subscribe("s1", "exists"))).Errors());
        var missing = Assert.Single((await connection.SendAndDrainAsync(Msg.Subscribe("s2", "missing"))).Errors());

        Assert.Equal(
            existing.Message.Replace("exists", "X", StringComparison.Ordinal),
            missing.Message.Replace("missing", "X", StringComparison.Ordinal));
        Assert.DoesNotContain("missing", t.Stats().TopicStats.Keys); // refusing it did not create it
    }

    [Fact]
    public async Task Subscribe_WildcardRestricted_OnlyVisibleTopicsConfirmedAndDelivered()
    {
        using var t = new TestBroker();
        t.Publish("a");
        t.Publish("b");
        var connection = t.Connect(ConnectionAccess.ForTopics(["a", "c"]));

        var confirm = Assert.Single((await connection.SendAndDrainAsync(Msg.Subscribe("s1", "*"))).Confirms());
        t.Publish("a");
        t.Publish("b");
        t.Publish("c"); // created after the subscription: still visible, so joined
        t.Publish("d");

        Assert.Equal(["*"], confirm.Topics);
        Assert.Equal(["a"], confirm.TopicHeads.Keys.Order());
        Assert.Equal(["a", "c"], connection.All().Events().Select(e => e.Event.ApiKey));
    }

    [Fact]
    public async Task Heartbeat_WildcardRestricted_ListsOnlyVisibleTopics()
    {
        using var t = new TestBroker(o => o.HeartbeatIntervalSeconds = 1);
        t.Publish("a");
        t.Publish("b");
        var connection = t.Connect(OnlyA);
        await connection.HandleAsync(Msg.Subscribe("s1", "*"));

        t.AdvanceSeconds(1);

        var heartbeat = connection.All().Heartbeats().Last();
        Assert.Equal(["a"], heartbeat.TopicHeads.Keys);
        Assert.Equal(["a"], heartbeat.TopicEpochs.Keys);
    }

    [Fact]
    public void GetReplayBuffer_InvisibleTopic_ThrowsDeniedWhetherOrNotItExists()
    {
        using var t = new TestBroker();
        t.Publish("b");

        var existing = Assert.Throws<TopicAccessDeniedException>(() => t.Broker.GetReplayBuffer(
            new ReplayRequest { Topic = "b" },
            OnlyA));
        var missing = Assert.Throws<TopicAccessDeniedException>(() => t.Broker.GetReplayBuffer(
            new ReplayRequest { Topic = "z" },
            OnlyA));

        Assert.Equal("b", existing.Topic);
        Assert.Equal(
            existing.Message.Replace("'b'", "", StringComparison.Ordinal),
            missing.Message.Replace("'z'", "", StringComparison.Ordinal));
        Assert.Equal(1, t.Broker.GetReplayBuffer(new ReplayRequest { Topic = "b" }).TopicHead);
    }

    [Fact]
    public async Task CumulativeAck_InvisibleTopic_PermissionDenied()
    {
        using var t = new TestBroker();
        var connection = t.Connect(OnlyA);
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        connection.All();

        var error = Assert.Single((await connection.SendAndDrainAsync(Msg.AckUpTo("s1", "b", 5))).Errors());

        Assert.Equal(ErrorCode.ErrorPermissionDenied, error.Code);
    }

    [Fact]
    public void Stats_RestrictedAccess_OnlyVisibleTopics()
    {
        using var t = new TestBroker();
        t.Publish("a");
        t.Publish("b");

        var stats = t.Broker.Stats(OnlyA);

        Assert.Equal(["a"], stats.TopicStats.Keys);
        Assert.Equal(1, stats.Topics);
    }

    [Fact]
    public async Task UpdateAccess_NamedTopicRevoked_SubscriptionClosedNothingRedelivered()
    {
        using var t = new TestBroker(o =>
        {
            o.AckTimeoutSeconds = 1;
            o.RedeliveryDelaySeconds = 0.5;
        });
        var connection = t.Connect(ConnectionAccess.ForTopics(["a", "b"]));
        await connection.HandleAsync(Msg.Subscribe("s1", "b"));
        await connection.HandleAsync(Msg.Subscribe("s2", "a"));
        t.Publish("b");
        connection.All();

        connection.UpdateAccess(OnlyA);
        var notice = Assert.Single(connection.All().Errors());
        t.Publish("b");
        t.Publish("a");
        t.AdvanceSeconds(3);
        var after = connection.All();

        Assert.Equal(ErrorCode.ErrorPermissionDenied, notice.Code);
        Assert.Equal("s1", notice.SubscriptionId);
        Assert.Equal("access_revoked", notice.Details["reason"]);
        Assert.All(after.Events(), e => Assert.Equal("a", e.Event.ApiKey));
        Assert.NotEmpty(after.Events());
        Assert.Equal(1, t.Stats().Subscriptions);
        Assert.Equal(
            ErrorCode.ErrorInvalidSubscription,
            Assert.Single((await connection.SendAndDrainAsync(Msg.Unsubscribe("s1"))).Errors()).Code);
    }

    [Fact]
    public async Task UpdateAccess_Wildcard_LeavesRevokedTopicJoinsNewOneLive()
    {
        using var t = new TestBroker();
        t.Publish("a");
        t.Publish("b");
        var connection = t.Connect(OnlyA);
        await connection.HandleAsync(Msg.Subscribe("s1", "*"));
        t.Publish("a");
        var before = connection.All().Events();

        connection.UpdateAccess(ConnectionAccess.ForTopics(["b"]));
        t.Publish("a");
        t.Publish("b");
        var after = connection.All();

        Assert.Equal(["a"], before.Select(e => e.Event.ApiKey));
        Assert.Empty(after.Errors()); // "*" is still a valid subscription: it now covers b
        var evt = Assert.Single(after.Events());
        Assert.Equal("b", evt.Event.ApiKey);
        Assert.Equal(2, evt.SequenceNum); // live from the head when it became visible, no replay
        Assert.Equal(0, t.Stats().InFlightEvents - 1); // the revoked topic's in-flight event was released
    }

    [Fact]
    public async Task UpdateAccess_RevokedTopicWithQueuedDeliveries_QueuedOnesNotWritten()
    {
        using var t = new TestBroker();
        var connection = t.Connect(ConnectionAccess.ForTopics(["a", "b"]));
        await connection.HandleAsync(Msg.Subscribe("s1", "b"));
        connection.All();
        t.PublishMany("b", 3); // queued, not read yet

        connection.UpdateAccess(OnlyA);

        var written = connection.All();
        Assert.Empty(written.Events());
        Assert.Single(written.Errors());
        Assert.Equal(0, t.Stats().InFlightEvents);
    }

    [Fact]
    public async Task UpdateAccess_AllToAll_NothingChanges()
    {
        using var t = new TestBroker();
        var connection = t.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1", "*"));
        connection.All();

        connection.UpdateAccess(ConnectionAccess.All);
        t.Publish("x");

        Assert.Single(connection.All().Events());
        Assert.True(connection.Access.SeesAll);
    }

    [Fact]
    public void ForTopics_ListWithStar_IsAll()
    {
        Assert.True(ConnectionAccess.ForTopics(["a", "*"]).SeesAll);
        Assert.False(OnlyA.CanSee("b"));
        Assert.Equal(ConnectionAccess.ForTopics(["b", "a"]), ConnectionAccess.ForTopics(["a", "b"]));
    }
}
