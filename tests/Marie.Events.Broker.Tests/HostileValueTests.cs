using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>Extreme values a hostile client may send: answered, never wrapped around.</summary>
public sealed class HostileValueTests
{
    [Fact]
    public void GetReplayBuffer_FromLongMaxValue_NothingReturned()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 3);

        var reply = t.Broker.GetReplayBuffer(new ReplayRequest { Topic = "a", FromSequenceNum = long.MaxValue });

        Assert.Empty(reply.Events);
        Assert.False(reply.HasMore);
        Assert.Equal(3, reply.TopicHead);
    }

    [Fact]
    public async Task CumulativeAck_ExtremeSequences_NoErrorAllOrNothingSettled()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s", "a");
        t.PublishMany("a", 3);
        connection.All();

        var low = await connection.SendAndDrainAsync(Msg.AckUpTo("s", "a", long.MinValue));
        var inFlightAfterLow = t.Stats().InFlightEvents;
        var high = await connection.SendAndDrainAsync(Msg.AckUpTo("s", "a", long.MaxValue));

        Assert.Empty(low.Errors());
        Assert.Equal(3, inFlightAfterLow);
        Assert.Empty(high.Errors());
        Assert.Equal(0, t.Stats().InFlightEvents);
    }

    [Fact]
    public async Task Subscribe_LastSequenceLongMaxValue_EpochChangedReplayFromStart()
    {
        using var t = new TestBroker();
        t.PublishMany("a", 2);
        var connection = t.Connect();
        var request = Msg.Sub("s", "a");
        request.LastSequenceNum = long.MaxValue;

        var messages = await connection.SendAndDrainAsync(Msg.Subscribe(request));

        Assert.Equal(ErrorCode.ErrorEpochChanged, Assert.Single(messages.Errors()).Code);
        Assert.Equal([1L, 2L], messages.Events().Seqs());
    }
}
