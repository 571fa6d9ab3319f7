using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ClientMessage;

namespace Marie.Events.Client.Tests.Unit;

/// <summary>The settle verbs of <see cref="ReceivedEvent"/> and the settle options and limits, on the in-memory
/// transport with fake time.</summary>
public sealed class ClientSettleTests
{
    [Fact]
    public async Task SubscribeAsync_BackoffAndMaxAttempts_SentAndEffectiveLimitsExposed()
    {
        await using var harness = new ClientHarness();
        var options = new SubscriptionOptions
        {
            SubscriptionId = "s1",
            Topics = { "t" },
            RedeliveryBackoff = { TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2) },
            MaxRedeliveryAttempts = 4,
        };
        var subscribing = harness.Client.SubscribeAsync(options);
        var connection = await harness.Transport.NextAsync();
        var request = (await connection.NextSentAsync(MessageOneofCase.Subscribe)).Subscribe;
        connection.Reply(SettleHarness.ConfirmWithLimits("s1", "t", 60_000, 100, 2000));
        var subscription = await subscribing.WaitAsync(Wait.Timeout);

        Assert.Equal([100L, 2000L], request.RedeliveryBackoffMs);
        Assert.Equal(4, request.MaxRedeliveryAttempts);
        var limits = Assert.IsType<SettleLimits>(subscription.Limits);
        Assert.Equal(3, limits.MaxRedeliveryAttempts);
        Assert.Equal(TimeSpan.FromSeconds(1), limits.AckTimeout);
        Assert.Equal(TimeSpan.FromMinutes(1), limits.MaxAckExtension);
        Assert.Equal(TimeSpan.FromMilliseconds(100), limits.AckDeadlineAfter(1));
        Assert.Equal(TimeSpan.FromSeconds(2), limits.AckDeadlineAfter(5));
    }

    [Fact]
    public async Task SubscribeAsync_GatewayReportsNoLimits_LimitsNull()
    {
        await using var harness = new ClientHarness();

        var (subscription, _) = await harness.SubscribeAsync();

        Assert.Null(subscription.Limits);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Validate_BadSettleOptions_ArgumentExceptionNamingOption(int value)
    {
        var attempts = new SubscriptionOptions { Topics = { "t" }, MaxRedeliveryAttempts = value };
        var backoff = new SubscriptionOptions
        {
            Topics = { "t" },
            RedeliveryBackoff = { TimeSpan.FromMilliseconds(value) },
        };
        var extension = new SubscriptionOptions { Topics = { "t" }, MaxAutoExtension = TimeSpan.FromSeconds(value) };

        Assert.Contains("MaxRedeliveryAttempts", Assert.Throws<ArgumentException>(attempts.Validate).Message,
            StringComparison.Ordinal);
        Assert.Contains("RedeliveryBackoff", Assert.Throws<ArgumentException>(backoff.Validate).Message,
            StringComparison.Ordinal);
        Assert.Contains("MaxAutoExtension", Assert.Throws<ArgumentException>(extension.Validate).Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task NackAsync_AutoMode_NackSentNoAckAndRedeliveryHandedOverAgain()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await SettleHarness.SubscribeAsync(harness);
        connection.Reply(ClientHarness.Event("s1", "t", 1));
        await using var reader = subscription.GetAsyncEnumerator();
        var first = await SettleHarness.NextAsync(reader);

        Assert.True(await first.NackAsync(TimeSpan.FromMilliseconds(250), "busy"));
        var nack = (await connection.NextSentAsync(MessageOneofCase.Ack)).Ack;
        connection.Reply(ClientHarness.Event("s1", "t", 1, attempt: 2));
        var again = await SettleHarness.NextAsync(reader);
        harness.Time.AdvanceInSteps(harness.Options.AckFlushInterval);
        await subscription.FlushAcksAsync();
        var acks = connection.DrainSent().Where(m => m.MessageCase == MessageOneofCase.Ack).ToList();

        Assert.Equal(["t-1-ack"], nack.Nack.AckIds);
        Assert.Equal(250, nack.Nack.DelayMs);
        Assert.Equal("busy", nack.Nack.Reason);
        Assert.Equal(2, again.DeliveryAttempt);
        // The loop asking for the redelivery did not ack the nacked delivery: nothing else was sent.
        Assert.Empty(acks);
        Assert.Equal(0, subscription.GetResumePoints()["t"].SequenceNum);
    }

    [Fact]
    public async Task TerminateAsync_Event_TerminateWrittenBeforeTheAckThatCoversIt()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await SettleHarness.SubscribeAsync(harness, o => o.AckMode = AckMode.Manual);
        connection.Reply(ClientHarness.Event("s1", "t", 1));
        connection.Reply(ClientHarness.Event("s1", "t", 2));
        await using var reader = subscription.GetAsyncEnumerator();
        var first = await SettleHarness.NextAsync(reader);
        var second = await SettleHarness.NextAsync(reader);

        await second.AckAsync();
        Assert.True(await first.TerminateAsync("poison"));
        await subscription.FlushAcksAsync();
        var sent = connection.DrainSent().Where(m => m.MessageCase == MessageOneofCase.Ack).Select(m => m.Ack)
            .ToList();

        Assert.Equal(AckMessage.AckModeOneofCase.Terminate, sent[0].AckModeCase);
        Assert.Equal(["t-1-ack"], sent[0].Terminate.AckIds);
        Assert.Equal("poison", sent[0].Terminate.Reason);
        Assert.Equal(2, sent[^1].Cumulative.UpToSequenceNum);
        Assert.Equal(2, subscription.GetResumePoints()["t"].SequenceNum);
    }

    [Fact]
    public async Task SettleVerbs_AfterAck_NothingSentAndFalse()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await SettleHarness.SubscribeAsync(harness, o => o.AckMode = AckMode.Manual);
        connection.Reply(ClientHarness.Event("s1", "t", 1));
        await using var reader = subscription.GetAsyncEnumerator();
        var received = await SettleHarness.NextAsync(reader);
        await received.AckAsync();

        var nacked = await received.NackAsync();
        var terminated = await received.TerminateAsync();
        var extended = await received.ExtendAsync(TimeSpan.FromSeconds(1));
        await subscription.FlushAcksAsync();
        var acks = connection.DrainSent().Where(m => m.MessageCase == MessageOneofCase.Ack).ToList();

        Assert.False(nacked);
        Assert.False(terminated);
        Assert.False(extended);
        Assert.Equal(AckMessage.AckModeOneofCase.Cumulative, Assert.Single(acks).Ack.AckModeCase);
    }

    [Fact]
    public async Task ExtendAsync_WithinMaximum_ExtendSentAndOverMaximumRefused()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await SettleHarness.SubscribeAsync(harness,
            confirm: SettleHarness.ConfirmWithLimits("s1", "t", maxExtensionMs: 10_000));
        connection.Reply(ClientHarness.Event("s1", "t", 1));
        await using var reader = subscription.GetAsyncEnumerator();
        var received = await SettleHarness.NextAsync(reader);

        Assert.True(await received.ExtendAsync(TimeSpan.FromSeconds(10)));
        var extend = (await connection.NextSentAsync(MessageOneofCase.Ack)).Ack.Extend;
        var over = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => received.ExtendAsync(TimeSpan.FromMilliseconds(10_001)).AsTask());
        var negative = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => received.NackAsync(TimeSpan.FromMilliseconds(-1)).AsTask());
        var longReason = await Assert.ThrowsAsync<ArgumentException>(
            () => received.TerminateAsync(new string('é', 513)).AsTask());

        Assert.Equal(10_000, extend.ExtendMs);
        Assert.Equal(["t-1-ack"], extend.AckIds);
        Assert.Contains("max_ack_extension_s", over.Message, StringComparison.Ordinal);
        Assert.Equal("delay", negative.ParamName);
        Assert.Contains("1024 bytes", longReason.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NackAsync_StreamEnded_FalseAndResumedCopyHandedOverAgain()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await SettleHarness.SubscribeAsync(harness);
        connection.Reply(ClientHarness.Event("s1", "t", 1));
        await using var reader = subscription.GetAsyncEnumerator();
        var first = await SettleHarness.NextAsync(reader);
        connection.Fail(Grpc.Core.StatusCode.Unavailable);
        await harness.Time.WaitForTimerAsync(harness.Options.ReconnectInitialDelay);
        harness.Time.AdvanceInSteps(harness.Options.ReconnectInitialDelay);
        var next = await harness.Transport.NextAsync();

        var sent = await first.NackAsync();
        await next.NextSentAsync(MessageOneofCase.Subscribe);
        next.Reply(SettleHarness.ConfirmWithLimits("s1", "t"));
        next.Reply(ClientHarness.Event("s1", "t", 1, ackId: "t-1-second-stream"));
        var again = await SettleHarness.NextAsync(reader);

        Assert.False(sent);
        Assert.Equal("t-1-second-stream", again.AckId);
    }

    [Fact]
    public async Task Handler_NacksThenReturns_NotAckedAndRedeliveryHandledAgain()
    {
        await using var harness = new ClientHarness();
        var attempts = new List<int>();
        var second = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (subscription, connection) = await SettleHarness.SubscribeAsync(harness, handler: async (e, ct) =>
        {
            lock (attempts)
            {
                attempts.Add(e.DeliveryAttempt);
            }

            if (e.DeliveryAttempt == 1)
            {
                await e.NackAsync(reason: "later", cancellationToken: ct);
                return;
            }

            second.TrySetResult();
        });
        connection.Reply(ClientHarness.Event("s1", "t", 1));
        var nack = (await connection.NextSentAsync(MessageOneofCase.Ack)).Ack;
        await Wait.UntilAsync(() => subscription.StateOf("t", 1) == Internal.PendingState.Abandoned,
            "the nacked event given back");
        connection.Reply(ClientHarness.Event("s1", "t", 1, attempt: 2));
        await second.Task.WaitAsync(Wait.Timeout);
        await Wait.UntilAsync(() => subscription.StateOf("t", 1) is null, "the redelivery processed");
        await subscription.FlushAcksAsync();
        var ack = (await connection.NextSentAsync(MessageOneofCase.Ack)).Ack;

        Assert.Equal(AckMessage.AckModeOneofCase.Nack, nack.AckModeCase);
        Assert.Equal([1, 2], attempts);
        Assert.Equal(1, ack.Cumulative.UpToSequenceNum);
    }
}
