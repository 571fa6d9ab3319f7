using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>Resume points older than the ring (ERROR_EVENTS_LOST) and epochs (ERROR_EPOCH_CHANGED).</summary>
public sealed class ResumeEdgeTests
{
    private const string WrongEpoch = "ffffffffffffffff";

    private static SubscribeRequest Resume(long lastSequenceNum, params string[] topics)
    {
        var request = Msg.Sub("s1", topics);
        request.LastSequenceNum = lastSequenceNum;
        return request;
    }

    private static string OtherEpochThan(string epoch) => epoch == WrongEpoch ? "0000000000000000" : WrongEpoch;

    [Fact]
    public async Task Subscribe_ResumeOlderThanRing_EventsLostBeforeRemainingReplay()
    {
        using var t = new TestBroker(o => o.ReplaySize = 5);
        t.PublishMany("a", 10);

        var connection = await t.ConnectAndSubscribeAsync(Resume(2, "a"));

        var messages = connection.All();
        var error = Assert.Single(messages.Errors());
        Assert.Equal(ErrorCode.ErrorEventsLost, error.Code);
        Assert.Equal("s1", error.SubscriptionId);
        Assert.Equal("a", error.Details["topic"]);
        Assert.Equal("3", error.Details["first_missed"]);
        Assert.Equal("5", error.Details["last_missed"]);
        Assert.Equal(Drain.Range(6, 10), messages.Events().Seqs());
        var errorAt = messages.IndexOf(m => m.Error is not null);
        var firstEventAt = messages.IndexOf(m => m.Event is not null);
        Assert.True(errorAt < firstEventAt, "the events-lost notice must come before the first replayed event");
        Assert.True(messages.IndexOf(m => m.SubscriptionConfirm is not null) < firstEventAt);
        Assert.Equal(6, Assert.Single(messages.Confirms()).ReplayFrom);
        Assert.Equal(3, t.Stats().EventsLost);
    }

    [Fact]
    public async Task Subscribe_ResumeOlderThanRingOnOneTopic_NoticeNamesThatTopicOnly()
    {
        using var t = new TestBroker(o => o.ReplaySize = 5);
        t.PublishMany("a", 8);
        t.PublishMany("b", 3);

        var connection = await t.ConnectAndSubscribeAsync(Resume(0, "a", "b"));

        var messages = connection.All();
        var error = Assert.Single(messages.Errors());
        Assert.Equal("a", error.Details["topic"]);
        Assert.Equal("1", error.Details["first_missed"]);
        Assert.Equal("3", error.Details["last_missed"]);
        Assert.Equal(Drain.Range(4, 8), messages.Events().Seqs("a"));
        Assert.Equal([1L, 2L, 3L], messages.Events().Seqs("b"));
        var errorAt = messages.IndexOf(m => m.Error is not null);
        Assert.True(errorAt < messages.IndexOf(m => m.Event?.Event.ApiKey == "a"));
    }

    [Fact]
    public async Task Subscribe_ResumeInsideRing_NoEventsLostNotice()
    {
        using var t = new TestBroker(o => o.ReplaySize = 5);
        t.PublishMany("a", 10);

        var connection = await t.ConnectAndSubscribeAsync(Resume(5, "a"));

        var messages = connection.All();
        Assert.Empty(messages.Errors());
        Assert.Equal(Drain.Range(6, 10), messages.Events().Seqs());
        Assert.Equal(0, t.Stats().EventsLost);
    }

