using System.Collections.Concurrent;
using Marie.Events.Broker;
using Marie.Events.Gateway.Toast;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Marie.Events.Gateway.Tests;

/// <summary>The Toast registry: matching, priority, independence of handlers, failures.</summary>
public sealed class ToastRegistryTests : IDisposable
{
    private readonly RecordingLoggerFactory _logs = new();
    private readonly FakeTimeProvider _time = new(HandlerRig.StartTime);
    private readonly ConcurrentQueue<string> _calls = new();

    private ToastRegistry NewRegistry() => new(_logs.CreateLogger<ToastRegistry>());

    public void Dispose() => _logs.Dispose();

    [Theory]
    [InlineData("extract.completed", "star,extract,extract-star")]
    [InlineData("extraction", "star,extract-bare")]
    [InlineData("run.success", "star")]
    public async Task DispatchAsync_PrefixAndStar_OnlyMatchingHandlersGetTheEvent(string eventName, string expected)
    {
        var registry = NewRegistry();
        registry.Register(new RecordingHandler("star", _calls), ["*"], 0);
        registry.Register(new RecordingHandler("extract", _calls), ["extract."], 1);
        registry.Register(new RecordingHandler("extract-star", _calls), ["extract.*"], 2);
        registry.Register(new RecordingHandler("extract-bare", _calls), ["extraction"], 3);

        await registry.DispatchAsync(TestEvents.Make(name: eventName), CancellationToken.None);

        Assert.Equal(expected.Split(','), _calls);
    }

    [Fact]
    public async Task DispatchAsync_Priorities_HandedInPriorityOrderThenRegistrationOrder()
    {
        var registry = NewRegistry();
        registry.Register(new RecordingHandler("late", _calls), ["*"], 100);
        registry.Register(new RecordingHandler("first", _calls), ["*"], 0);
        registry.Register(new RecordingHandler("second", _calls), ["*"], 0);

        await registry.DispatchAsync(TestEvents.Make(), CancellationToken.None);

        Assert.Equal(["first", "second", "late"], _calls);
        Assert.Equal(["first", "second", "late"], registry.Registrations.Select(r => r.Handler.Name));
    }

