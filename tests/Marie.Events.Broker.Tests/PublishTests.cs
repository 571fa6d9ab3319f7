using System.Text.RegularExpressions;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>Topics, sequence numbers, heads, ids, timestamps, epochs, storage (semantics.md first bullet).</summary>
public sealed partial class PublishTests
{
    [GeneratedRegex("^[0-9a-fA-F]{32}$")]
    private static partial Regex HexId32();

    [GeneratedRegex("^[0-9a-f]{16}$")]
    private static partial Regex Epoch16();

    [Fact]
    public void Publish_FirstEventsOfTopic_SequenceStartsAtOne()
    {
        using var t = new TestBroker();

        var results = t.PublishMany("a", 3);

        Assert.Equal([1L, 2L, 3L], results.Select(r => r.SequenceNum));
        Assert.All(results, r => Assert.Equal("a", r.Topic));
    }

    [Fact]
    public void Publish_TwoTopics_SequencesAreIndependentPerTopic()
    {
        using var t = new TestBroker();

        var a1 = t.Publish("a");
        var b1 = t.Publish("b");
        var a2 = t.Publish("a");
        var b2 = t.Publish("b");
        var b3 = t.Publish("b");

        Assert.Equal((1L, 2L), (a1.SequenceNum, a2.SequenceNum));
        Assert.Equal((1L, 2L, 3L), (b1.SequenceNum, b2.SequenceNum, b3.SequenceNum));
        var stats = t.Stats();
        Assert.Equal(2, stats.TopicStats["a"].Head);
        Assert.Equal(3, stats.TopicStats["b"].Head);
    }

    [Fact]
    public void GetReplayBuffer_TopicWithNoEvents_HeadIsZero()
    {
        using var t = new TestBroker();

        var response = t.Broker.GetReplayBuffer(new ReplayRequest { Topic = "nothing-yet" });

        Assert.Equal(0, response.TopicHead);
    }

    [Fact]
    public void Publish_EmptyApiKey_ThrowsArgumentException()
    {
        using var t = new TestBroker();

        Assert.ThrowsAny<ArgumentException>(() => t.Publish(Ev.Make("")));
        Assert.Empty(t.Stats().TopicStats);
    }

    [Fact]
    public async Task Publish_EmptyId_GetsUnique32HexId()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");

        var first = t.Publish("a");
        var second = t.Publish("a");

        Assert.Matches(HexId32(), first.Id);
        Assert.Matches(HexId32(), second.Id);
        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal([first.Id, second.Id], connection.All().Events().Select(e => e.Event.Id));
    }

    [Fact]
    public async Task Publish_GivenId_IsKept()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        var evt = Ev.Make("a");
        evt.Id = "producer-chosen-id";

        var result = t.Publish(evt);

        Assert.Equal("producer-chosen-id", result.Id);
        Assert.Equal("producer-chosen-id", Assert.Single(connection.All().Events()).Event.Id);
    }

    [Fact]
    public async Task Publish_ZeroTimestamp_SetToNowInUnixSeconds()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.AdvanceSeconds(7);

        t.Publish("a");

        var envelope = Assert.Single(connection.All().Events());
        Assert.Equal(TestBroker.StartTime.AddSeconds(7).ToUnixTimeSeconds(), envelope.Event.Timestamp);
    }

    [Fact]
    public async Task Publish_GivenTimestamp_IsKept()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        var evt = Ev.Make("a");
        evt.Timestamp = 1_600_000_000;

        t.Publish(evt);

        Assert.Equal(1_600_000_000, Assert.Single(connection.All().Events()).Event.Timestamp);
    }

    [Fact]
    public async Task Publish_Any_PublishedAtIsBrokerTimeAtPublish()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.Advance(TimeSpan.FromMilliseconds(1500));

        t.Publish("a");

        var envelope = Assert.Single(connection.All().Events());
        Assert.Equal(Timestamp.FromDateTimeOffset(TestBroker.StartTime.AddMilliseconds(1500)), envelope.PublishedAt);
    }

    [Fact]
    public async Task Publish_TwoSubscribers_BothGetSameEventContentStoredOnce()
    {
        using var t = new TestBroker();
        var first = await t.ConnectAndSubscribeAsync("s1", "a");
        var second = await t.ConnectAndSubscribeAsync("s2", "a");
        var evt = Ev.Make("a", "extract.completed", "job://extract.completed/j1", "j1", """{"pages": 3}""");
        var expected = evt.Clone();

        var result = t.Publish(evt);

        var e1 = Assert.Single(first.All().Events());
        var e2 = Assert.Single(second.All().Events());
        expected.Id = result.Id;
        expected.Timestamp = e1.Event.Timestamp;
        Assert.Equal(expected, e1.Event);
        Assert.Equal(e1.Event, e2.Event);
        Assert.Equal(e1.SequenceNum, e2.SequenceNum);
        Assert.Equal(e1.PublishedAt, e2.PublishedAt);
        Assert.Equal(1, t.Stats().TopicStats["a"].Buffered);
    }

    [Fact]
    public void Publish_NewTopic_EpochIs16LowercaseHexAndStable()
    {
        using var t = new TestBroker();

        t.Publish("a");
        var epoch = t.Epoch("a");
        t.PublishMany("a", 5);

        Assert.Matches(Epoch16(), epoch);
        Assert.Equal(epoch, t.Epoch("a"));
        Assert.Equal(epoch, t.Broker.GetReplayBuffer(new ReplayRequest { Topic = "a" }).Epoch);
    }

    [Fact]
    public void Publish_TwoBrokers_EpochsDiffer()
    {
        using var first = new TestBroker();
        using var second = new TestBroker();

        first.Publish("a");
        second.Publish("a");

        Assert.NotEqual(first.Epoch("a"), second.Epoch("a"));
    }

    [Fact]
    public void Publish_MoreThanReplaySize_RingKeepsOnlyReplaySize()
    {
        using var t = new TestBroker(o => o.ReplaySize = 5);

        t.PublishMany("a", 12);

        var stats = t.Stats().TopicStats["a"];
        Assert.Equal(12, stats.Head);
        Assert.Equal(5, stats.Buffered);
        var replay = t.Broker.GetReplayBuffer(new ReplayRequest { Topic = "a" });
        Assert.Equal(Drain.Range(8, 12), replay.Events.Seqs());
    }
}
