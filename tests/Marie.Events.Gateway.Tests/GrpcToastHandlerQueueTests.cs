using Marie.Events.Gateway.Toast;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Tests;

/// <summary><c>toast.grpc.queue.*</c>: maxsize, drop_if_full, enqueue_timeout_s.</summary>
public sealed class GrpcToastHandlerQueueTests
{
    [Fact]
    public async Task HandleAsync_QueueHasRoom_FilesWithTheBrokerInOrder()
    {
        using var rig = new HandlerRig();

        var first = await rig.AcceptAsync(TestEvents.Make());
        var second = await rig.AcceptAsync(TestEvents.Make());

        Assert.Equal(1, (await Waiting.For(first.Filed!)).SequenceNum);
        Assert.Equal(2, (await Waiting.For(second.Filed!)).SequenceNum);
        Assert.Equal((2L, 2L), (rig.Handler.Stats().EventsAccepted, rig.Handler.Stats().EventsPublished));
    }

    [Fact]
    public async Task HandleAsync_QueueFullDropIfFullFalse_WaitsForRoomThenAccepts()
    {
        using var rig = new HandlerRig(s => s with { MaxSize = 2 });
        rig.Sink.Hold();
        var first = await rig.AcceptAsync(TestEvents.Make());
        var second = await rig.AcceptAsync(TestEvents.Make());

        var third = rig.Handler.HandleAsync(TestEvents.Make(), CancellationToken.None).AsTask();
        Waiting.Until(() => rig.Sink.Held == 1, "the first event at the broker");

        Assert.False(third.IsCompleted);
        Assert.Equal(2, rig.Handler.Stats().QueueDepth);
        rig.Sink.Release();
        var receipt = await Waiting.For(third);
        Assert.Equal(3, (await Waiting.For(receipt.Filed!)).SequenceNum);
        Assert.Equal(0, rig.Handler.Stats().EventsDropped);
        _ = (first, second);
    }

    [Fact]
    public async Task HandleAsync_QueueFullPastEnqueueTimeout_RejectedQueueFull()
    {
        using var rig = new HandlerRig(s => s with { MaxSize = 1, EnqueueTimeout = TimeSpan.FromSeconds(1) });
        rig.Sink.Hold();
        await rig.AcceptAsync(TestEvents.Make());
        var waiting = rig.Handler.HandleAsync(TestEvents.Make(id: "late"), CancellationToken.None).AsTask();

        rig.Advance(TimeSpan.FromMilliseconds(990));
        Assert.False(waiting.IsCompleted);
        rig.Advance(TimeSpan.FromMilliseconds(10));

        var error = await Assert.ThrowsAsync<ToastRejectedException>(() => Waiting.For(waiting));
        Assert.Equal(ToastRejection.QueueFull, error.Reason);
        Assert.Contains("late", error.Message, StringComparison.Ordinal);
        Assert.Contains("enqueue_timeout_s (1 s)", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, rig.Handler.Stats().EnqueueTimeouts);
    }

    [Fact]
    public async Task HandleAsync_QueueFullEnqueueTimeoutZero_WaitsUntilTheCallerGivesUp()
    {
        using var rig = new HandlerRig(s => s with { MaxSize = 1, EnqueueTimeout = TimeSpan.Zero });
        rig.Sink.Hold();
        await rig.AcceptAsync(TestEvents.Make());
        using var caller = new CancellationTokenSource();
        var waiting = rig.Handler.HandleAsync(TestEvents.Make(), caller.Token).AsTask();

        rig.Time.Advance(TimeSpan.FromHours(1));
        Assert.False(waiting.IsCompleted);
        await caller.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Waiting.For(waiting));
        Assert.Equal(0, rig.Handler.Stats().EnqueueTimeouts);
    }

    [Fact]
    public async Task HandleAsync_QueueFullDropIfFull_DroppedAtOnceWithWarningAndCounted()
    {
        using var rig = new HandlerRig(s => s with { MaxSize = 1, DropIfFull = true });
        rig.Sink.Hold();
        await rig.AcceptAsync(TestEvents.Make());

        var error = await Assert.ThrowsAsync<ToastRejectedException>(
            () => rig.Handler.HandleAsync(TestEvents.Make(id: "dropped-one"), CancellationToken.None).AsTask());

        Assert.Equal(ToastRejection.Dropped, error.Reason);
        var warning = Assert.Single(rig.Logs.Entries, e => e.EventId.Id == 5010);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.StartsWith(
            "Queue full for toast handler grpc, event dropped",
            warning.Message,
            StringComparison.Ordinal);
        Assert.Contains("dropped-one", warning.Message, StringComparison.Ordinal);
        Assert.Equal(1, rig.Handler.Stats().EventsDropped);
    }

    [Fact]
    public async Task HandleAsync_DropIfFullQueueHasRoom_Accepted()
    {
        using var rig = new HandlerRig(s => s with { MaxSize = 2, DropIfFull = true });

        var receipt = await rig.AcceptAsync(TestEvents.Make());

        Assert.Equal(1, (await Waiting.For(receipt.Filed!)).SequenceNum);
        Assert.Equal(0, rig.Handler.Stats().EventsDropped);
    }

    [Fact]
    public async Task HandleAsync_SlotFreedWhenFiled_MaxsizeCountsUnfiledEventsOnly()
    {
        using var rig = new HandlerRig(s => s with { MaxSize = 1, DropIfFull = true });

        for (var i = 0; i < 5; i++)
        {
            var receipt = await rig.AcceptAsync(TestEvents.Make());
            await Waiting.For(receipt.Filed!);
            Waiting.Until(() => rig.Handler.Stats().QueueDepth == 0, "the slot freed");
        }

        Assert.Equal((5L, 0L), (rig.Handler.Stats().EventsPublished, rig.Handler.Stats().EventsDropped));
    }
}