    [Fact]
    public async Task DispatchAsync_HandlerThrows_LoggedCountedAndTheOthersStillGetTheEvent()
    {
        var registry = NewRegistry();
        registry.Register(new RecordingHandler("broken", _calls, fail: true), ["*"], 0);
        registry.Register(new RecordingHandler("fine", _calls), ["*"], 1);

        var dispatch = await registry.DispatchAsync(TestEvents.Make(id: "e1"), CancellationToken.None);

        Assert.Equal(["broken", "fine"], _calls);
        Assert.Equal("e1", dispatch.Id);
        Assert.Equal(1, registry.HandlerFailures);
        var log = Assert.Single(_logs.Entries, e => e.EventId.Id == 5040);
        Assert.Equal(LogLevel.Error, log.Level);
        Assert.Contains("broken", log.Message, StringComparison.Ordinal);
        Assert.Contains("e1", log.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DispatchAsync_SlowHandlerFirst_TheNextHandlerGetsTheEventWithoutWaitingForIt()
    {
        var registry = NewRegistry();
        var slow = new SlowHandler();
        var fast = new RecordingHandler("fast", _calls);
        registry.Register(slow, ["*"], 0);
        registry.Register(fast, ["*"], 1);

        var dispatch = registry.DispatchAsync(TestEvents.Make(), CancellationToken.None).AsTask();

        Assert.Equal(["fast"], _calls);
        Assert.False(dispatch.IsCompleted);
        slow.Finish();
        await Waiting.For(dispatch);
    }

    [Fact]
    public async Task DispatchAsync_FirstHandlerRejects_OthersStillGetTheEventThenTheRejectionIsThrown()
    {
        var registry = NewRegistry();
        registry.Register(new RecordingHandler("full", _calls, reject: true), ["*"], 0);
        registry.Register(new RecordingHandler("fine", _calls), ["*"], 1);

        var error = await Assert.ThrowsAsync<ToastRejectedException>(
            () => registry.DispatchAsync(TestEvents.Make(), CancellationToken.None).AsTask());

        Assert.Equal(ToastRejection.QueueFull, error.Reason);
        Assert.Equal(["full", "fine"], _calls);
        Assert.Equal(0, registry.HandlerFailures);
    }

    [Fact]
    public async Task DispatchAsync_NoHandlerMatches_CountedUnhandledWithoutBrokerResult()
    {
        var registry = NewRegistry();
        registry.Register(new RecordingHandler("extract", _calls), ["extract."], 0);

        var dispatch = await registry.DispatchAsync(TestEvents.Make(name: "run.success"), CancellationToken.None);

        Assert.Null(dispatch.Filed);
        Assert.Equal((1L, 1L), (registry.Dispatched, registry.Unhandled));
        Assert.Empty(_calls);
    }

    [Fact]
    public async Task DispatchAsync_FilingHandler_ReturnsItsBrokerResult()
    {
        var registry = NewRegistry();
        registry.Register(new RecordingHandler("native", _calls), ["*"], 100);
        registry.Register(new FilingHandler(), ["*"], 0);

        var dispatch = await registry.DispatchAsync(TestEvents.Make("tenant-x"), CancellationToken.None);

        Assert.Equal(new PublishResult(dispatch.Id, "tenant-x", 42), await Waiting.For(dispatch.Filed!));
    }

    [Fact]
    public async Task DispatchAsync_OnlyHandlerRejects_RejectionThrown()
    {
        var registry = NewRegistry();
        registry.Register(new RecordingHandler("full", _calls, reject: true), ["*"], 0);

        var error = await Assert.ThrowsAsync<ToastRejectedException>(
            () => registry.DispatchAsync(TestEvents.Make(), CancellationToken.None).AsTask());

        Assert.Equal(ToastRejection.QueueFull, error.Reason);
        Assert.Equal(0, registry.HandlerFailures);
    }

    [Fact]
    public async Task DispatchAsync_OnlyHandlerThrows_LoggedCountedAndNoBrokerResult()
    {
        var registry = NewRegistry();
        registry.Register(new RecordingHandler("broken", _calls, fail: true), ["*"], 0);

        var dispatch = await registry.DispatchAsync(TestEvents.Make(id: "e2"), CancellationToken.None);

        Assert.Null(dispatch.Filed);
        Assert.Equal(1, registry.HandlerFailures);
        Assert.Contains(_logs.Entries, e => e.EventId.Id == 5040 && e.Message.Contains("e2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DispatchAsync_OnlyHandlerSlow_CompletesWhenItAccepts()
    {
        var registry = NewRegistry();
        var slow = new SlowHandler();
        registry.Register(slow, ["*"], 0);

        var dispatching = registry.DispatchAsync(TestEvents.Make(), CancellationToken.None).AsTask();
        Assert.False(dispatching.IsCompleted);
        slow.Finish();

        Assert.Null((await Waiting.For(dispatching)).Filed);
    }

    private sealed class RecordingHandler(
        string name,
        ConcurrentQueue<string> calls,
        bool fail = false,
        bool reject = false) : IToastHandler
    {
        public string Name => name;

        public ConcurrentQueue<EventData> Seen { get; } = new();

        public ValueTask<ToastReceipt> HandleAsync(EventData evt, CancellationToken cancellationToken)
        {
            calls.Enqueue(name);
            Seen.Enqueue(evt);
            if (fail)
            {
                throw new InvalidOperationException("handler bug");
            }

            if (reject)
            {
                throw new ToastRejectedException(ToastRejection.QueueFull, "full");
            }

            return ValueTask.FromResult(ToastReceipt.Accepted);
        }
    }

    private sealed class SlowHandler : IToastHandler
    {
        private readonly TaskCompletionSource<ToastReceipt> _done = new(
            TaskCreationOptions.RunContinuationsAsynchronously);

        public string Name => "slow";

        public void Finish() => _done.SetResult(ToastReceipt.Accepted);

        public ValueTask<ToastReceipt> HandleAsync(EventData evt, CancellationToken cancellationToken) =>
            new(_done.Task);
    }

    private sealed class FilingHandler : IToastHandler
    {
        public string Name => "filing";

        public ValueTask<ToastReceipt> HandleAsync(EventData evt, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new ToastReceipt(Task.FromResult(new PublishResult(evt.Id, evt.ApiKey, 42))));
    }
}
