using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.Protocol;
using Microsoft.Extensions.DependencyInjection;
using static Marie.Events.Protocol.ClientMessage;

namespace Marie.Events.Client.Tests.Unit;

/// <summary>Errors and backpressure from the gateway, surfaced and never swallowed.</summary>
public sealed class ClientNoticeTests
{
    [Fact]
    public async Task EventsLost_RaisedAsTypedErrorOnSubscriptionAndClient()
    {
        await using var harness = new ClientHarness();
        var (subscription, connection) = await harness.SubscribeAsync();
        var onSubscription = new TaskCompletionSource<EventStreamException>(
            TaskCreationOptions.RunContinuationsAsynchronously);
        var onClient = new TaskCompletionSource<EventStreamException>(
            TaskCreationOptions.RunContinuationsAsynchronously);
        subscription.ErrorReceived += (_, e) => onSubscription.TrySetResult(e.Error);
        harness.Client.ErrorReceived += (_, e) => onClient.TrySetResult(e.Error);

        connection.Reply(ClientHarness.Error(
            ErrorCode.ErrorEventsLost,
            "s1",
            ("topic", "t"),
            ("first_missed", "3"),
            ("last_missed", "9")));

        var lost = Assert.IsType<EventsLostException>(await onSubscription.Task.WaitAsync(Wait.Timeout));
        Assert.Same(lost, await onClient.Task.WaitAsync(Wait.Timeout));
        Assert.Equal(("t", 3L, 9L), (lost.Topic, lost.FirstMissed, lost.LastMissed));
        Assert.Equal("s1", lost.SubscriptionId);
        Assert.Equal(7, harness.Client.Statistics.EventsLost);
    }

