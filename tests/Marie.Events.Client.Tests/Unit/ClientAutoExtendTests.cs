using Marie.Events.Client.Tests.Infrastructure;
using static Marie.Events.Protocol.ClientMessage;

namespace Marie.Events.Client.Tests.Unit;

/// <summary>Automatic extension of the ack deadline while a handler runs, on the in-memory transport with fake
/// time.</summary>
public sealed class ClientAutoExtendTests
{
    [Fact]
    public async Task AutoExtend_HandlerSlowerThanDeadline_ExtendsUntilHandlerReturns()
    {
        await using var harness = new ClientHarness();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (subscription, connection) = await SettleHarness.SubscribeAsync(harness, handler: async (_, _) =>
        {
            started.TrySetResult();
            await release.Task;
        });
        connection.Reply(ClientHarness.Event("s1", "t", 1));
        await started.Task.WaitAsync(Wait.Timeout);
        await harness.Time.WaitForTimerAsync(SettleHarness.FirstExtensionDue);

        harness.Time.Advance(SettleHarness.FirstExtensionDue);
        var firstExtend = (await connection.NextSentAsync(MessageOneofCase.Ack)).Ack.Extend;
        harness.Time.Advance(SettleHarness.FirstExtensionDue);
        var secondExtend = (await connection.NextSentAsync(MessageOneofCase.Ack)).Ack.Extend;
        release.SetResult();
        await Wait.UntilAsync(() => subscription.StateOf("t", 1) is null, "the handler returned");
        await subscription.FlushAcksAsync();
        var ack = (await connection.NextSentAsync(m => m.Ack?.Cumulative is not null)).Ack;
        harness.Time.AdvanceInSteps(TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100));
        await subscription.FlushAcksAsync();
        var later = connection.DrainSent().Where(m => m.Ack?.Extend is not null).ToList();

        Assert.Equal(SettleHarness.AckTimeoutMs, firstExtend.ExtendMs);
        Assert.Equal(["t-1-ack"], firstExtend.AckIds);
        Assert.Equal(SettleHarness.AckTimeoutMs, secondExtend.ExtendMs);
        Assert.Equal(1, ack.Cumulative.UpToSequenceNum);
        Assert.Empty(later);
    }

    [Fact]
    public async Task AutoExtend_MaxAutoExtensionReached_StopsExtending()
    {
        await using var harness = new ClientHarness();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (subscription, connection) = await SettleHarness.SubscribeAsync(harness,
            o => o.MaxAutoExtension = TimeSpan.FromMilliseconds(2200),
            async (_, _) =>
            {
                started.TrySetResult();
                await release.Task;
            });
        connection.Reply(ClientHarness.Event("s1", "t", 1));
        await started.Task.WaitAsync(Wait.Timeout);
        await harness.Time.WaitForTimerAsync(SettleHarness.FirstExtensionDue);

        // Deadlines 1 s, then 1.5 s, 2 s, and 2.2 s (clipped): three extensions, then none however long the
        // handler runs.
        harness.Time.AdvanceInSteps(TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));
        await subscription.FlushAcksAsync();
        var extends = connection.DrainSent().Where(m => m.Ack?.Extend is not null).Select(m => m.Ack.Extend.ExtendMs)
            .ToList();
        release.SetResult();

        Assert.Equal([1000L, 1000L, 700L], extends);
    }

    [Fact]
    public async Task AutoExtend_Off_NoExtendWhileHandlerRuns()
    {
        await using var harness = new ClientHarness();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (subscription, connection) = await SettleHarness.SubscribeAsync(harness, o => o.AutoExtend = false,
            async (_, _) =>
            {
                started.TrySetResult();
                await release.Task;
            });
        connection.Reply(ClientHarness.Event("s1", "t", 1));
        await started.Task.WaitAsync(Wait.Timeout);

        harness.Time.AdvanceInSteps(TimeSpan.FromSeconds(3), TimeSpan.FromMilliseconds(100));
        await subscription.FlushAcksAsync();
        var sent = connection.DrainSent();
        release.SetResult();

        Assert.DoesNotContain(sent, m => m.Ack?.Extend is not null);
    }
}
