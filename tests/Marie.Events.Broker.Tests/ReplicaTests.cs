using Google.Protobuf.WellKnownTypes;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>Cluster mode's entry points: events stored at sequence numbers assigned by the shared log.</summary>
public sealed class ReplicaTests
{
    private const string SharedEpoch = "00112233445566aa";

    private static readonly Timestamp PublishedAt = Timestamp.FromDateTimeOffset(TestBroker.StartTime);

    private static ReplicaOutcome Apply(TestBroker t, long sequence, string epoch = SharedEpoch, bool allowGap = false, string topic = "a") =>
        t.Broker.ApplyReplicated(topic, epoch, sequence, Ev.Make(topic), PublishedAt, allowGap);

    [Fact]
    public async Task ApplyReplicated_InOrder_DeliveredAtTheGivenSequenceWithTheSharedEpoch()
    {
        using var t = new TestBroker();
        t.Broker.UseSharedLog();
        var connection = await t.ConnectAndSubscribeAsync(Msg.Sub("s1", "a"));
        var confirm = Assert.Single(connection.All().Confirms());
        // Created by the subscription before its first event: no epoch yet.
        Assert.Equal("", confirm.TopicEpochs["a"]);

        Assert.Equal(ReplicaOutcome.Applied, Apply(t, 1));
        Assert.Equal(ReplicaOutcome.Applied, Apply(t, 2));

        Assert.Equal(Drain.Range(1, 2), connection.All().Events().Seqs());
        Assert.Equal(new TopicPosition(SharedEpoch, 2), t.Broker.GetTopicPosition("a"));
    }

    [Fact]
    public void ApplyReplicated_HeldOrAheadOfHead_NotStored()
    {
        using var t = new TestBroker();
        Assert.Equal(ReplicaOutcome.Applied, Apply(t, 1));

        Assert.Equal(ReplicaOutcome.AlreadyHeld, Apply(t, 1));
        Assert.Equal(ReplicaOutcome.Gap, Apply(t, 3));
        Assert.Equal(1, t.Broker.GetTopicPosition("a")!.Value.Head);
    }

    [Fact]
    public async Task ApplyReplicated_AllowGap_SkippedNumbersReadAsLost()
    {
        using var t = new TestBroker();
        Apply(t, 1);
        Assert.Equal(ReplicaOutcome.Applied, Apply(t, 3, allowGap: true));

        var request = Msg.Sub("s1", "a");
        request.ResumeFrom["a"] = 0;
        var connection = await t.ConnectAndSubscribeAsync(request);

        var messages = connection.All();
        Assert.Equal([1L, 3L], messages.Events().Seqs());
        var lost = Assert.Single(messages.Errors());
        Assert.Equal(ErrorCode.ErrorEventsLost, lost.Code);
        Assert.Equal("2", lost.Details["first_missed"]);
    }

    [Fact]
    public async Task ResetTopic_AfterEpochChange_NewEmptyRingAndSubscribedConnectionsClosed()
    {
        using var t = new TestBroker();
        Apply(t, 1);
        Apply(t, 2);
        var subscribed = await t.ConnectAndSubscribeAsync(Msg.Sub("s1", "a"));
        Assert.Equal(ReplicaOutcome.EpochChanged, Apply(t, 1, epoch: "ffffffffffffffff"));

        Assert.Equal(1, t.Broker.ResetTopic("a", "ffffffffffffffff"));

        // Closed: its queue is completed, so its stream ends and the client resumes elsewhere or again.
        Assert.False(await subscribed.WaitToReadAsync());
        Assert.Equal(new TopicPosition("ffffffffffffffff", 0), t.Broker.GetTopicPosition("a"));
        Assert.Equal(ReplicaOutcome.Applied, Apply(t, 1, epoch: "ffffffffffffffff"));
    }
}
