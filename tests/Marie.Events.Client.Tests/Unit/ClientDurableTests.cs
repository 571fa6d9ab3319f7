using Grpc.Core;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ClientMessage;

namespace Marie.Events.Client.Tests.Unit;

/// <summary>Durable subscriptions and consumer groups in the client, on the in-memory transport: the options on the
/// wire, resubscribing without resume points, acks and de-duplication of a member's deliveries.</summary>
public sealed class ClientDurableTests
{
    private static void Durable(SubscriptionOptions options)
    {
        options.DurableName = "worker";
        options.Group = "pool";
    }

    /// <summary>Breaks the stream and returns the next one with the resubscribe it sent.</summary>
    private static async Task<(FakeConnection Connection, SubscribeRequest Subscribe)> ReconnectAsync(
        ClientHarness harness, FakeConnection connection)
    {
        connection.Fail(StatusCode.Unavailable);
        await harness.Time.WaitForTimerAsync(harness.Options.ReconnectInitialDelay);
        harness.Time.AdvanceInSteps(harness.Options.ReconnectInitialDelay);
        var next = await harness.Transport.NextAsync();
        return (next, (await next.NextSentAsync(MessageOneofCase.Subscribe)).Subscribe);
    }

    [Fact]
    public async Task SubscribeAsync_GroupWithoutDurableName_ArgumentExceptionBeforeAnyCall()
    {
        await using var harness = new ClientHarness();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => harness.Client.SubscribeAsync(
            new SubscriptionOptions { Topics = { "t" }, Group = "pool" }));

