using Grpc.Core;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ClientMessage;

namespace Marie.Events.Client.Tests.Unit;

/// <summary>Heartbeats, silent-gateway detection, reconnect backoff, failover and resume, on the in-memory transport
/// with fake time.</summary>
public sealed class ClientConnectionTests
{
    [Fact]
    public async Task Heartbeat_EveryInterval_SendsClientHeartbeatWithWatermarkAndUnixSeconds()
    {
        await using var harness = new ClientHarness();
        var (_, connection) = await harness.SubscribeAsync(head: 7);

        harness.Time.AdvanceInSteps(harness.Options.HeartbeatInterval);
        var first = (await connection.NextSentAsync(MessageOneofCase.Heartbeat)).Heartbeat;
        harness.Time.AdvanceInSteps(harness.Options.HeartbeatInterval);
        var second = (await connection.NextSentAsync(MessageOneofCase.Heartbeat)).Heartbeat;

        Assert.Equal(7, first.SubscriptionWatermarks["s1"]);
        Assert.Equal(harness.Time.GetUtcNow().ToUnixTimeSeconds(), second.Timestamp);
        Assert.Equal(harness.Options.HeartbeatInterval.TotalSeconds, second.Timestamp - first.Timestamp);
    }

    [Fact]
    public async Task SilentGateway_TwoHeartbeatIntervals_StreamReplaced()
    {
        await using var harness = new ClientHarness(o => o.HeartbeatInterval = Timeout.InfiniteTimeSpan);
        var (subscription, connection) = await harness.SubscribeAsync();
        var silenceLimit = harness.Options.ServerHeartbeatInterval * 2;

        // A message halfway keeps it alive (an event: the test sees when it was read).
        harness.Time.AdvanceInSteps(silenceLimit / 2, TimeSpan.FromMilliseconds(100));
        connection.Reply(ClientHarness.Event("s1", "t", 1));
        await using var reader = subscription.GetAsyncEnumerator();
        Assert.True(await reader.NextAsync());
        harness.Time.AdvanceInSteps(silenceLimit - TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100));
        Assert.False(harness.Transport.TryNext(out _), "not replaced before two intervals of silence");
        Assert.False(connection.Disposed);

        harness.Time.AdvanceInSteps(TimeSpan.FromMilliseconds(200));
        await harness.Time.WaitForTimerAsync(harness.Options.ReconnectInitialDelay);
        harness.Time.AdvanceInSteps(harness.Options.ReconnectInitialDelay);
        var replacement = await harness.Transport.NextAsync();

