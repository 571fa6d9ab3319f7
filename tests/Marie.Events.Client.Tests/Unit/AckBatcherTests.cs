using Marie.Events.Client.Internal;
using Marie.Events.Protocol;

namespace Marie.Events.Client.Tests.Unit;

public sealed class AckBatcherTests
{
    [Fact]
    public void Take_CumulativeAcksOfOneTopic_OneMessageWithHighest()
    {
        var batcher = new AckBatcher(batchSize: 100);
        batcher.Add("s1", new AckAction(1, "t", 1, 1, null));
        batcher.Add("s1", new AckAction(1, "t", 3, 3, null));
        batcher.Add("s1", new AckAction(1, "t", 2, 2, null));

        var (messages, events) = batcher.Take();

        var ack = Assert.Single(messages).Ack;
        Assert.Equal(AckMessage.AckModeOneofCase.Cumulative, ack.AckModeCase);
        Assert.Equal("t", ack.Cumulative.Topic);
        Assert.Equal(3, ack.Cumulative.UpToSequenceNum);
        Assert.Equal(3, events);
        Assert.Equal(0, batcher.Count);
    }

    [Fact]
    public void Take_IndividualCoveredByCumulative_Dropped()
    {
        var batcher = new AckBatcher(batchSize: 100);
        batcher.Add("s1", new AckAction(1, "t", 5, 0, "a5"));
        batcher.Add("s1", new AckAction(1, "t", 9, 0, "a9"));
        batcher.Add("s1", new AckAction(1, "t", 6, 6, null));
        batcher.Add("s1", new AckAction(1, "u", 2, 0, "u2"));

        var (messages, _) = batcher.Take();

        Assert.Equal(2, messages.Count);
        Assert.Equal(6, messages[0].Ack.Cumulative.UpToSequenceNum);
        Assert.Equal(new[] { "a9", "u2" }, messages[1].Ack.Individual.AckIds.ToArray());
    }

    [Fact]
    public void Take_TwoSubscriptions_SeparateMessages()
    {
        var batcher = new AckBatcher(batchSize: 100);
        batcher.Add("s1", new AckAction(1, "t", 1, 1, null));
        batcher.Add("s2", new AckAction(1, "t", 1, 1, null));
        batcher.Add("s2", new AckAction(1, "t", 4, 0, "x"));

        var (messages, _) = batcher.Take();

        Assert.Equal(3, messages.Count);
        Assert.Equal(new[] { "s1", "s2", "s2" }, messages.Select(m => m.Ack.SubscriptionId).ToArray());
    }

    [Fact]
    public void Add_ReachesBatchSize_ReportsFullAndFirst()
    {
        var batcher = new AckBatcher(batchSize: 3);

        var first = batcher.Add("s1", new AckAction(1, "t", 1, 1, null));
        var second = batcher.Add("s1", new AckAction(1, "t", 2, 2, null));
        var third = batcher.Add("s1", new AckAction(1, "t", 3, 3, null));

        Assert.Equal((false, true), first);
        Assert.Equal((false, false), second);
        Assert.True(third.Full);
    }

    [Fact]
    public void Take_Empty_NoMessages()
    {
        var (messages, events) = new AckBatcher(10).Take();

        Assert.Empty(messages);
        Assert.Equal(0, events);
    }
}
