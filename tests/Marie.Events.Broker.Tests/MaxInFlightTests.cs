using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>
/// max_in_flight is a hard cap per subscription; waiting events flow on acks; falling behind the ring is told.
/// </summary>
public sealed class MaxInFlightTests
{
    [Fact]
    public async Task Publish_ThreeTimesTheCap_OnlyCapDelivered()
    {
        using var t = new TestBroker(o => o.MaxInFlight = 4);
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");

        t.PublishMany("a", 12);

        Assert.Equal([1L, 2L, 3L, 4L], connection.All().Events().Seqs());
        Assert.Equal(4, t.Stats().InFlightEvents);
    }

    [Fact]
    public async Task Ack_CappedSubscription_ReleasesRestInOrderNothingDropped()
    {
        using var t = new TestBroker(o => o.MaxInFlight = 4);
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 12);
        var received = new List<EventEnvelope>();

        for (var round = 0; round < 10 && received.Count < 12; round++)
        {
            var batch = connection.All().Events();
            Assert.InRange(batch.Count, 1, 4);
            received.AddRange(batch);
            await connection.HandleAsync(Msg.Ack("s1", batch.Select(e => e.AckId).ToArray()));
        }

        Assert.Equal(Drain.Range(1, 12), received.Seqs());
        var stats = t.Stats();
        Assert.Equal(0, stats.EventsDropped);
        Assert.Equal(0, stats.EventsLost);
        Assert.Equal(0, stats.InFlightEvents);
        Assert.Empty(connection.All().Events());
    }

    [Fact]
    public async Task Ack_OneOfCappedEvents_ReleasesExactlyOneWaitingEvent()
    {
        using var t = new TestBroker(o => o.MaxInFlight = 3);
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 9);
        var first = connection.All().Events();

        var released = (await connection.SendAndDrainAsync(Msg.Ack("s1", first[1].AckId))).Events();

        Assert.Equal([4L], released.Seqs());
        Assert.Equal(3, t.Stats().InFlightEvents);
    }

    [Fact]
    public async Task AckCumulative_CappedSubscription_ReleasesUpToCapInOrder()
    {
        using var t = new TestBroker(o => o.MaxInFlight = 3);
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 9);
        connection.All();

        var released = (await connection.SendAndDrainAsync(Msg.AckUpTo("s1", "a", 3))).Events();

        Assert.Equal([4L, 5L, 6L], released.Seqs());
    }

    [Fact]
    public async Task Publish_CapSpansAllTopicsOfSubscription()
    {
        using var t = new TestBroker(o => o.MaxInFlight = 2);
        var connection = await t.ConnectAndSubscribeAsync("s1", "a", "b");

        t.Publish("a");
        t.Publish("b");
        t.Publish("a");
        t.Publish("b");
        var first = connection.All().Events();
        var released = (await connection.SendAndDrainAsync(Msg.AckUpTo("s1", "a", 1))).Events();

        Assert.Equal(2, first.Count);
        Assert.Equal([1L], first.Seqs("a"));
        Assert.Equal([1L], first.Seqs("b"));
        Assert.Single(released);
        Assert.Equal(2, t.Stats().InFlightEvents);
    }

    [Fact]
    public async Task Publish_CapIsPerSubscription_OtherSubscriptionUnaffected()
    {
        using var t = new TestBroker(o => o.MaxInFlight = 2);
        var capped = await t.ConnectAndSubscribeAsync("s1", "a");
        var other = await t.ConnectAndSubscribeAsync("s2", "a");
        await other.HandleAsync(Msg.Subscribe("s3", "a"));

        t.PublishMany("a", 2);
        var otherEvents = new List<EventEnvelope>(other.All().Events());
        await other.HandleAsync(Msg.AckUpTo("s2", "a", 2));
        await other.HandleAsync(Msg.AckUpTo("s3", "a", 2));
        t.PublishMany("a", 2);
        otherEvents.AddRange(other.All().Events());

        Assert.Equal([1L, 2L], capped.All().Events().Seqs());
        Assert.Equal(Drain.Range(1, 4), otherEvents.Where(e => e.SubscriptionId == "s2").Seqs());
        Assert.Equal(Drain.Range(1, 4), otherEvents.Where(e => e.SubscriptionId == "s3").Seqs());
    }

    [Fact]
    public async Task Subscribe_ReplayLargerThanCap_ReplaysUpToCapThenOnAcks()
    {
        using var t = new TestBroker(o => o.MaxInFlight = 3);
        t.PublishMany("a", 10);
        var request = Msg.Sub("s1", "a");
        request.LastSequenceNum = 0;
        var connection = await t.ConnectAndSubscribeAsync(request);

        var first = connection.All().Events();
        var second = (await connection.SendAndDrainAsync(Msg.AckUpTo("s1", "a", 3))).Events();
        t.Publish("a");
        var none = connection.All().Events();

        Assert.Equal([1L, 2L, 3L], first.Seqs());
        Assert.Equal([4L, 5L, 6L], second.Seqs());
        Assert.Empty(none);
    }

    [Fact]
    public async Task Publish_CappedSubscriptionFallsBehindRing_EventsLostNamesRangeThenContinues()
    {
        using var t = new TestBroker(o =>
        {
            o.MaxInFlight = 2;
            o.ReplaySize = 5;
        });
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 10);
        var messages = connection.All();
        Assert.Equal([1L, 2L], messages.Events().Seqs());

        for (var round = 0; round < 10; round++)
        {
            var last = messages.Events().LastOrDefault();
            if (last is null) break;
            var more = await connection.SendAndDrainAsync(Msg.AckUpTo("s1", "a", last.SequenceNum));
            if (more.Count == 0) break;
            messages.AddRange(more);
        }

        Assert.Equal([1L, 2L, 6L, 7L, 8L, 9L, 10L], messages.Events().Seqs());
        var error = Assert.Single(messages.Errors());
        Assert.Equal(ErrorCode.ErrorEventsLost, error.Code);
        Assert.Equal("s1", error.SubscriptionId);
        Assert.Equal("a", error.Details["topic"]);
        Assert.Equal("3", error.Details["first_missed"]);
        Assert.Equal("5", error.Details["last_missed"]);
        Assert.True(messages.IndexOf(m => m.Error is not null) < messages.IndexOf(m => m.Event?.SequenceNum == 6));
        Assert.Equal(3, t.Stats().EventsLost);
        Assert.Equal(0, t.Stats().EventsDropped);
    }

    [Fact]
    public async Task Publish_CappedSubscriptionFallsBehindRing_InFlightEventsStillAckable()
    {
        using var t = new TestBroker(o =>
        {
            o.MaxInFlight = 2;
            o.ReplaySize = 3;
        });
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 10);
        var inFlight = connection.All().Events();

        await connection.HandleAsync(Msg.Ack("s1", inFlight.Select(e => e.AckId).ToArray()));

        Assert.Equal(2, t.Stats().EventsAcked);
        Assert.Equal([8L, 9L], connection.All().Events().Seqs());
    }
}