        Assert.True(connection.Disposed);
        Assert.Equal(1, harness.Client.Statistics.SilentGatewayTimeouts);
        Assert.Equal(ClientHarness.AddressA, replacement.Address);
    }

    [Fact]
    public async Task Reconnect_FailedAttempts_BackoffDoublesAndFailsOverInOrder()
    {
        await using var harness = new ClientHarness();
        var (_, first) = await harness.SubscribeAsync();

        first.Fail(StatusCode.Unavailable);
        await harness.Time.WaitForTimerAsync(TimeSpan.FromMilliseconds(100));
        harness.Time.AdvanceInSteps(TimeSpan.FromMilliseconds(90));
        Assert.False(harness.Transport.TryNext(out _), "no attempt before the backoff delay");
        harness.Time.AdvanceInSteps(TimeSpan.FromMilliseconds(10));
        var second = await harness.Transport.NextAsync();
        second.Fail(StatusCode.Unavailable);
        await harness.Time.WaitForTimerAsync(TimeSpan.FromMilliseconds(200));
        harness.Time.AdvanceInSteps(TimeSpan.FromMilliseconds(200));
        var third = await harness.Transport.NextAsync();
        third.Fail(StatusCode.Unavailable);
        await harness.Time.WaitForTimerAsync(TimeSpan.FromMilliseconds(400));
        harness.Time.AdvanceInSteps(TimeSpan.FromMilliseconds(400));
        var fourth = await harness.Transport.NextAsync();

        // After the established stream to A: A (first retry), then B, then A again.
        Assert.Equal(ClientHarness.AddressA, second.Address);
        Assert.Equal(ClientHarness.AddressB, third.Address);
        Assert.Equal(ClientHarness.AddressA, fourth.Address);
    }

    [Fact]
    public async Task Reconnect_ResubscribesWithResumePointsAndEpochs_DropsReplayedDuplicates()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await harness.SubscribeAsync(head: 0, epoch: "epoch-1");
        for (var s = 1; s <= 3; s++)
        {
            connection.Reply(ClientHarness.Event("s1", "t", s));
        }

        await using var reader = subscription.GetAsyncEnumerator();
        var seen = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            Assert.True(await reader.NextAsync());
            seen.Add(reader.Current.SequenceNum);
        }

        // 1 and 2 are processed, 3 is with the consumer when the stream breaks.
        connection.Fail(StatusCode.Unavailable);
        await harness.Time.WaitForTimerAsync(harness.Options.ReconnectInitialDelay);
        harness.Time.AdvanceInSteps(harness.Options.ReconnectInitialDelay);
        var next = await harness.Transport.NextAsync();
        var resubscribe = (await next.NextSentAsync(MessageOneofCase.Subscribe)).Subscribe;
        next.Reply(ClientHarness.Confirm("s1", "t", "epoch-1", head: 4, replayFrom: 3));
        next.Reply(ClientHarness.Event("s1", "t", 3, "new-3"));
        next.Reply(ClientHarness.Event("s1", "t", 4, "new-4"));
        Assert.True(await reader.NextAsync());
        seen.Add(reader.Current.SequenceNum);
        await subscription.FlushAcksAsync();
        var ack = (await next.NextSentAsync(MessageOneofCase.Ack)).Ack;

        Assert.Equal(2, resubscribe.ResumeFrom["t"]);
        Assert.Equal("epoch-1", resubscribe.TopicEpochs["t"]);
        Assert.False(resubscribe.HasReplayCount);
        Assert.Equal(new long[] { 1, 2, 3, 4 }, seen);
        Assert.Equal(1, harness.Client.Statistics.DuplicatesDropped);
        // 3 was processed after the reconnect: acked (with 4 pending it is contiguous up to 3) with the new stream's
        // ids.
        Assert.Equal(3, ack.Cumulative.UpToSequenceNum);
    }

    [Fact]
    public async Task Reconnect_EpochChanged_ResetsDeduplicationAndDeliversNewEpoch()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await harness.SubscribeAsync(head: 0, epoch: "epoch-1");
        connection.Reply(ClientHarness.Event("s1", "t", 1));
        connection.Reply(ClientHarness.Event("s1", "t", 2));
        await using var reader = subscription.GetAsyncEnumerator();
        Assert.True(await reader.NextAsync());
        Assert.True(await reader.NextAsync());
        var errors = new List<EventStreamException>();
        subscription.ErrorReceived += (_, e) => errors.Add(e.Error);

        connection.Fail(StatusCode.Unavailable, "gateway restarting");
        await harness.Time.WaitForTimerAsync(harness.Options.ReconnectInitialDelay);
        harness.Time.AdvanceInSteps(harness.Options.ReconnectInitialDelay);
        var next = await harness.Transport.NextAsync();
        await next.NextSentAsync(MessageOneofCase.Subscribe);
        next.Reply(ClientHarness.Confirm("s1", "t", "epoch-2", head: 1, replayFrom: 1));
        next.Reply(ClientHarness.Error(
            ErrorCode.ErrorEpochChanged,
            "s1",
            ("topic", "t"),
            ("expected_epoch", "epoch-1"),
            ("current_epoch", "epoch-2")));
        next.Reply(ClientHarness.Event("s1", "t", 1, "e2-1"));
        Assert.True(await reader.NextAsync());

        Assert.Equal(1, reader.Current.SequenceNum);
        Assert.Equal("e2-1", reader.Current.AckId);
        var changed = Assert.IsType<EpochChangedException>(Assert.Single(errors));
        Assert.Equal("epoch-2", changed.CurrentEpoch);
        Assert.Equal(1, harness.Client.Statistics.EpochChanges);
        Assert.Equal("epoch-2", subscription.GetResumePoints()["t"].Epoch);
    }

    [Fact]
    public async Task Unauthenticated_IsFatal_SubscribeFailsAndNoReconnect()
    {
        await using var harness = new ClientHarness();
        var subscribing = harness.Client.SubscribeAsync(new SubscriptionOptions { Topics = { "t" } });
        var connection = await harness.Transport.NextAsync();

        connection.Fail(StatusCode.Unauthenticated, "invalid or missing token");
        var error = await Assert.ThrowsAsync<EventStreamAuthenticationException>(
            () => subscribing.WaitAsync(Wait.Timeout));
        harness.Time.AdvanceInSteps(TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(50));

        Assert.Equal(StatusCode.Unauthenticated, error.Status);
        Assert.Equal(EventStreamClientState.Failed, harness.Client.State);
        Assert.False(harness.Transport.TryNext(out _), "a refused key is not retried");
        await Assert.ThrowsAsync<EventStreamException>(
            () => harness.Client.SubscribeAsync(new SubscriptionOptions { Topics = { "t" } }));
    }

    [Fact]
    public async Task ConnectTimeout_NoAnswer_CountsAsFailedAttemptAndTriesNextAddress()
    {
        await using var harness = new ClientHarness(o => o.ConnectTimeout = TimeSpan.FromSeconds(1));
        var subscribing = harness.Client.SubscribeAsync(
            new SubscriptionOptions { SubscriptionId = "s1", Topics = { "t" } });
        var first = await harness.Transport.NextAsync();
        await first.NextSentAsync(MessageOneofCase.Subscribe);

        harness.Time.AdvanceInSteps(TimeSpan.FromSeconds(1));
        // A stream that never worked is a failed attempt: the delay has doubled once.
        await harness.Time.WaitForTimerAsync(harness.Options.ReconnectInitialDelay * 2);
        harness.Time.AdvanceInSteps(harness.Options.ReconnectInitialDelay * 2);
        var second = await harness.Transport.NextAsync();
        await second.NextSentAsync(MessageOneofCase.Subscribe);
        second.Reply(ClientHarness.Confirm("s1", "t", "e", 0));
        await subscribing.WaitAsync(Wait.Timeout);

        Assert.True(first.Disposed);
        Assert.Equal(ClientHarness.AddressB, second.Address);
        Assert.Equal(ClientHarness.AddressB, harness.Client.ConnectedAddress);
    }

    [Fact]
    public async Task MaxReconnectAttempts_Exhausted_SubscriptionsFail()
    {
        await using var harness = new ClientHarness(o => o.MaxReconnectAttempts = 2);
        var (subscription, connection) = await harness.SubscribeAsync();

        connection.Fail(StatusCode.Unavailable);
        for (var i = 0; i < 2; i++)
        {
            await harness.Time.WaitForTimerAsync(TimeSpan.FromMilliseconds(100 << i));
            harness.Time.AdvanceInSteps(TimeSpan.FromMilliseconds(100 << i));
            (await harness.Transport.NextAsync()).Fail(StatusCode.Unavailable);
        }

        var error = await Assert.ThrowsAsync<EventStreamException>(
            () => subscription.Completion.WaitAsync(Wait.Timeout));
        Assert.Contains("2 failed connection attempts", error.Message, StringComparison.Ordinal);
        Assert.Equal(EventStreamClientState.Failed, harness.Client.State);
    }

    [Fact]
    public async Task Subscribe_LastSequenceNum_SentOnTheFirstSubscribeOnlyAndConfirmationKept()
    {
        await using var harness = new ClientHarness();
        var subscribing = harness.Client.SubscribeAsync(
            new SubscriptionOptions { SubscriptionId = "s1", Topics = { "*" }, LastSequenceNum = 5 });
        var connection = await harness.Transport.NextAsync();
        var first = (await connection.NextSentAsync(MessageOneofCase.Subscribe)).Subscribe;
        connection.Reply(ClientHarness.Confirm("s1", "t", "epoch-1", head: 9));
        var subscription = await subscribing.WaitAsync(Wait.Timeout);
        var confirmedFirst = subscription.LastConfirmation;

        connection.Fail(StatusCode.Unavailable);
        await harness.Time.WaitForTimerAsync(harness.Options.ReconnectInitialDelay);
        harness.Time.AdvanceInSteps(harness.Options.ReconnectInitialDelay);
        var next = await harness.Transport.NextAsync();
        var resubscribe = (await next.NextSentAsync(MessageOneofCase.Subscribe)).Subscribe;
        next.Reply(ClientHarness.Confirm("s1", "t", "epoch-1", head: 12));
        await Wait.UntilAsync(() => subscription.LastConfirmation?.CurrentHead == 12, "the resubscribe confirmed");

        Assert.Equal(5, first.LastSequenceNum);
        Assert.Equal(9, confirmedFirst?.CurrentHead);
        // After a reconnect a "*" subscription resumes from what it processed; new topics from their ring start.
        Assert.Equal(0, resubscribe.LastSequenceNum);
    }
}
