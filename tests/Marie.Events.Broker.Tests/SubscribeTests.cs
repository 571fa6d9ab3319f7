using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>Subscribe validation, topics, "*", and the SubscriptionConfirm fields.</summary>
public sealed class SubscribeTests
{
    [Fact]
    public async Task Subscribe_SingleTopic_ConfirmCarriesIdTopicsAndHead()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 4);

        var connection = await t.ConnectAndSubscribeAsync("s1", "a");

        var confirm = Assert.Single(connection.All().Confirms());
        Assert.Equal("s1", confirm.SubscriptionId);
        Assert.Equal(["a"], confirm.Topics);
        Assert.Equal(0, confirm.ReplayFrom);
        Assert.Equal(4, confirm.CurrentHead);
        Assert.Equal(t.Epoch("a"), confirm.TopicEpochs["a"]);
        Assert.Equal(4, confirm.TopicHeads["a"]);
        Assert.Equal(0, confirm.TopicReplayFrom["a"]);
    }

    [Fact]
    public async Task Subscribe_NoReplayFields_OnlyLiveEventsDelivered()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 3);
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");

        t.PublishMany("a", 2);

        var events = connection.All().Events();
        Assert.Equal([4L, 5L], events.Seqs());
        Assert.All(events, e => Assert.Equal("s1", e.SubscriptionId));
        Assert.All(events, e => Assert.Equal(1, e.DeliveryAttempt));
    }

    [Fact]
    public async Task Subscribe_MultiTopic_ConfirmHasPerTopicMapsAndLargestHead()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 2);
        t.PublishMany("b", 6);

        var connection = await t.ConnectAndSubscribeAsync("s1", "a", "b");

        var confirm = Assert.Single(connection.All().Confirms());
        Assert.Equal(["a", "b"], confirm.Topics);
        Assert.Equal(6, confirm.CurrentHead);
        Assert.Equal(2, confirm.TopicHeads["a"]);
        Assert.Equal(6, confirm.TopicHeads["b"]);
        Assert.Equal(t.Epoch("a"), confirm.TopicEpochs["a"]);
        Assert.Equal(t.Epoch("b"), confirm.TopicEpochs["b"]);
    }

    [Fact]
    public async Task Subscribe_Star_ConfirmListsEveryExistingTopic()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 1);
        t.PublishMany("b", 2);

        var connection = await t.ConnectAndSubscribeAsync("s1", "*");

        var confirm = Assert.Single(connection.All().Confirms());
        Assert.Equal(["*"], confirm.Topics);
        Assert.Equal(["a", "b"], confirm.TopicEpochs.Keys.Order());
        Assert.Equal(["a", "b"], confirm.TopicHeads.Keys.Order());
        Assert.Equal(2, confirm.TopicHeads["b"]);
        Assert.Equal(2, confirm.CurrentHead);
    }

    [Fact]
    public async Task Subscribe_Star_GetsEventsOfExistingAndFutureTopics()
    {
        using var t = new TestBroker();
        t.Publish("a");
        var connection = await t.ConnectAndSubscribeAsync("s1", "*");

        t.Publish("a");
        t.Publish("brand-new");

        var events = connection.All().Events();
        Assert.Equal([2L], events.Seqs("a"));
        Assert.Equal([1L], events.Seqs("brand-new"));
    }

    [Fact]
    public async Task Subscribe_TopicAndStar_EachEventDeliveredOnce()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a", "*");

        t.PublishMany("a", 3);
        t.Publish("b");

        var events = connection.All().Events();
        Assert.Equal([1L, 2L, 3L], events.Seqs("a"));
        Assert.Equal([1L], events.Seqs("b"));
        Assert.Equal(4, events.Count);
    }

    [Fact]
    public async Task Subscribe_SameTopicListedTwice_EachEventDeliveredOnce()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a", "a");

        t.PublishMany("a", 2);

        Assert.Equal([1L, 2L], connection.All().Events().Seqs());
    }

    [Fact]
    public async Task Subscribe_DuplicateIdOnConnection_ErrorAndExistingUntouched()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        connection.All();

        var messages = await connection.SendAndDrainAsync(Msg.Subscribe("s1", "b"));

        var error = Assert.Single(messages.Errors());
        Assert.Equal(ErrorCode.ErrorInvalidSubscription, error.Code);
        Assert.Equal("s1", error.SubscriptionId);
        Assert.Empty(messages.Confirms());
        Assert.Equal(1, t.Stats().Subscriptions);
        t.Publish("a");
        t.Publish("b");
        var events = connection.All().Events();
        Assert.Equal("a", Assert.Single(events).Event.ApiKey);
    }

    [Fact]
    public async Task Subscribe_SameIdOnTwoConnections_BothWork()
    {
        using var t = new TestBroker();
        var first = await t.ConnectAndSubscribeAsync("s1", "a");
        var second = await t.ConnectAndSubscribeAsync("s1", "a");

        t.Publish("a");

        var fromFirst = first.All();
        var fromSecond = second.All();
        Assert.Empty(fromSecond.Errors());
        Assert.Single(fromSecond.Confirms());
        Assert.Single(fromFirst.Events());
        Assert.Single(fromSecond.Events());
        Assert.Equal(2, t.Stats().Subscriptions);
    }

    [Fact]
    public async Task Subscribe_TwoIdsOnOneConnection_EachGetsItsOwnEnvelopeAndAckId()
    {
        using var t = new TestBroker();
        var connection = t.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        await connection.HandleAsync(Msg.Subscribe("s2", "a"));

        t.Publish("a");

        var events = connection.All().Events();
        Assert.Equal(["s1", "s2"], events.Select(e => e.SubscriptionId).Order());
        Assert.NotEqual(events[0].AckId, events[1].AckId);
    }

    [Fact]
    public async Task Subscribe_EmptySubscriptionId_InvalidRequest()
    {
        using var t = new TestBroker();
        var connection = t.Connect();

        var messages = await connection.SendAndDrainAsync(Msg.Subscribe("", "a"));

        Assert.Equal(ErrorCode.ErrorInvalidRequest, Assert.Single(messages.Errors()).Code);
        Assert.Empty(messages.Confirms());
        Assert.Equal(0, t.Stats().Subscriptions);
    }

    [Fact]
    public async Task Subscribe_NoTopics_InvalidRequest()
    {
        using var t = new TestBroker();
        var connection = t.Connect();

        var messages = await connection.SendAndDrainAsync(Msg.Subscribe("s1"));

        Assert.Equal(ErrorCode.ErrorInvalidRequest, Assert.Single(messages.Errors()).Code);
        Assert.Empty(messages.Confirms());
        Assert.Equal(0, t.Stats().Subscriptions);
    }

    [Fact]
    public async Task Subscribe_AfterRejectedRequest_SameIdCanSubscribe()
    {
        using var t = new TestBroker();
        var connection = t.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1"));

        var messages = await connection.SendAndDrainAsync(Msg.Subscribe("s1", "a"));

        Assert.Equal("s1", Assert.Single(messages.Confirms()).SubscriptionId);
    }

    [Fact]
    public async Task Subscribe_MultiTopicSubscription_PerTopicOrderKept()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a", "b");

        for (var i = 0; i < 5; i++)
        {
            t.Publish("a");
            t.Publish("b");
        }

        var events = connection.All().Events();
        Assert.Equal(Drain.Range(1, 5), events.Seqs("a"));
        Assert.Equal(Drain.Range(1, 5), events.Seqs("b"));
    }
}
