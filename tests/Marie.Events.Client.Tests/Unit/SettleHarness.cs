using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ClientMessage;

namespace Marie.Events.Client.Tests.Unit;

/// <summary>A subscription confirmed with settle limits on a <see cref="ClientHarness"/>.</summary>
internal static class SettleHarness
{
    /// <summary>The ack timeout the fake gateway reports, in ms.</summary>
    public const long AckTimeoutMs = 1000;

    /// <summary>The first extension of a 1 s deadline: the margin is half of so short a wait.</summary>
    public static readonly TimeSpan FirstExtensionDue = TimeSpan.FromMilliseconds(500);

    public static ServerMessage ConfirmWithLimits(string id, string topic, long maxExtensionMs = 300_000,
        params long[] backoff)
    {
        var confirm = ClientHarness.Confirm(id, topic, "epoch-1", 0);
        confirm.SubscriptionConfirm.MaxRedeliveryAttempts = 3;
        confirm.SubscriptionConfirm.AckTimeoutMs = AckTimeoutMs;
        confirm.SubscriptionConfirm.MaxAckExtensionMs = maxExtensionMs;
        confirm.SubscriptionConfirm.RedeliveryBackoffMs.AddRange(backoff);
        return confirm;
    }

    public static async Task<(EventSubscription Subscription, FakeConnection Connection)> SubscribeAsync(
        ClientHarness harness,
        Action<SubscriptionOptions>? configure = null,
        Func<ReceivedEvent, CancellationToken, ValueTask>? handler = null,
        ServerMessage? confirm = null)
    {
        var options = new SubscriptionOptions { SubscriptionId = "s1", Topics = { "t" } };
        configure?.Invoke(options);
        var subscribing = handler is null
            ? harness.Client.SubscribeAsync(options)
            : harness.Client.SubscribeAsync(options, handler);
        var connection = await harness.Transport.NextAsync();
        await connection.NextSentAsync(MessageOneofCase.Subscribe);
        connection.Reply(confirm ?? ConfirmWithLimits("s1", "t"));
        return (await subscribing.WaitAsync(Wait.Timeout), connection);
    }

    public static async Task<ReceivedEvent> NextAsync(IAsyncEnumerator<ReceivedEvent> reader)
    {
        Assert.True(await reader.MoveNextAsync().AsTask().WaitAsync(Wait.Timeout));
        return reader.Current;
    }

}
