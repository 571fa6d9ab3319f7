using Marie.Events.Client.Tests.Infrastructure;

namespace Marie.Events.Client.Tests.Unit;

/// <summary>The hand-over from the stream's reader to the consumer: events the stream has ready at once (one burst),
/// more than the buffer holds, and a consumer waiting when they arrive.</summary>
public sealed class ClientHandOverTests
{
    [Fact]
    public async Task ReadAll_BurstLargerThanBuffer_EveryEventHandedOverOnceInOrder()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await harness.SubscribeAsync(configure: o => o.BufferCapacity = 4);
        const int events = 200;
        for (var i = 1; i <= events; i++)
        {
            connection.Reply(ClientHarness.Event("s1", "t", i));
        }

        var seen = new List<long>();
        using var cts = new CancellationTokenSource(Wait.Timeout);
        await foreach (var received in subscription.WithCancellation(cts.Token))
        {
            seen.Add(received.SequenceNum);
            if (seen.Count == events)
            {
                break;
            }
        }

        Assert.Equal(Enumerable.Range(1, events).Select(i => (long)i), seen);
        Assert.Equal(events, harness.Client.Statistics.EventsDelivered);
    }

    [Fact]
    public async Task ReadAll_ConsumerStartedBeforeEvents_WokenAndProcessedUpToLast()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await harness.SubscribeAsync();
        var seen = new List<long>();
        var reading = Task.Run(async () =>
        {
            await foreach (var received in subscription)
            {
                seen.Add(received.SequenceNum);
                if (seen.Count == 3)
                {
                    await received.AckAsync();
                    break;
                }
            }
        });

        connection.Reply(ClientHarness.Event("s1", "t", 1));
        connection.Reply(ClientHarness.Event("s1", "t", 2));
        connection.Reply(ClientHarness.Event("s1", "t", 3));
        await reading.WaitAsync(Wait.Timeout);

        Assert.Equal([1L, 2L, 3L], seen);
        Assert.Equal(3, subscription.GetResumePoints()["t"].SequenceNum);
    }

    [Fact]
    public async Task ReadAll_Cancelled_WhileWaitingForAnEvent_Throws()
    {
        await using var harness = new ClientHarness();
        var (subscription, _) = await harness.SubscribeAsync();
        using var cts = new CancellationTokenSource();
        var reading = Task.Run(async () =>
        {
            await foreach (var _ in subscription.WithCancellation(cts.Token))
            {
            }
        });

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading.WaitAsync(Wait.Timeout));
    }
}
