using Marie.Events.Broker.Connections;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>replay_count (cap to the most recent, alone, zero) and negative replay arguments.</summary>
public sealed class ReplayCountTests
{
    private static SubscribeRequest Request(long? lastSequenceNum, int? replayCount, params string[] topics)
    {
        var request = Msg.Sub("s1", topics);
        if (lastSequenceNum is { } n) request.LastSequenceNum = n;
        if (replayCount is { } k) request.ReplayCount = k;
        return request;
    }

    [Fact]
    public async Task Subscribe_ReplayCountWithResumePoint_CapsToMostRecent()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 10);

        var connection = await t.ConnectAndSubscribeAsync(Request(0, 3, "a"));

        var messages = connection.All();
        Assert.Equal([8L, 9L, 10L], messages.Events().Seqs());
        Assert.Equal(8, Assert.Single(messages.Confirms()).ReplayFrom);
        Assert.Empty(messages.Errors());
    }

    [Fact]
    public async Task Subscribe_ReplayCountLargerThanReplaySet_ReplaysWholeSet()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 10);

        var connection = await t.ConnectAndSubscribeAsync(Request(7, 50, "a"));

        Assert.Equal([8L, 9L, 10L], connection.All().Events().Seqs());
    }

    [Fact]
    public async Task Subscribe_ReplayCountAlone_ReplaysLastKPerTopic()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 10);
        t.PublishMany("b", 2);

        var connection = await t.ConnectAndSubscribeAsync(Request(null, 3, "a", "b"));

        var messages = connection.All();
        Assert.Equal([8L, 9L, 10L], messages.Events().Seqs("a"));
        Assert.Equal([1L, 2L], messages.Events().Seqs("b"));
        var confirm = Assert.Single(messages.Confirms());
        Assert.Equal(8, confirm.TopicReplayFrom["a"]);
        Assert.Equal(1, confirm.TopicReplayFrom["b"]);
        Assert.Equal(1, confirm.ReplayFrom);
        Assert.Equal(10, confirm.CurrentHead);
    }

    [Fact]
    public async Task Subscribe_ReplayCountAloneThenLive_NoGapNoDuplicate()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 10);
        var connection = await t.ConnectAndSubscribeAsync(Request(null, 2, "a"));

        t.PublishMany("a", 2);

        Assert.Equal([9L, 10L, 11L, 12L], connection.All().Events().Seqs());
    }

    [Fact]
    public async Task Subscribe_ReplayCountCountsFilteredEvents()
    {
        using var t = new TestBroker();
        for (var i = 0; i < 5; i++)
        {
            t.Publish("a", "wanted");
            t.Publish("a", "noise");
        }
        var request = Request(0, 2, "a");
        request.Events.Add("wanted");

        var connection = await t.ConnectAndSubscribeAsync(request);

        Assert.Equal([7L, 9L], connection.All().Events().Seqs());
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(null)]
    public async Task Subscribe_ReplayCountZero_NoReplay(long? lastSequenceNum)
    {
        using var t = new TestBroker();
        t.PublishMany("a", 10);

        var connection = await t.ConnectAndSubscribeAsync(Request(lastSequenceNum, 0, "a"));
        t.Publish("a");

        var messages = connection.All();
        Assert.Equal(0, Assert.Single(messages.Confirms()).ReplayFrom);
        Assert.Equal([11L], messages.Events().Seqs());
        Assert.Empty(messages.Errors());
    }

    [Fact]
    public async Task Subscribe_NegativeReplayCount_InvalidRequestNoSubscription()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 3);

        var connection = await t.ConnectAndSubscribeAsync(Request(null, -1, "a"));

        await AssertRejectedAsync(t, connection);
    }

    [Fact]
    public async Task Subscribe_NegativeLastSequenceNum_InvalidRequestNoSubscription()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 3);

        var connection = await t.ConnectAndSubscribeAsync(Request(-1, null, "a"));

        await AssertRejectedAsync(t, connection);
    }

    [Fact]
    public async Task Subscribe_NegativeResumeFrom_InvalidRequestNoSubscription()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 3);
        var request = Request(null, null, "a");
        request.ResumeFrom.Add("a", -5);

        var connection = await t.ConnectAndSubscribeAsync(request);

        await AssertRejectedAsync(t, connection);
    }

    private static async Task AssertRejectedAsync(TestBroker t, BrokerConnection connection)
    {
        var messages = connection.All();
        Assert.Equal(ErrorCode.ErrorInvalidRequest, Assert.Single(messages.Errors()).Code);
        Assert.Empty(messages.Confirms());
        Assert.Empty(messages.Events());
        Assert.Equal(0, t.Stats().Subscriptions);
        t.Publish("a");
        Assert.Empty(connection.All());
        var retry = await connection.SendAndDrainAsync(Msg.Subscribe("s1", "a"));
        Assert.Single(retry.Confirms());
    }
}
