using Microsoft.Extensions.Logging;

namespace Marie.Events.Broker.Tests;

/// <summary>Redelivery on a redelivery_delay_s timer after ack_timeout_s since the last send; drop after
/// max_redelivery_attempts deliveries. Unless a test says otherwise: ack timeout 10 s, checks every 4 s (ticks at
/// 4, 8, 12, ...), so an event sent at 0 is redelivered at 12, 24, 36, 48 and dropped at 60.</summary>
public sealed class RedeliveryTests
{
    private static TestBroker NewBroker(Action<BrokerOptions>? more = null) => new(o =>
    {
        o.AckTimeoutSeconds = 10;
        o.RedeliveryDelaySeconds = 4;
        more?.Invoke(o);
    });

    [Fact]
    public async Task Redelivery_BeforeAckTimeout_NothingSent()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Publish("a");
        connection.All();

        t.AdvanceSeconds(11.9);

        Assert.Empty(connection.All().Events());
        Assert.Equal(0, t.Stats().EventsRedelivered);
    }

    [Fact]
    public async Task Redelivery_AfterAckTimeout_SameAckIdAndAttemptPlusOne()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Publish("a");
        var first = Assert.Single(connection.All().Events());

        t.AdvanceSeconds(12);

        var again = Assert.Single(connection.All().Events());
        Assert.Equal(1, first.DeliveryAttempt);
        Assert.Equal(2, again.DeliveryAttempt);
        Assert.Equal(first.AckId, again.AckId);
        Assert.Equal(first.SequenceNum, again.SequenceNum);
        Assert.Equal(first.SubscriptionId, again.SubscriptionId);
        Assert.Equal(first.Event, again.Event);
        Assert.Equal(first.PublishedAt, again.PublishedAt);
        Assert.Equal(1, t.Stats().EventsRedelivered);
        Assert.Equal(2, t.Stats().EventsDelivered);
    }

    [Fact]
    public async Task Redelivery_EventOverwrittenInRing_InFlightCopyOwnsItsBytesAndRedeliversThem()
    {
        using var t = NewBroker(o =>
        {
            o.ReplaySize = 4;
            o.MaxInFlight = 1;
        });
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Publish("a");
        var first = Assert.Single(connection.All().Events());
        // Waiting for room (max_in_flight 1), then overwritten by the ring: event 1 stays in flight.
        t.PublishMany("a", 10);
        var entry = () => connection.SnapshotSubscriptions()[0].Topics[0].InFlight.Single().Event;
        Assert.True(entry().SharesChunk);

        t.AdvanceSeconds(12);

        Assert.False(entry().SharesChunk);
        var again = Assert.Single(connection.All().Events());
        Assert.Equal(first.SequenceNum, again.SequenceNum);
        Assert.Equal(first.Event, again.Event);
        Assert.Equal(first.PublishedAt, again.PublishedAt);
        Assert.Equal(2, again.DeliveryAttempt);
    }

    [Fact]
    public async Task Redelivery_CheckedOnRedeliveryDelayTicksOnly()
    {
        using var t = NewBroker(o =>
        {
            o.AckTimeoutSeconds = 3;
            o.RedeliveryDelaySeconds = 5;
        });
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Publish("a");
        connection.All();

        t.AdvanceSeconds(4.9);
        var beforeTick = connection.All().Events();
        t.AdvanceSeconds(0.1);
        var atTick = connection.All().Events();

        Assert.Empty(beforeTick);
        Assert.Equal(2, Assert.Single(atTick).DeliveryAttempt);
    }

    [Fact]
    public async Task Redelivery_LastSendExactlyAckTimeoutAgo_Redelivers()
    {
        using var t = new TestBroker(o =>
        {
            o.AckTimeoutSeconds = 30;
            o.RedeliveryDelaySeconds = 5;
        });
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Publish("a");
        connection.All();

        t.AdvanceSeconds(29);
        var before = connection.All().Events();
        t.AdvanceSeconds(1);
        var at = connection.All().Events();

        Assert.Empty(before);
        Assert.Single(at);
    }

    [Fact]
    public async Task Redelivery_TimedFromLastSend_NotFromFirstSend()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Publish("a");
        connection.All();

        t.AdvanceSeconds(23);
        var upTo23 = connection.All().Events();
        t.AdvanceSeconds(1);
        var at24 = connection.All().Events();

        Assert.Equal([2], upTo23.Select(e => e.DeliveryAttempt));
        Assert.Equal([3], at24.Select(e => e.DeliveryAttempt));
    }

    [Fact]
    public async Task Redelivery_MaxAttemptsReached_DroppedWithWarningAndStats()
    {
        using var t = NewBroker(o => o.MaxRedeliveryAttempts = 5);
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Publish("a");
        var ackId = Assert.Single(connection.All().Events()).AckId;

        t.AdvanceSeconds(59);
        var deliveries = connection.All().Events();
        var inFlightBeforeDrop = t.Stats().InFlightEvents;
        t.AdvanceSeconds(1);
        var afterDrop = connection.All().Events();
        t.AdvanceSeconds(60);

        Assert.Equal([2, 3, 4, 5], deliveries.Select(e => e.DeliveryAttempt));
        Assert.All(deliveries, e => Assert.Equal(ackId, e.AckId));
        Assert.Equal(1, inFlightBeforeDrop);
        Assert.Empty(afterDrop);
        Assert.Empty(connection.All().Events());
        var stats = t.Stats();
        Assert.Equal(1, stats.EventsDropped);
        Assert.Equal(0, stats.InFlightEvents);
        Assert.Equal(4, stats.EventsRedelivered);
        Assert.Contains(
            t.Logs.AtLevel(LogLevel.Warning),
            e => e.Message.Contains($"Event {ackId} dropped after 5 attempts", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Redelivery_MaxAttemptsOne_DroppedAtFirstTimeoutWithoutRedelivery()
    {
        using var t = NewBroker(o => o.MaxRedeliveryAttempts = 1);
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Publish("a");
        var ackId = Assert.Single(connection.All().Events()).AckId;

        t.AdvanceSeconds(12);

        Assert.Empty(connection.All().Events());
        Assert.Equal(1, t.Stats().EventsDropped);
        Assert.Contains(
            t.Logs.AtLevel(LogLevel.Warning),
            e => e.Message.Contains($"Event {ackId} dropped after 1 attempts", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Redelivery_DroppedEvent_FreesRoomForWaitingEvent()
    {
        using var t = NewBroker(o =>
        {
            o.MaxRedeliveryAttempts = 2;
            o.MaxInFlight = 1;
        });
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 2);
        var first = connection.All().Events();

        t.AdvanceSeconds(12);
        var second = connection.All().Events();
        t.AdvanceSeconds(12);
        var third = connection.All().Events();

        Assert.Equal([(1L, 1)], first.Select(e => (e.SequenceNum, e.DeliveryAttempt)));
        Assert.Equal([(1L, 2)], second.Select(e => (e.SequenceNum, e.DeliveryAttempt)));
        Assert.Equal([(2L, 1)], third.Select(e => (e.SequenceNum, e.DeliveryAttempt)));
        Assert.Equal(1, t.Stats().EventsDropped);
    }

    [Fact]
    public async Task Redelivery_ClientNeverSendsHeartbeat_StillRedelivered()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Publish("a");
        connection.All();

        // Defaults: ack timeout 30 s, checks every 5 s, heartbeat 15 s. The reference implementation stops
        // redelivering 2 x heartbeat (30 s) after the last ClientHeartbeat; this client never sends one.
        t.AdvanceSeconds(149);

        Assert.Equal([2, 3, 4, 5], connection.All().Events().Select(e => e.DeliveryAttempt));
    }

    [Fact]
    public async Task Redelivery_AckedAfterRedelivery_NoFurtherRedelivery()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Publish("a");
        connection.All();
        t.AdvanceSeconds(12);
        var again = Assert.Single(connection.All().Events());

        await connection.HandleAsync(Msg.Ack("s1", again.AckId));
        t.AdvanceSeconds(100);

        Assert.Empty(connection.All().Events());
        Assert.Equal(0, t.Stats().EventsDropped);
        Assert.Equal(0, t.Stats().InFlightEvents);
    }

    [Fact]
    public async Task Redelivery_ReplayedEvents_AreRedeliveredToo()
    {
        using var t = NewBroker();
        t.PublishMany("a", 2);
        var request = Msg.Sub("s1", "a");
        request.LastSequenceNum = 0;
        var connection = await t.ConnectAndSubscribeAsync(request);
        var replayed = connection.All().Events();

        t.AdvanceSeconds(12);

        var again = connection.All().Events();
        Assert.Equal(replayed.Select(e => e.AckId), again.Select(e => e.AckId));
        Assert.All(again, e => Assert.Equal(2, e.DeliveryAttempt));
    }

    [Fact]
    public async Task Redelivery_OnlyUnackedOfSeveral_AreSentAgainInTopicOrder()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 4);
        var events = connection.All().Events();
        await connection.HandleAsync(Msg.Ack("s1", events[1].AckId));

        t.AdvanceSeconds(12);

        Assert.Equal([1L, 3L, 4L], connection.All().Events().Seqs());
    }
}
