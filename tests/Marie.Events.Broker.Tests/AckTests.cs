using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>Individual and cumulative acks, their errors, and that acks only settle the stream's own events.</summary>
public sealed class AckTests
{
    private static TestBroker NewBroker() => new(o =>
    {
        o.AckTimeoutSeconds = 10;
        o.RedeliveryDelaySeconds = 4;
    });

    [Fact]
    public async Task AckIndividual_NamedIds_SettledAndNotRedelivered()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 3);
        var events = connection.All().Events();

        var reply = await connection.SendAndDrainAsync(Msg.Ack("s1", events[0].AckId, events[2].AckId));
        t.AdvanceSeconds(12);

        Assert.Empty(reply);
        Assert.Equal(1, t.Stats().InFlightEvents);
        Assert.Equal(2, t.Stats().EventsAcked);
        var redelivered = connection.All().Events();
        Assert.Equal([2L], redelivered.Seqs());
        Assert.Equal(events[1].AckId, redelivered[0].AckId);
    }

    [Fact]
    public async Task AckIndividual_UnknownIds_IgnoredSilently()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 2);
        var events = connection.All().Events();

        var reply = await connection.SendAndDrainAsync(Msg.Ack("s1", "no-such-ack-id", "", events[0].AckId));

        Assert.Empty(reply);
        Assert.Equal(1, t.Stats().InFlightEvents);
    }

    [Fact]
    public async Task AckIndividual_SameIdTwice_SecondIgnored()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Publish("a");
        var ackId = Assert.Single(connection.All().Events()).AckId;

        await connection.HandleAsync(Msg.Ack("s1", ackId));
        var reply = await connection.SendAndDrainAsync(Msg.Ack("s1", ackId));

        Assert.Empty(reply);
        Assert.Equal(1, t.Stats().EventsAcked);
        Assert.Equal(0, t.Stats().InFlightEvents);
    }

    [Fact]
    public async Task AckCumulative_SettlesAllUpToSequenceOfThatTopic()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 5);
        connection.All();

        var reply = await connection.SendAndDrainAsync(Msg.AckUpTo("s1", "a", 3));
        t.AdvanceSeconds(12);

        Assert.Empty(reply);
        Assert.Equal(2, t.Stats().InFlightEvents);
        Assert.Equal([4L, 5L], connection.All().Events().Seqs());
    }

    [Theory]
    [InlineData(1, 1)] // one topic, one subscription: found by a scan
    [InlineData(12, 12)] // past the scan limit of 8: found through the tables built for them
    public async Task Ack_ManyTopicsAndSubscriptions_SettlesEachByAckIdAndCumulative(int topics, int subscriptions)
    {
        using var t = NewBroker();
        var names = Enumerable.Range(0, topics).Select(i => $"t{i}").ToArray();
        var connection = t.Connect();
        for (var s = 0; s < subscriptions; s++)
        {
            await connection.HandleAsync(Msg.Subscribe($"s{s}", names));
        }

        connection.All();
        foreach (var name in names)
        {
            t.PublishMany(name, 2);
        }

        var events = connection.All().Events();
        Assert.Equal(topics * subscriptions * 2, events.Count);
        // The first event of each (subscription, topic) by its ack id, the second by a cumulative ack of its topic.
        foreach (var group in events.GroupBy(e => (e.SubscriptionId, Topic: e.Event.ApiKey)))
        {
            await connection.HandleAsync(Msg.Ack(group.Key.SubscriptionId, group.First().AckId));
            await connection.HandleAsync(Msg.AckUpTo(group.Key.SubscriptionId, group.Key.Topic, 2));
        }

        Assert.Equal(0, t.Stats().InFlightEvents);
        Assert.Equal(topics * subscriptions * 2, t.Stats().EventsAcked);
    }

    [Fact]
    public async Task AckCumulative_OnlySettlesNamedTopic()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a", "b");
        t.PublishMany("a", 3);
        t.PublishMany("b", 3);
        connection.All();

        await connection.HandleAsync(Msg.AckUpTo("s1", "a", 3));
        t.AdvanceSeconds(12);

        Assert.Equal(3, t.Stats().InFlightEvents);
        var redelivered = connection.All().Events();
        Assert.Empty(redelivered.Seqs("a"));
        Assert.Equal([1L, 2L, 3L], redelivered.Seqs("b"));
    }

    [Fact]
    public async Task AckCumulative_BeyondHead_SettlesEverythingOfTopic()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 3);
        connection.All();

        var reply = await connection.SendAndDrainAsync(Msg.AckUpTo("s1", "a", 1000));

        Assert.Empty(reply);
        Assert.Equal(0, t.Stats().InFlightEvents);
        Assert.Equal(3, t.Stats().EventsAcked);
    }

    [Fact]
    public async Task AckCumulative_EmptyTopic_InvalidRequest()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 2);
        connection.All();

        var reply = await connection.SendAndDrainAsync(Msg.AckUpTo("s1", "", 2));

        Assert.Equal(ErrorCode.ErrorInvalidRequest, Assert.Single(reply.Errors()).Code);
        Assert.Equal(2, t.Stats().InFlightEvents);
    }

    [Fact]
    public async Task Ack_UnknownSubscriptionId_InvalidSubscription()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Publish("a");
        var ackId = Assert.Single(connection.All().Events()).AckId;

        var individual = await connection.SendAndDrainAsync(Msg.Ack("nope", ackId));
        var cumulative = await connection.SendAndDrainAsync(Msg.AckUpTo("nope", "a", 1));

        Assert.Equal(ErrorCode.ErrorInvalidSubscription, Assert.Single(individual.Errors()).Code);
        Assert.Equal(ErrorCode.ErrorInvalidSubscription, Assert.Single(cumulative.Errors()).Code);
        Assert.Equal(1, t.Stats().InFlightEvents);
    }

    [Fact]
    public async Task Ack_AckIdOfAnotherConnection_DoesNotSettle()
    {
        using var t = NewBroker();
        var owner = await t.ConnectAndSubscribeAsync("s1", "a");
        var other = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Publish("a");
        var ownerEvent = Assert.Single(owner.All().Events());
        var otherEvent = Assert.Single(other.All().Events());

        var reply = await other.SendAndDrainAsync(Msg.Ack("s1", ownerEvent.AckId));
        t.AdvanceSeconds(12);

        Assert.Empty(reply.Errors());
        Assert.Equal(2, t.Stats().InFlightEvents);
        Assert.Equal(ownerEvent.AckId, Assert.Single(owner.All().Events()).AckId);
        Assert.Equal(otherEvent.AckId, Assert.Single(other.All().Events()).AckId);
    }

    [Fact]
    public async Task AckCumulative_OtherConnectionSameSubscriptionId_OnlySettlesOwnStream()
    {
        using var t = NewBroker();
        var owner = await t.ConnectAndSubscribeAsync("s1", "a");
        var other = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 2);
        owner.All();
        other.All();

        await other.HandleAsync(Msg.AckUpTo("s1", "a", 2));

        Assert.Equal(2, t.Stats().InFlightEvents);
        t.AdvanceSeconds(12);
        Assert.Equal([1L, 2L], owner.All().Events().Seqs());
        Assert.Empty(other.All().Events());
    }

    [Fact]
    public async Task Deliver_AckIds_UniquePerSubscriptionTopicAndSequence()
    {
        using var t = NewBroker();
        var connection = t.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1", "a", "b"));
        await connection.HandleAsync(Msg.Subscribe("s2", "a", "b"));

        t.PublishMany("a", 3);
        t.PublishMany("b", 3);

        var events = connection.All().Events();
        Assert.Equal(12, events.Count);
        Assert.Equal(12, events.Select(e => e.AckId).Distinct().Count());
        Assert.All(events, e => Assert.False(string.IsNullOrEmpty(e.AckId)));
    }

    [Fact]
    public async Task AckIndividual_OneSubscriptionsAckId_DoesNotSettleOtherSubscription()
    {
        using var t = NewBroker();
        var connection = t.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        await connection.HandleAsync(Msg.Subscribe("s2", "a"));
        t.Publish("a");
        var events = connection.All().Events();
        var s1Event = events.Single(e => e.SubscriptionId == "s1");

        await connection.HandleAsync(Msg.Ack("s1", s1Event.AckId));

        Assert.Equal(1, t.Stats().InFlightEvents);
        t.AdvanceSeconds(12);
        Assert.Equal("s2", Assert.Single(connection.All().Events()).SubscriptionId);
    }
}
