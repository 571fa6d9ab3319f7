namespace Marie.Events.Gateway.Tests;

/// <summary>Pipelined lanes: a backend that takes several appends of a topic at once gets them, in order.</summary>
public sealed class GrpcToastHandlerPipelineTests
{
    [Fact]
    public async Task Lane_BackendTakesFourInFlight_FourAppendsOfTheTopicHeldAtOnceThenAllFiled()
    {
        using var rig = new HandlerRig();
        rig.Sink.MaxAppendsInFlight = 4;
        rig.Sink.Hold();
        var receipts = new List<Task<Marie.Events.Broker.PublishResult>>();
        for (var i = 0; i < 4; i++)
        {
            receipts.Add((await rig.AcceptAsync(TestEvents.Make(id: $"e{i}"))).Filed!);
            var held = i + 1;
            // Each event starts its own append while the earlier ones are still in flight.
            Waiting.Until(() => rig.Sink.Held == held, $"{held} appends in flight");
        }

        for (var i = 4; i < 10; i++)
        {
            receipts.Add((await rig.AcceptAsync(TestEvents.Make(id: $"e{i}"))).Filed!);
        }

        // The pipeline is full: the fifth and later events wait for room.
        Assert.Equal(4, rig.Sink.Held);
        Assert.Equal(4, rig.Sink.AttemptCount + rig.Sink.Held);
        rig.Sink.Release();
        var results = await Waiting.For(Task.WhenAll(receipts));
        Assert.Equal(Enumerable.Range(1, 10).Select(n => (long)n), results.Select(r => r.SequenceNum).Order());
        Assert.Equal(10, rig.Sink.Filed.Count);
    }

    [Fact]
    public async Task Lane_BackendTakesOneAtATime_SecondAppendWaitsForTheFirst()
    {
        using var rig = new HandlerRig();
        rig.Sink.Hold();
        var first = (await rig.AcceptAsync(TestEvents.Make(id: "a"))).Filed!;
        Waiting.Until(() => rig.Sink.Held == 1, "the first append in flight");
        var second = (await rig.AcceptAsync(TestEvents.Make(id: "b"))).Filed!;
        Assert.Equal(1, rig.Sink.Held);
        rig.Sink.Release();
        Assert.Equal(1, (await Waiting.For(first)).SequenceNum);
        Assert.Equal(2, (await Waiting.For(second)).SequenceNum);
    }
}
