using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ClientMessage;

namespace Marie.Events.Client.Tests.Unit;

/// <summary>Ack batching and flushing, on the in-memory transport with fake time.</summary>
public sealed class ClientAckTests
{
    [Fact]
    public async Task AutoAck_ProcessedEvents_SentAsOneCumulativeAckAfterFlushInterval()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await harness.SubscribeAsync();
        for (var s = 1; s <= 4; s++)
        {
            connection.Reply(ClientHarness.Event("s1", "t", s));
        }

        await using var reader = subscription.GetAsyncEnumerator();
        for (var i = 0; i < 4; i++)
        {
            Assert.True(await reader.NextAsync());
        }

        // Asking for the fourth event completed the third; the flush timer was armed with the first ack.
        Assert.DoesNotContain(connection.DrainSent(), m => m.MessageCase == MessageOneofCase.Ack);

        harness.Time.AdvanceInSteps(harness.Options.AckFlushInterval);
        var ack = (await connection.NextSentAsync(MessageOneofCase.Ack)).Ack;

        Assert.Equal(3, ack.Cumulative.UpToSequenceNum);
        Assert.Equal("t", ack.Cumulative.Topic);
        Assert.Equal("s1", ack.SubscriptionId);
        Assert.Equal(3, subscription.GetResumePoints()["t"].SequenceNum);
    }

    [Fact]
    public async Task AutoAck_BatchSizeReached_SentWithoutWaitingForTheTimer()
    {
        await using var harness = new ClientHarness(o => o.AckBatchSize = 4);
        var (subscription, connection) = await harness.SubscribeAsync();
        for (var s = 1; s <= 5; s++)
        {
            connection.Reply(ClientHarness.Event("s1", "t", s));
        }

        await using var reader = subscription.GetAsyncEnumerator();
        for (var i = 0; i < 5; i++)
        {
            Assert.True(await reader.NextAsync());
        }

        // Four processed (the fifth is with the consumer): a full batch, no time advanced.
        var ack = (await connection.NextSentAsync(MessageOneofCase.Ack)).Ack;

        Assert.Equal(4, ack.Cumulative.UpToSequenceNum);
    }

    [Fact]
    public async Task ManualAck_OutOfOrder_IndividualThenCumulative()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await harness.SubscribeAsync(configure: o => o.AckMode = AckMode.Manual);
        for (var s = 1; s <= 3; s++)
        {
            connection.Reply(ClientHarness.Event("s1", "t", s));
        }

        var events = new List<ReceivedEvent>();
        await using (var reader = subscription.GetAsyncEnumerator())
        {
            for (var i = 0; i < 3; i++)
            {
                Assert.True(await reader.NextAsync());
                events.Add(reader.Current);
            }
        }

        await events[2].AckAsync();
        await subscription.FlushAcksAsync();
        var individual = (await connection.NextSentAsync(MessageOneofCase.Ack)).Ack;
        await events[0].AckAsync();
        await events[1].AckAsync();
        await subscription.FlushAcksAsync();
        var cumulative = (await connection.NextSentAsync(MessageOneofCase.Ack)).Ack;

        Assert.Equal(new[] { "t-3-ack" }, individual.Individual.AckIds.ToArray());
        Assert.Equal(3, cumulative.Cumulative.UpToSequenceNum);
        Assert.Equal(3, subscription.GetResumePoints()["t"].SequenceNum);
    }

    [Fact]
    public async Task ManualAck_NeverAcked_NothingSentAndResumePointStays()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await harness.SubscribeAsync(
            head: 10,
            configure: o => o.AckMode = AckMode.Manual);
        connection.Reply(ClientHarness.Event("s1", "t", 11));
        await using var reader = subscription.GetAsyncEnumerator();
        Assert.True(await reader.NextAsync());

        harness.Time.AdvanceInSteps(TimeSpan.FromSeconds(1));
        await subscription.FlushAcksAsync();

        Assert.DoesNotContain(connection.DrainSent(), m => m.MessageCase == MessageOneofCase.Ack);
        Assert.Equal(10, subscription.GetResumePoints()["t"].SequenceNum);
    }

    [Fact]
    public async Task HandlerThrows_EventHandedOverAgainOnRedeliveryThenAcked()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await harness.SubscribeAsync();
        var attempts = new List<int>();
        var handled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var subscribing = harness.Client.SubscribeAsync(
            new SubscriptionOptions { SubscriptionId = "h1", Topics = { "h" } },
            (e, _) =>
            {
                lock (attempts)
                {
                    attempts.Add(e.DeliveryAttempt);
                }

                if (e.DeliveryAttempt == 1)
                {
                    throw new InvalidOperationException("first attempt fails");
                }

                handled.TrySetResult();
                return ValueTask.CompletedTask;
            });

        // The handler subscription is confirmed on the same stream.
        var subscribe = await connection.NextSentAsync(MessageOneofCase.Subscribe);
        Assert.Equal("h1", subscribe.Subscribe.SubscriptionId);
        connection.Reply(ClientHarness.Confirm("h1", "h", "e", 0));
        var handlerSubscription = await subscribing.WaitAsync(Wait.Timeout);
        connection.Reply(ClientHarness.Event("h1", "h", 1, attempt: 1));
        await Wait.UntilAsync(
            () => handlerSubscription.StateOf("h", 1) == Internal.PendingState.Abandoned,
            "the failed event abandoned");
        connection.Reply(ClientHarness.Event("h1", "h", 1, attempt: 2));
        await handled.Task.WaitAsync(Wait.Timeout);
        await Wait.UntilAsync(() => handlerSubscription.StateOf("h", 1) is null, "the event processed");
        await subscription.FlushAcksAsync();
        var ack = (await connection.NextSentAsync(MessageOneofCase.Ack)).Ack;

        Assert.Equal(new[] { 1, 2 }, attempts);
        Assert.Equal("h1", ack.SubscriptionId);
        Assert.Equal(1, ack.Cumulative.UpToSequenceNum);
    }
}
