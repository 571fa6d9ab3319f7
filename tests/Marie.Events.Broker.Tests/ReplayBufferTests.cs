using Google.Protobuf.WellKnownTypes;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>The unary GetReplayBuffer.</summary>
public sealed class ReplayBufferTests
{
    private static ReplayRequest Request(string topic, long from = 0, int max = 0)
        => new() { Topic = topic, FromSequenceNum = from, MaxEvents = max };

    [Fact]
    public void GetReplayBuffer_FromSequence_ReturnsLaterEventsHeadAndEpoch()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 10);

        var response = t.Broker.GetReplayBuffer(Request("a", from: 3));

        Assert.Equal(Drain.Range(4, 10), response.Events.Seqs());
        Assert.Equal(10, response.TopicHead);
        Assert.False(response.HasMore);
        Assert.Equal(t.Epoch("a"), response.Epoch);
    }

    [Fact]
    public void GetReplayBuffer_Envelopes_NoAckIdAttemptZeroNoSubscription()
    {
        using var t = new TestBroker();
        t.Advance(TimeSpan.FromSeconds(3));
        var published = t.Publish("a", "extract.completed", "job://extract.completed/j1", "j1", """{"n": 1}""");

        var envelope = Assert.Single(t.Broker.GetReplayBuffer(Request("a")).Events);

        Assert.Equal("", envelope.AckId);
        Assert.Equal(0, envelope.DeliveryAttempt);
        Assert.Equal("", envelope.SubscriptionId);
        Assert.Equal(1, envelope.SequenceNum);
        Assert.Equal(published.Id, envelope.Event.Id);
        Assert.Equal("extract.completed", envelope.Event.Event);
        Assert.Equal("j1", envelope.Event.Jobid);
        Assert.Equal(Timestamp.FromDateTimeOffset(TestBroker.StartTime.AddSeconds(3)), envelope.PublishedAt);
    }

    [Fact]
    public void GetReplayBuffer_MaxEventsZero_DefaultsTo100()
    {
        using var t = new TestBroker(o => o.ReplaySize = 200);
        t.PublishMany("a", 150);

        var response = t.Broker.GetReplayBuffer(Request("a"));

        Assert.Equal(Drain.Range(1, 100), response.Events.Seqs());
        Assert.True(response.HasMore);
    }

    [Fact]
    public void GetReplayBuffer_MaxEventsZero_UsesConfiguredDefault()
    {
        using var t = new TestBroker(o => o.DefaultReplayMaxEvents = 7);
        t.PublishMany("a", 20);

        var response = t.Broker.GetReplayBuffer(Request("a", from: 2));

        Assert.Equal(Drain.Range(3, 9), response.Events.Seqs());
        Assert.True(response.HasMore);
    }

    [Fact]
    public void GetReplayBuffer_MaxEventsZeroFewerThanDefault_AllAndNoMore()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 5);

        var response = t.Broker.GetReplayBuffer(Request("a"));

        Assert.Equal(5, response.Events.Count);
        Assert.False(response.HasMore);
    }

    [Theory]
    [InlineData(0L, 9, 9, true)]
    [InlineData(0L, 10, 10, false)]
    [InlineData(0L, 11, 10, false)]
    [InlineData(5L, 4, 4, true)]
    [InlineData(5L, 5, 5, false)]
    [InlineData(9L, 1, 1, false)]
    [InlineData(10L, 1, 0, false)]
    [InlineData(25L, 3, 0, false)]
    public void GetReplayBuffer_HasMore_TrueOnlyWhenEventsRemainAfterLastReturned(
        long from,
        int max,
        int expectedCount,
        bool expectedHasMore)
    {
        using var t = new TestBroker();
        t.PublishMany("a", 10);

        var response = t.Broker.GetReplayBuffer(Request("a", from, max));

        Assert.Equal(expectedCount, response.Events.Count);
        Assert.Equal(expectedHasMore, response.HasMore);
        if (expectedCount > 0) Assert.Equal(from + 1, response.Events[0].SequenceNum);
    }

    [Fact]
    public void GetReplayBuffer_Paging_WalksWholeRingWithoutGap()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 23);
        var seen = new List<long>();
        var from = 0L;

        for (var page = 0; page < 10; page++)
        {
            var response = t.Broker.GetReplayBuffer(Request("a", from, 5));
            seen.AddRange(response.Events.Seqs());
            if (!response.HasMore) break;
            from = response.Events[^1].SequenceNum;
        }

        Assert.Equal(Drain.Range(1, 23), seen);
    }

    [Fact]
    public void GetReplayBuffer_RingWrapped_OnlyWhatIsLeft()
    {
        using var t = new TestBroker(o => o.ReplaySize = 5);
        t.PublishMany("a", 12);

        var response = t.Broker.GetReplayBuffer(Request("a"));

        Assert.Equal(Drain.Range(8, 12), response.Events.Seqs());
        Assert.Equal(12, response.TopicHead);
        Assert.False(response.HasMore);
    }

    [Fact]
    public void GetReplayBuffer_UnknownTopic_EmptyHeadZeroNoMore()
    {
        using var t = new TestBroker();
        t.Publish("a");

        var response = t.Broker.GetReplayBuffer(Request("unknown", 0, 10));

        Assert.Empty(response.Events);
        Assert.Equal(0, response.TopicHead);
        Assert.False(response.HasMore);
        Assert.Equal(1, t.Stats().Topics);
    }

    [Fact]
    public void GetReplayBuffer_DoesNotCreateInFlightOrDeliveries()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 3);

        t.Broker.GetReplayBuffer(Request("a"));

        Assert.Equal(0, t.Stats().InFlightEvents);
        Assert.Equal(0, t.Stats().EventsDelivered);
    }

    [Fact]
    public void GetReplayBuffer_EmptyTopic_Throws()
    {
        using var t = new TestBroker();

        Assert.ThrowsAny<ArgumentException>(() => t.Broker.GetReplayBuffer(Request("")));
    }

    [Fact]
    public void GetReplayBuffer_NegativeFrom_Throws()
    {
        using var t = new TestBroker();
        t.Publish("a");

        Assert.ThrowsAny<ArgumentException>(() => t.Broker.GetReplayBuffer(Request("a", from: -1)));
    }

    [Fact]
    public void GetReplayBuffer_NegativeMax_Throws()
    {
        using var t = new TestBroker();
        t.Publish("a");

        Assert.ThrowsAny<ArgumentException>(() => t.Broker.GetReplayBuffer(Request("a", max: -1)));
    }
}
