using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>Connect, unsubscribe, dispose, malformed messages and the control-message bound.</summary>
public sealed class ConnectionLifecycleTests
{
    [Fact]
    public void Connect_GivenId_KeepsIt_ElseUniqueIds()
    {
        using var t = new TestBroker();

        var named = t.Connect("conn-1");
        var first = t.Connect();
        var second = t.Connect();

        Assert.Equal("conn-1", named.Id);
        Assert.False(string.IsNullOrEmpty(first.Id));
        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal(3, t.Stats().Connections);
    }

    [Fact]
    public async Task Unsubscribe_Known_ConfirmedAndReleasesInFlight()
    {
        using var t = new TestBroker(o => o.MaxInFlight = 3);
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 5);
        connection.All();
        Assert.Equal(3, t.Stats().InFlightEvents);

        var reply = await connection.SendAndDrainAsync(Msg.Unsubscribe("s1"));

        var confirm = Assert.Single(reply, m => m.UnsubscriptionConfirm is not null);
        Assert.Equal("s1", confirm.UnsubscriptionConfirm.SubscriptionId);
        Assert.Empty(reply.Events());
        var stats = t.Stats();
        Assert.Equal(0, stats.InFlightEvents);
        Assert.Equal(0, stats.Subscriptions);
        Assert.Equal(1, stats.Connections);
    }

    [Fact]
    public async Task Unsubscribe_Known_NoMoreEventsOrRedeliveries()
    {
        using var t = new TestBroker(o =>
        {
            o.AckTimeoutSeconds = 10;
            o.RedeliveryDelaySeconds = 4;
        });
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 2);
        connection.All();

        await connection.HandleAsync(Msg.Unsubscribe("s1"));
        connection.All();
        t.PublishMany("a", 2);
        t.AdvanceSeconds(30);

        Assert.Empty(connection.All().WithoutHeartbeats());
        Assert.Equal(0, t.Stats().EventsRedelivered);
    }

    [Fact]
    public async Task Unsubscribe_UnknownId_InvalidSubscription()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        connection.All();

        var reply = await connection.SendAndDrainAsync(Msg.Unsubscribe("nope"));

        Assert.Equal(ErrorCode.ErrorInvalidSubscription, Assert.Single(reply.Errors()).Code);
        Assert.DoesNotContain(reply, m => m.UnsubscriptionConfirm is not null);
        Assert.Equal(1, t.Stats().Subscriptions);
    }

    [Fact]
    public async Task Unsubscribe_Twice_SecondIsInvalidSubscription()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");

        await connection.HandleAsync(Msg.Unsubscribe("s1"));
        connection.All();
        var reply = await connection.SendAndDrainAsync(Msg.Unsubscribe("s1"));

        Assert.Equal(ErrorCode.ErrorInvalidSubscription, Assert.Single(reply.Errors()).Code);
    }

    [Fact]
    public async Task Subscribe_AfterUnsubscribe_SameIdAllowedAgain()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        await connection.HandleAsync(Msg.Unsubscribe("s1"));
        connection.All();

        var reply = await connection.SendAndDrainAsync(Msg.Subscribe("s1", "b"));
        t.Publish("b");

        Assert.Single(reply.Confirms());
        Assert.Empty(reply.Errors());
        Assert.Single(connection.All().Events());
    }

    [Fact]
    public async Task Dispose_Connection_ReleasesSubscriptionsAndInFlight()
    {
        using var t = new TestBroker();
        var connection = t.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        await connection.HandleAsync(Msg.Subscribe("s2", "b"));
        var other = await t.ConnectAndSubscribeAsync("other", "a");
        t.PublishMany("a", 3);
        t.PublishMany("b", 2);
        Assert.Equal(8, t.Stats().InFlightEvents);

        connection.Dispose();

        var stats = t.Stats();
        Assert.Equal(1, stats.Connections);
        Assert.Equal(1, stats.Subscriptions);
        Assert.Equal(3, stats.InFlightEvents);
        t.Publish("a");
        Assert.Equal(4, other.All().Events().Count);
    }

    [Fact]
    public async Task Dispose_Connection_WaitToReadReturnsFalse()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");

        connection.Dispose();

        Assert.False(await connection.WaitToReadAsync());
    }

    [Fact]
    public async Task Dispose_Connection_LaterPublishesAndTimersUnaffected()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Publish("a");
        connection.Dispose();

        var result = t.Publish("a");
        t.AdvanceSeconds(200);

        Assert.Equal(2, result.SequenceNum);
        Assert.Equal(0, t.Stats().EventsDropped);
        Assert.Equal(0, t.Stats().EventsRedelivered);
    }

    [Fact]
    public async Task WaitToRead_MessageQueued_ReturnsTrue()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");

        Assert.True(await connection.WaitToReadAsync());
        Assert.True(connection.TryRead(out var message));
        Assert.NotNull(message.SubscriptionConfirm);
    }

    [Fact]
    public async Task Handle_EmptyClientMessage_InvalidRequest()
    {
        using var t = new TestBroker();
        var connection = t.Connect();

        var reply = await connection.SendAndDrainAsync(new ClientMessage());

        Assert.Equal(ErrorCode.ErrorInvalidRequest, Assert.Single(reply.Errors()).Code);
    }

    [Fact]
    public async Task Handle_ManyControlMessagesUnread_WaitsUntilWriterReads()
    {
        using var t = new TestBroker(o => o.MaxQueuedControlMessages = 2);
        var connection = t.Connect();
        ValueTask pending = default;
        var sent = 0;

        for (; sent < 50; sent++)
        {
            pending = connection.HandleAsync(new ClientMessage());
            if (!pending.IsCompleted) break;
        }

        Assert.True(sent < 50, "HandleAsync should wait once too many control messages are queued");
        var drained = connection.All();
        await pending.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        drained.AddRange(connection.All());
        Assert.Equal(sent + 1, drained.Errors().Count);
    }
}