    [Fact]
    public async Task RateLimited_RaisedAsRateLimitedException()
    {
        await using var harness = new ClientHarness();
        var (_, connection) = await harness.SubscribeAsync();
        var raised = new TaskCompletionSource<EventStreamException>(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Client.ErrorReceived += (_, e) => raised.TrySetResult(e.Error);

        connection.Reply(ClientHarness.Error(ErrorCode.ErrorRateLimited, ""));

        var error = await raised.Task.WaitAsync(Wait.Timeout);
        Assert.IsType<RateLimitedException>(error);
        Assert.Equal(ErrorCode.ErrorRateLimited, error.Code);
        Assert.Equal(EventStreamClientState.Connected, harness.Client.State);
    }

    [Fact]
    public async Task SubscribeRefused_InvalidRequest_SubscribeAsyncThrowsAndStreamStays()
    {
        await using var harness = new ClientHarness();
        var (_, connection) = await harness.SubscribeAsync();

        var refused = harness.Client.SubscribeAsync(
            new SubscriptionOptions { SubscriptionId = "bad", Topics = { "t" } });
        await connection.NextSentAsync(m => m.Subscribe?.SubscriptionId == "bad");
        connection.Reply(ClientHarness.Error(ErrorCode.ErrorInvalidRequest, "bad", ("field", "topics")));

        var error = await Assert.ThrowsAsync<EventStreamException>(() => refused.WaitAsync(Wait.Timeout));
        Assert.Equal(ErrorCode.ErrorInvalidRequest, error.Code);
        Assert.Equal("topics", error.Details["field"]);
        Assert.Equal(EventStreamClientState.Connected, harness.Client.State);
    }

    [Fact]
    public async Task Backpressure_RaisedWithDelayAndWaitingAcksSentAtOnce()
    {
        await using var harness = new ClientHarness(o => o.AckFlushInterval = TimeSpan.FromHours(1));
        var (subscription, connection) = await harness.SubscribeAsync();
        var signal = new TaskCompletionSource<BackpressureEventArgs>(
            TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Client.Backpressure += (_, e) => signal.TrySetResult(e);
        connection.Reply(ClientHarness.Event("s1", "t", 1));
        connection.Reply(ClientHarness.Event("s1", "t", 2));
        await using var reader = subscription.GetAsyncEnumerator();
        Assert.True(await reader.NextAsync());
        Assert.True(await reader.NextAsync());

        connection.Reply(new ServerMessage
        {
            Backpressure = new BackpressureSignal
            {
                SubscriptionId = "s1",
                RecommendedDelayMs = 550,
                PendingEvents = 90,
            },
        });
        var args = await signal.Task.WaitAsync(Wait.Timeout);
        var ack = (await connection.NextSentAsync(MessageOneofCase.Ack)).Ack;

        Assert.Equal(TimeSpan.FromMilliseconds(550), args.RecommendedDelay);
        Assert.Equal(90, args.PendingEvents);
        Assert.Same(args, subscription.LastBackpressure);
        Assert.Equal(1, ack.Cumulative.UpToSequenceNum);
        Assert.Equal(1, harness.Client.Statistics.BackpressureSignals);
    }

    [Fact]
    public async Task Unsubscribe_SendsWaitingAcksThenUnsubscribe()
    {
        await using var harness = new ClientHarness(o => o.AckFlushInterval = TimeSpan.FromHours(1));
        var (subscription, connection) = await harness.SubscribeAsync();
        connection.Reply(ClientHarness.Event("s1", "t", 1));
        await foreach (var received in subscription)
        {
            await received.AckAsync();
            break;
        }

        var disposing = subscription.DisposeAsync().AsTask();
        var ack = await connection.NextSentAsync(MessageOneofCase.Ack);
        var unsubscribe = await connection.NextSentAsync(MessageOneofCase.Unsubscribe);
        connection.Reply(
            new ServerMessage { UnsubscriptionConfirm = new UnsubscriptionConfirm { SubscriptionId = "s1" } });
        await disposing.WaitAsync(Wait.Timeout);

        Assert.Equal(1, ack.Ack.Cumulative.UpToSequenceNum);
        Assert.Equal("s1", unsubscribe.Unsubscribe.SubscriptionId);
        Assert.True(subscription.Completion.IsCompletedSuccessfully);
    }

    [Fact]
    public void Options_Invalid_MessageNamesTheProperty()
    {
        var options = new EventStreamClientOptions { ApiKey = "k", AckBatchSize = 0, ReconnectJitter = 2 };

        var problems = options.Problems();

        Assert.Contains(problems, p => p.StartsWith("EventStreamClientOptions.AckBatchSize", StringComparison.Ordinal));
        Assert.Contains(
            problems,
            p => p.StartsWith("EventStreamClientOptions.ReconnectJitter", StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => new EventStreamClient(options));
    }

    [Fact]
    public async Task AddMarieEventsClient_ResolvesSingletonWithOptions()
    {
        var services = new ServiceCollection();
        services.AddMarieEventsClient(o =>
        {
            o.Address = new Uri("http://127.0.0.1:1");
            o.ApiKey = "mas_key";
        });
        await using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredService<EventStreamClient>();

        Assert.Same(client, provider.GetRequiredService<EventStreamClient>());
        Assert.Equal(EventStreamClientState.Idle, client.State);
    }

    [Fact]
    public async Task AddMarieEventsClient_InvalidOptions_ValidationNamesTheProperty()
    {
        var services = new ServiceCollection();
        services.AddMarieEventsClient(o => o.AckFlushInterval = TimeSpan.Zero);
        await using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(
            () => provider.GetRequiredService<EventStreamClient>());

        Assert.Contains(error.Failures, f => f.StartsWith("EventStreamClientOptions.ApiKey", StringComparison.Ordinal));
        Assert.Contains(
            error.Failures,
            f => f.StartsWith("EventStreamClientOptions.AckFlushInterval", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DisposeClient_ReaderWaiting_EnumerationEndsAndCompletionSucceeds()
    {
        var harness = new ClientHarness();
        var (subscription, _) = await harness.SubscribeAsync();
        var reading = Task.Run(async () =>
        {
            var count = 0;
            await foreach (var _ in subscription)
            {
                count++;
            }

            return count;
        });

        await harness.DisposeAsync();

        Assert.Equal(0, await reading.WaitAsync(Wait.Timeout));
        Assert.True(subscription.Completion.IsCompletedSuccessfully);
        Assert.Equal(EventStreamClientState.Disposed, harness.Client.State);
    }
}
