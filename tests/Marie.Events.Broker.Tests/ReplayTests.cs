using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>
/// Replay on subscribe: resume points (last_sequence_num, resume_from), confirm first, replay then live.
/// </summary>
public sealed class ReplayTests
{
    private static SubscribeRequest Resume(string id, long lastSequenceNum, params string[] topics)
    {
        var request = Msg.Sub(id, topics);
        request.LastSequenceNum = lastSequenceNum;
        return request;
    }

    [Fact]
    public async Task Subscribe_WithReplay_ConfirmComesBeforeReplayedEvents()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 5);

        var connection = await t.ConnectAndSubscribeAsync(Resume("s1", 0, "a"));

        var messages = connection.All();
        Assert.Equal(ServerMessage.MessageOneofCase.SubscriptionConfirm, messages[0].MessageCase);
        Assert.Equal(Drain.Range(1, 5), messages.Skip(1).Events().Seqs());
        Assert.Equal(6, messages.Count);
    }

    [Fact]
    public async Task Subscribe_LastSequenceNum_ReplaysEventsAfterIt()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 5);

        var connection = await t.ConnectAndSubscribeAsync(Resume("s1", 2, "a"));

        var messages = connection.All();
        var confirm = Assert.Single(messages.Confirms());
        Assert.Equal(3, confirm.ReplayFrom);
        Assert.Equal(5, confirm.CurrentHead);
        Assert.Equal(3, confirm.TopicReplayFrom["a"]);
        var events = messages.Events();
        Assert.Equal([3L, 4L, 5L], events.Seqs());
        Assert.All(events, e => Assert.Equal(1, e.DeliveryAttempt));
        Assert.All(events, e => Assert.Equal("s1", e.SubscriptionId));
        Assert.All(events, e => Assert.False(string.IsNullOrEmpty(e.AckId)));
        Assert.Equal(3, t.Stats().InFlightEvents);
    }

    [Fact]
    public async Task Subscribe_LastSequenceNumAtHead_NothingReplayedNoError()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 5);

        var connection = await t.ConnectAndSubscribeAsync(Resume("s1", 5, "a"));

        var messages = connection.All();
        Assert.Empty(messages.Errors());
        Assert.Empty(messages.Events());
        Assert.Equal(0, Assert.Single(messages.Confirms()).ReplayFrom);
    }

    [Fact]
    public async Task Subscribe_LastSequenceNumZeroOnEmptyTopic_NoErrorNoEvents()
    {
        using var t = new TestBroker();

        var connection = await t.ConnectAndSubscribeAsync(Resume("s1", 0, "fresh"));

        var messages = connection.All();
        Assert.Empty(messages.Errors());
        Assert.Empty(messages.Events());
        t.Publish("fresh");
        Assert.Equal([1L], connection.All().Events().Seqs());
    }

    [Fact]
    public async Task Subscribe_LastSequenceNumMultiTopic_AppliedToEachTopicSeparately()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 5);
        t.PublishMany("b", 3);

        var connection = await t.ConnectAndSubscribeAsync(Resume("s1", 2, "a", "b"));

        var messages = connection.All();
        Assert.Equal([3L, 4L, 5L], messages.Events().Seqs("a"));
        Assert.Equal([3L], messages.Events().Seqs("b"));
        var confirm = Assert.Single(messages.Confirms());
        Assert.Equal(3, confirm.TopicReplayFrom["a"]);
        Assert.Equal(3, confirm.TopicReplayFrom["b"]);
        Assert.Equal(5, confirm.CurrentHead);
    }

    [Fact]
    public async Task Subscribe_StarWithLastSequenceNum_ReplaysEveryExistingTopic()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 3);
        t.PublishMany("b", 2);

        var connection = await t.ConnectAndSubscribeAsync(Resume("s1", 1, "*"));
        t.Publish("c");

        var messages = connection.All();
        Assert.Equal([2L, 3L], messages.Events().Seqs("a"));
        Assert.Equal([2L], messages.Events().Seqs("b"));
        Assert.Equal([1L], messages.Events().Seqs("c"));
        var confirm = Assert.Single(messages.Confirms());
        Assert.Equal(2, confirm.TopicReplayFrom["a"]);
        Assert.Equal(2, confirm.TopicReplayFrom["b"]);
    }

    [Fact]
    public async Task Subscribe_ResumeFromMap_EachTopicResumesFromItsOwnPoint()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 5);
        t.PublishMany("b", 5);
        var request = Msg.Sub("s1", "a", "b");
        request.ResumeFrom.Add("a", 1);
        request.ResumeFrom.Add("b", 4);

        var connection = await t.ConnectAndSubscribeAsync(request);

        var messages = connection.All();
        Assert.Equal([2L, 3L, 4L, 5L], messages.Events().Seqs("a"));
        Assert.Equal([5L], messages.Events().Seqs("b"));
        var confirm = Assert.Single(messages.Confirms());
        Assert.Equal(2, confirm.TopicReplayFrom["a"]);
        Assert.Equal(5, confirm.TopicReplayFrom["b"]);
        Assert.Equal(2, confirm.ReplayFrom);
    }

    [Fact]
    public async Task Subscribe_ResumeFromAndLastSequenceNum_MapWinsForTopicsItNames()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 5);
        t.PublishMany("b", 5);
        var request = Resume("s1", 3, "a", "b");
        request.ResumeFrom.Add("b", 0);

        var connection = await t.ConnectAndSubscribeAsync(request);

        var events = connection.All().Events();
        Assert.Equal([4L, 5L], events.Seqs("a"));
        Assert.Equal(Drain.Range(1, 5), events.Seqs("b"));
    }

    [Fact]
    public async Task Subscribe_ResumeFromOneTopicOnly_OtherTopicIsLiveOnly()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 5);
        t.PublishMany("b", 5);
        var request = Msg.Sub("s1", "a", "b");
        request.ResumeFrom.Add("a", 3);

        var connection = await t.ConnectAndSubscribeAsync(request);
        t.Publish("b");

        var events = connection.All().Events();
        Assert.Equal([4L, 5L], events.Seqs("a"));
        Assert.Equal([6L], events.Seqs("b"));
    }

    [Fact]
    public async Task Subscribe_ReplayThenLive_NoGapNoDuplicate()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 5);
        var connection = await t.ConnectAndSubscribeAsync(Resume("s1", 0, "a"));

        t.PublishMany("a", 3);

        Assert.Equal(Drain.Range(1, 8), connection.All().Events().Seqs());
    }

    [Fact]
    public async Task Subscribe_ReplayHonoursEventsFilter()
    {
        using var t = new TestBroker();
        t.Publish("a", "job.started");
        t.Publish("a", "run.success");
        t.Publish("a", "job.completed");
        var request = Resume("s1", 0, "a");
        request.Events.Add("job.*");

        var connection = await t.ConnectAndSubscribeAsync(request);

        Assert.Equal([1L, 3L], connection.All().Events().Seqs());
    }

    [Fact]
    public async Task Subscribe_ReplayHonoursSourceJobidAndMetadataFilters()
    {
        using var t = new TestBroker();
        t.Publish("a", source: "job://x/1", jobid: "j1", payloadJson: """{"k": {"v": 1}}""");
        t.Publish("a", source: "gateway://x", jobid: "j1", payloadJson: """{"k": {"v": 1}}""");
        t.Publish("a", source: "job://x/2", jobid: "j2", payloadJson: """{"k": {"v": 1}}""");
        t.Publish("a", source: "job://x/1", jobid: "j1", payloadJson: """{"k": {"v": 2}}""");
        t.Publish("a", source: "job://x/1", jobid: "j1", payloadJson: """{"k": {"v": 1}}""");
        var request = Resume("s1", 0, "a");
        request.Filter = Msg.Filter(include: ["job://*"], jobids: ["j1"],
            metadata: new Dictionary<string, string> { ["k.v"] = "1" });

        var connection = await t.ConnectAndSubscribeAsync(request);

        Assert.Equal([1L, 5L], connection.All().Events().Seqs());
    }

    [Fact]
    public async Task Subscribe_ReplayWithExcludedSource_SkippedEventsNotInFlight()
    {
        using var t = new TestBroker();
        t.Publish("a", source: "noise://1");
        t.Publish("a", source: "keep://1");
        var request = Resume("s1", 0, "a");
        request.Filter = Msg.Filter(exclude: ["noise://*"]);

        var connection = await t.ConnectAndSubscribeAsync(request);

        Assert.Equal([2L], connection.All().Events().Seqs());
        Assert.Equal(1, t.Stats().InFlightEvents);
    }
}