        Assert.Contains("SubscriptionOptions.Group", error.Message, StringComparison.Ordinal);
        Assert.Contains("SubscriptionOptions.DurableName", error.Message, StringComparison.Ordinal);
        Assert.False(harness.Transport.TryNext(out _));
    }

    [Fact]
    public async Task SubscribeAsync_DurableAndGroup_SentAndEchoedOnTheSubscription()
    {
        await using var harness = new ClientHarness();
        var subscribing = harness.Client.SubscribeAsync(new SubscriptionOptions
        {
            SubscriptionId = "s1", Topics = { "t" }, DurableName = "worker", Group = "pool",
        });
        var connection = await harness.Transport.NextAsync();
        var sent = (await connection.NextSentAsync(MessageOneofCase.Subscribe)).Subscribe;
        var confirm = ClientHarness.Confirm("s1", "t", "epoch-1", head: 0);
        confirm.SubscriptionConfirm.DurableName = "worker";
        confirm.SubscriptionConfirm.Group = "pool";
        connection.Reply(confirm);
        var subscription = await subscribing.WaitAsync(Wait.Timeout);

        Assert.Equal(("worker", "pool"), (sent.DurableName, sent.Group));
        Assert.Equal(("worker", "pool"), (subscription.DurableName, subscription.Group));
    }

    [Fact]
    public async Task Reconnect_Durable_ResubscribesWithoutResumePoints()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await harness.SubscribeAsync(head: 0, configure: o =>
        {
            Durable(o);
            o.ResumeFrom["t"] = 0;
        });
        connection.Reply(ClientHarness.Event("s1", "t", 1));
        await using var reader = subscription.GetAsyncEnumerator();
        Assert.True(await reader.NextAsync());

        var (_, resubscribe) = await ReconnectAsync(harness, connection);

        Assert.Equal(("worker", "pool"), (resubscribe.DurableName, resubscribe.Group));
        Assert.Empty(resubscribe.ResumeFrom);
        Assert.Empty(resubscribe.TopicEpochs);
        Assert.False(resubscribe.HasReplayCount);
    }

    [Fact]
    public async Task Delivery_GroupMemberGetsOlderEventHandedOver_HandedToConsumerAndAckedIndividually()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await harness.SubscribeAsync(head: 0, configure: Durable);
        // The group gave 2 to another member; it comes here later, handed over (its second attempt).
        connection.Reply(ClientHarness.Event("s1", "t", 1, "a1"));
        connection.Reply(ClientHarness.Event("s1", "t", 3, "a3"));
        connection.Reply(ClientHarness.Event("s1", "t", 2, "a2", attempt: 2));
        await using var reader = subscription.GetAsyncEnumerator();
        var seen = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            Assert.True(await reader.NextAsync());
            seen.Add(reader.Current.SequenceNum);
        }

        await reader.Current.AckAsync();
        await subscription.FlushAcksAsync();
        var acks = connection.DrainSent().Where(m => m.MessageCase == MessageOneofCase.Ack).ToList();

        Assert.Equal(new long[] { 1, 3, 2 }, seen);
        Assert.All(acks, m => Assert.Equal(AckMessage.AckModeOneofCase.Individual, m.Ack.AckModeCase));
        Assert.Equal(["a1", "a2", "a3"], acks.SelectMany(m => m.Ack.Individual.AckIds).Order());
        Assert.Equal(0, harness.Client.Statistics.DuplicatesDropped);
    }

    [Fact]
    public async Task Reconnect_DurableStillHeld_SubscribesAgainAfterTheDelay()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await harness.SubscribeAsync(head: 0, configure: Durable);

        var (next, _) = await ReconnectAsync(harness, connection);
        next.Reply(ClientHarness.Error(ErrorCode.ErrorDurableConflict, "s1", ("field", "durable_name")));
        await harness.Time.WaitForTimerAsync(harness.Options.ReconnectInitialDelay);
        harness.Time.AdvanceInSteps(harness.Options.ReconnectInitialDelay);
        var again = (await next.NextSentAsync(MessageOneofCase.Subscribe)).Subscribe;
        next.Reply(ClientHarness.Confirm("s1", "t", "epoch-1", head: 0));
        await Wait.UntilAsync(() => subscription.LastConfirmation is not null, "the confirm");

        Assert.Equal("worker", again.DurableName);
        Assert.False(subscription.Completion.IsCompleted);
    }

    [Fact]
    public async Task SubscribeAsync_DurableHeldElsewhere_ThrowsWithTheCode()
    {
        await using var harness = new ClientHarness();
        var subscribing = harness.Client.SubscribeAsync(
            new SubscriptionOptions { SubscriptionId = "s1", Topics = { "t" }, DurableName = "worker" });
        var connection = await harness.Transport.NextAsync();
        await connection.NextSentAsync(MessageOneofCase.Subscribe);

        connection.Reply(ClientHarness.Error(ErrorCode.ErrorDurableConflict, "s1", ("field", "durable_name")));
        var error = await Assert.ThrowsAsync<EventStreamException>(() => subscribing.WaitAsync(Wait.Timeout));

        Assert.Equal(ErrorCode.ErrorDurableConflict, error.Code);
    }

    [Fact]
    public async Task Reconnect_DurableRedeliversProcessedAndTerminated_ProcessedAckedTerminatedHandedOver()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await harness.SubscribeAsync(head: 0, configure: Durable);
        connection.Reply(ClientHarness.Event("s1", "t", 1, "a1"));
        connection.Reply(ClientHarness.Event("s1", "t", 2, "a2"));
        await using var reader = subscription.GetAsyncEnumerator();
        Assert.True(await reader.NextAsync());
        Assert.True(await reader.NextAsync());
        Assert.True(await reader.Current.TerminateAsync("bad"));
        // 1 is processed, its ack still in the batch when the stream breaks; 2 is dead-lettered.

        var (next, _) = await ReconnectAsync(harness, connection);
        next.Reply(ClientHarness.Confirm("s1", "t", "epoch-1", head: 2));
        // The durable sends 1 again (no ack reached it), then 2 replayed from the dead letters.
        next.Reply(ClientHarness.Event("s1", "t", 1, "b1", attempt: 2));
        next.Reply(ClientHarness.Event("s1", "t", 2, "b2", attempt: 2));
        Assert.True(await reader.NextAsync());
        var replayed = reader.Current;
        await subscription.FlushAcksAsync();
        var acked = next.DrainSent().Where(m => m.MessageCase == MessageOneofCase.Ack)
            .SelectMany(m => m.Ack.Individual.AckIds);

        Assert.Equal((2L, 2), (replayed.SequenceNum, replayed.DeliveryAttempt));
        Assert.Contains("b1", acked);
        Assert.Equal(1, harness.Client.Statistics.DuplicatesDropped);
    }
}