    [Fact]
    public async Task Subscribe_EpochMismatch_EpochChangedAndReplayFromRingStart()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 10);
        var current = t.Epoch("a");
        var stale = OtherEpochThan(current);
        var request = Resume(8, "a");
        request.TopicEpochs.Add("a", stale);

        var connection = await t.ConnectAndSubscribeAsync(request);

        var messages = connection.All();
        var error = Assert.Single(messages.Errors());
        Assert.Equal(ErrorCode.ErrorEpochChanged, error.Code);
        Assert.Equal("a", error.Details["topic"]);
        Assert.Equal(stale, error.Details["expected_epoch"]);
        Assert.Equal(current, error.Details["current_epoch"]);
        Assert.Equal(Drain.Range(1, 10), messages.Events().Seqs());
        Assert.True(messages.IndexOf(m => m.Error is not null) < messages.IndexOf(m => m.Event is not null));
        Assert.Equal(1, Assert.Single(messages.Confirms()).ReplayFrom);
    }

    [Fact]
    public async Task Subscribe_EpochMismatchRingWrapped_ReplayRingStartWithoutEventsLost()
    {
        using var t = new TestBroker(o => o.ReplaySize = 5);
        t.PublishMany("a", 10);
        var request = Resume(2, "a");
        request.TopicEpochs.Add("a", OtherEpochThan(t.Epoch("a")));

        var connection = await t.ConnectAndSubscribeAsync(request);

        var messages = connection.All();
        Assert.Equal(ErrorCode.ErrorEpochChanged, Assert.Single(messages.Errors()).Code);
        Assert.Equal(Drain.Range(6, 10), messages.Events().Seqs());
        Assert.Equal(0, t.Stats().EventsLost);
    }

    [Fact]
    public async Task Subscribe_EpochMismatchWithResumeFrom_ReplayFromRingStart()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 4);
        t.PublishMany("b", 4);
        var request = Msg.Sub("s1", "a", "b");
        request.ResumeFrom.Add("a", 3);
        request.ResumeFrom.Add("b", 3);
        request.TopicEpochs.Add("a", OtherEpochThan(t.Epoch("a")));
        request.TopicEpochs.Add("b", t.Epoch("b"));

        var connection = await t.ConnectAndSubscribeAsync(request);

        var messages = connection.All();
        Assert.Equal("a", Assert.Single(messages.Errors()).Details["topic"]);
        Assert.Equal(Drain.Range(1, 4), messages.Events().Seqs("a"));
        Assert.Equal([4L], messages.Events().Seqs("b"));
    }

    [Fact]
    public async Task Subscribe_MatchingEpoch_NormalResumeNoError()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 5);
        var request = Resume(3, "a");
        request.TopicEpochs.Add("a", t.Epoch("a"));

        var connection = await t.ConnectAndSubscribeAsync(request);

        var messages = connection.All();
        Assert.Empty(messages.Errors());
        Assert.Equal([4L, 5L], messages.Events().Seqs());
    }

    [Fact]
    public async Task Subscribe_ResumePointAfterHead_TreatedAsEpochChange()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 10);

        var connection = await t.ConnectAndSubscribeAsync(Resume(50, "a"));

        var messages = connection.All();
        var error = Assert.Single(messages.Errors());
        Assert.Equal(ErrorCode.ErrorEpochChanged, error.Code);
        Assert.Equal("a", error.Details["topic"]);
        Assert.Equal(t.Epoch("a"), error.Details["current_epoch"]);
        Assert.Equal(Drain.Range(1, 10), messages.Events().Seqs());
    }

    [Fact]
    public async Task Subscribe_ResumeFromAfterHead_TreatedAsEpochChange()
    {
        using var t = new TestBroker(o => o.ReplaySize = 5);
        t.PublishMany("a", 10);
        var request = Msg.Sub("s1", "a");
        request.ResumeFrom.Add("a", 11);

        var connection = await t.ConnectAndSubscribeAsync(request);

        var messages = connection.All();
        Assert.Equal(ErrorCode.ErrorEpochChanged, Assert.Single(messages.Errors()).Code);
        Assert.Equal(Drain.Range(6, 10), messages.Events().Seqs());
        Assert.Equal(0, t.Stats().EventsLost);
    }

    [Fact]
    public async Task Subscribe_EpochChanged_LiveContinuesWithoutGap()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 3);
        var connection = await t.ConnectAndSubscribeAsync(Resume(99, "a"));

        t.PublishMany("a", 2);

        Assert.Equal(Drain.Range(1, 5), connection.All().Events().Seqs());
    }
    private static SubscribeRequest ResumeAt(TestBroker t, string topic, long point, string? epoch = null)
    {
        var request = Msg.Sub("s1", topic);
        request.ResumeFrom.Add(topic, point);
        request.TopicEpochs.Add(topic, epoch ?? t.Epoch(topic));
        return request;
    }

    [Fact]
    public async Task Subscribe_ResumeFromBeyondHeadSameEpoch_NoErrorNoReplayWaitsAtPoint()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 10);

        var connection = await t.ConnectAndSubscribeAsync(ResumeAt(t, "a", 15));

        var messages = connection.All();
        Assert.Empty(messages.Errors());
        Assert.Empty(messages.Events());
        var confirm = Assert.Single(messages.Confirms());
        Assert.Equal(0, confirm.ReplayFrom);
        Assert.Equal(0, confirm.TopicReplayFrom["a"]);
        Assert.Equal(10, confirm.TopicHeads["a"]);
        Assert.Equal(t.Epoch("a"), confirm.TopicEpochs["a"]);
    }

    [Fact]
    public async Task Subscribe_ResumeFromBeyondHeadSameEpoch_EventsUpToPointSkippedLaterDelivered()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 10);
        var connection = await t.ConnectAndSubscribeAsync(ResumeAt(t, "a", 15));
        connection.All();

        t.PublishMany("a", 5);
        var upToPoint = connection.All();
        t.PublishMany("a", 3);
        var afterPoint = connection.All();

        Assert.Empty(upToPoint.Events());
        Assert.Empty(upToPoint.Errors());
        Assert.Equal(Drain.Range(16, 18), afterPoint.Events().Seqs());
        Assert.Empty(afterPoint.Errors());
        Assert.Equal(0, t.Stats().EventsLost);
    }

    [Fact]
    public async Task Subscribe_LastSequenceNumBeyondHeadSameEpochOneTopic_WaitsAtPoint()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 3);
        var request = Resume(5, "a");
        request.TopicEpochs.Add("a", t.Epoch("a"));
        var connection = await t.ConnectAndSubscribeAsync(request);
        var subscribed = connection.All();

        t.PublishMany("a", 4);

        Assert.Empty(subscribed.Errors());
        Assert.Empty(subscribed.Events());
        Assert.Equal([6L, 7L], connection.All().Events().Seqs());
    }

    [Fact]
    public async Task Subscribe_ResumeBeyondHeadSameEpochWithReplayCount_NothingReplayed()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 10);
        var request = ResumeAt(t, "a", 12);
        request.ReplayCount = 0;
        var zero = await t.ConnectAndSubscribeAsync(request);
        request = ResumeAt(t, "a", 12);
        request.ReplayCount = 5;
        var five = await t.ConnectAndSubscribeAsync(request);
        var zeroAtSubscribe = zero.All();
        var fiveAtSubscribe = five.All();

        t.PublishMany("a", 3);

        Assert.Empty(zeroAtSubscribe.Events());
        Assert.Empty(fiveAtSubscribe.Events());
        Assert.Empty(zeroAtSubscribe.Errors());
        Assert.Equal([13L], zero.All().Events().Seqs());
        Assert.Equal([13L], five.All().Events().Seqs());
    }

    [Fact]
    public async Task Subscribe_ResumeBeyondHeadSameEpoch_InFlightCapAndCumulativeAckStayRight()
    {
        using var t = new TestBroker(o => { o.MaxInFlight = 2; o.HeartbeatIntervalSeconds = 10; });
        t.PublishMany("a", 10);
        var connection = await t.ConnectAndSubscribeAsync(ResumeAt(t, "a", 15));
        connection.All();

        t.PublishMany("a", 10);
        var capped = connection.All().Events().Seqs();
        var inFlightAtCap = t.Stats().InFlightEvents;
        var afterFirstAck = await connection.SendAndDrainAsync(Msg.AckUpTo("s1", "a", 17));
        var afterSecondAck = await connection.SendAndDrainAsync(Msg.AckUpTo("s1", "a", 19));
        var afterLastAck = await connection.SendAndDrainAsync(Msg.AckUpTo("s1", "a", 20));
        t.AdvanceSeconds(10);
        var heartbeat = Assert.Single(connection.All().Heartbeats());

        Assert.Equal([16L, 17L], capped);
        Assert.Equal(2, inFlightAtCap);
        Assert.Equal([18L, 19L], afterFirstAck.Events().Seqs());
        Assert.Equal([20L], afterSecondAck.Events().Seqs());
        Assert.Empty(afterLastAck.Events());
        Assert.Equal(0, t.Stats().InFlightEvents);
        Assert.Equal(20, heartbeat.TopicHeads["a"]);
        Assert.Equal(t.Epoch("a"), heartbeat.TopicEpochs["a"]);
    }

    [Fact]
    public async Task Subscribe_ResumeBeyondHeadOtherEpoch_EpochChangedAndReplayFromRingStart()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 10);
        var current = t.Epoch("a");
        var stale = OtherEpochThan(current);

        var connection = await t.ConnectAndSubscribeAsync(ResumeAt(t, "a", 15, stale));

        var messages = connection.All();
        var error = Assert.Single(messages.Errors());
        Assert.Equal(ErrorCode.ErrorEpochChanged, error.Code);
        Assert.Equal(stale, error.Details["expected_epoch"]);
        Assert.Equal(current, error.Details["current_epoch"]);
        Assert.NotEqual(error.Details["expected_epoch"], error.Details["current_epoch"]);
        Assert.Equal(Drain.Range(1, 10), messages.Events().Seqs());
    }
}
