using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.FunctionalTests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Client.Tests.Functional;

/// <summary>The client's settle verbs and automatic extension against the real gateway on loopback.</summary>
public sealed class ClientSettleFunctionalTests
{
    [Fact]
    public async Task AutoExtend_HandlerSlowerThanAckTimeout_NotRedelivered()
    {
        // A 2 s ack timeout checked every 50 ms: without extension the event would be back within 2.05 s. With 2 s
        // the client extends 1 s before each deadline, so a timer or write late by most of a second on a loaded
        // machine still arrives in time (with 1 s the margin is half a second).
        await using var gateway = await Gateways.StartAsync(("ack_timeout_s", "2"), ("redelivery_delay_s", "0.05"));
        var logs = new LogCapture();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        await using var client = Gateways.Client(gateway, configure: o => o.LoggerFactory = loggerFactory);
        var attempts = new List<int>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var subscription = await client.SubscribeAsync(
            new SubscriptionOptions { Topics = { "slow" } },
            async (e, _) =>
            {
                lock (attempts)
                {
                    attempts.Add(e.DeliveryAttempt);
                }

                // The slow work: it ends once the client has extended the deadline three times (at about 1, 2 and
                // 3 s: longer than the ack timeout).
                await Wait.UntilAsync(() => logs.Entries.Count(l => l.EventId.Id == 7015) >= 3,
                    "three automatic extensions");
                done.TrySetResult();
            });
        Assert.Equal(TimeSpan.FromSeconds(2), subscription.Limits?.AckTimeout);

        await client.PublishAsync(Gateways.Event("slow"));
        await done.Task.WaitAsync(Wait.Timeout);
        await subscription.FlushAcksAsync();
        await Wait.UntilAsync(() => Gateways.Stats(gateway) is { InFlightEvents: 0, EventsAcked: 1 },
            "the event acked");

        Assert.Equal([1], attempts);
        Assert.Equal(0, Gateways.Stats(gateway).EventsRedelivered);
    }

    [Fact]
    public async Task TerminateAsync_Handler_EventDeadLetteredWithReason()
    {
        await using var gateway = await Gateways.StartAsync();
        await using var client = Gateways.Client(gateway);
        var terminated = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var subscription = await client.SubscribeAsync(
            new SubscriptionOptions { Topics = { "poison" } },
            async (e, ct) => terminated.TrySetResult(await e.TerminateAsync("cannot parse", ct)));

        var receipt = await client.PublishAsync(Gateways.Event("poison"));
        Assert.True(await terminated.Task.WaitAsync(Wait.Timeout));
        await Wait.UntilAsync(() => Gateways.Stats(gateway).InFlightEvents == 0, "the event settled");
        var letters = new Marie.Events.Protocol.DeadLetterService.DeadLetterServiceClient(gateway.Channel)
            .ListDeadLetters(new Marie.Events.Protocol.ListDeadLettersRequest(),
                GatewayFixture.Auth(gateway.Keys.Admin));

        var letter = Assert.Single(letters.DeadLetters);
        Assert.Equal(receipt.Id, letter.Event.Id);
        Assert.Equal("terminated", letter.ReasonCode);
        Assert.Equal("cannot parse", letter.Reason);
        Assert.Equal(0, Gateways.Stats(gateway).EventsAcked);
    }
}
