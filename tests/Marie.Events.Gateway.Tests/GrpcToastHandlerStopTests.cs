using Marie.Events.Gateway.Toast;

namespace Marie.Events.Gateway.Tests;

/// <summary><c>toast.grpc.queue.drain_timeout_s</c>: shutdown drains the queue within a bounded time.</summary>
public sealed class GrpcToastHandlerStopTests
{
    [Fact]
    public async Task StopAsync_BrokerSlowButWorking_WaitsUntilEveryEventIsFiled()
    {
        using var rig = new HandlerRig(s => s with { DrainTimeout = TimeSpan.FromSeconds(5) });
        rig.Sink.Hold();
        var receipts = new List<ToastReceipt>();
        for (var i = 0; i < 3; i++)
        {
            receipts.Add(await rig.AcceptAsync(TestEvents.Make()));
        }

        var stopping = rig.Handler.StopAsync();
        Waiting.Until(() => rig.Sink.Held == 1, "the first event at the broker");
        Assert.False(stopping.IsCompleted);
        rig.Sink.Release();

        Assert.Equal(0, await Waiting.For(stopping));
        foreach (var receipt in receipts)
        {
            Assert.True((await Waiting.For(receipt.Filed!)).SequenceNum > 0);
        }
    }

    [Fact]
    public async Task StopAsync_BrokerDownPastDrainTimeout_AbandonsAndCountsTheRest()
    {
        using var rig = new HandlerRig(s => s with
        {
            DrainTimeout = TimeSpan.FromSeconds(1),
            BackoffBase = TimeSpan.FromMilliseconds(100),
            BackoffMax = TimeSpan.FromMilliseconds(100),
        });
        rig.Sink.Failing = true;
        var receipts = new List<ToastReceipt>();
        for (var i = 0; i < 3; i++)
        {
            receipts.Add(await rig.AcceptAsync(TestEvents.Make()));
        }

        Waiting.Until(() => rig.Handler.Stats().PublishRetries == 1, "the first retry scheduled");
        var stopping = rig.Handler.StopAsync();
        for (var retry = 2; retry <= 10; retry++)
        {
            var scheduled = retry;
            rig.Advance(TimeSpan.FromMilliseconds(100));
            Waiting.Until(
                () => rig.Handler.Stats().PublishRetries == scheduled || stopping.IsCompleted,
                $"retry {scheduled} scheduled");
            Assert.False(stopping.IsCompleted);
        }

        rig.Advance(TimeSpan.FromMilliseconds(100));

        Assert.Equal(3, await Waiting.For(stopping));
        foreach (var receipt in receipts)
        {
            var error = await Assert.ThrowsAsync<ToastRejectedException>(() => Waiting.For(receipt.Filed!));
            Assert.Equal(ToastRejection.Stopping, error.Reason);
        }

        Assert.Equal(
            (3L, 0, 0L),
            (rig.Handler.Stats().EventsUndelivered,
                rig.Handler.Stats().QueueDepth,
                rig.Handler.Stats().EventsPublished));
    }

    [Fact]
    public async Task StopAsync_DrainTimeoutZero_AbandonsAtOnce()
    {
        using var rig = new HandlerRig(s => s with { DrainTimeout = TimeSpan.Zero });
        rig.Sink.Failing = true;
        await rig.AcceptAsync(TestEvents.Make());
        Waiting.Until(() => rig.Handler.Stats().PublishRetries == 1, "the first retry scheduled");

        Assert.Equal(1, await Waiting.For(rig.Handler.StopAsync()));
    }

    [Fact]
    public async Task HandleAsync_AfterStop_RejectedStopping()
    {
        using var rig = new HandlerRig();
        await Waiting.For(rig.Handler.StopAsync());

        var error = await Assert.ThrowsAsync<ToastRejectedException>(
            () => rig.Handler.HandleAsync(TestEvents.Make(), CancellationToken.None).AsTask());

        Assert.Equal(ToastRejection.Stopping, error.Reason);
    }

    [Fact]
    public async Task BeginStop_PublisherWaitingForRoom_RejectedStopping()
    {
        using var rig = new HandlerRig(s => s with { MaxSize = 1 });
        rig.Sink.Hold();
        await rig.AcceptAsync(TestEvents.Make());
        var waiting = rig.Handler.HandleAsync(TestEvents.Make(), CancellationToken.None).AsTask();

        rig.Handler.BeginStop();

        var error = await Assert.ThrowsAsync<ToastRejectedException>(() => Waiting.For(waiting));
        Assert.Equal(ToastRejection.Stopping, error.Reason);
    }
}
