using System.Collections.Concurrent;
using Marie.Events.Broker;
using Marie.Events.Broker.Storage;
using Marie.Events.Gateway.Toast;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Marie.Events.Gateway.Tests;

// Helpers for the Toast pipeline's unit tests. Handler workers run on the thread pool, so a test waits for what
// they do with Waiting.Until (a condition and a timeout, never a fixed delay). Backoff and timeouts use the
// FakeTimeProvider: a retry's timer exists before GrpcToastHandler counts it in PublishRetries, so a test waits for
// that count and then advances time exactly.

/// <summary>Waiting for a condition.</summary>
public static class Waiting
{
    /// <summary>The longest a test waits for something that should happen.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public static void Until(Func<bool> condition, string what)
    {
        if (!SpinWait.SpinUntil(condition, Timeout))
        {
            throw new Xunit.Sdk.XunitException($"Timed out waiting for: {what}");
        }
    }

    /// <summary>Awaits a task with the test timeout.</summary>
    public static Task<T> For<T>(Task<T> task) => task.WaitAsync(Timeout);

    public static Task For(Task task) => task.WaitAsync(Timeout);
}

/// <summary>Event builders.</summary>
public static class TestEvents
{
    public static EventData Make(string topic = "tenant-a", string name = "extract.completed", string? id = null) =>
        new()
    {
        Id = id ?? Guid.NewGuid().ToString("N"),
        ApiKey = topic,
        Event = name,
        Source = "gateway://unit-tests",
        Status = "OK",
        Timestamp = 1_700_000_000,
    };
}

/// <summary>
/// A backend a test steers, around the real memory backend of a real broker: it can fail appends (all, or one
/// topic's, or the next N), or hold them until released. Every append attempt is recorded (by its first event) with
/// the fake time it started at.
/// </summary>
internal sealed class ScriptedSink : IEventBackend
{
    private readonly MemoryEventBackend _inner = new();
    private readonly FakeTimeProvider _time;
    private readonly ConcurrentQueue<(string Id, string Topic, DateTimeOffset At, bool Failed)> _attempts = new();
    private TaskCompletionSource _gate = Open();
    private int _failNext;

    public ScriptedSink(FakeTimeProvider time, int maxTopics = 10_000)
    {
        _time = time;
        var options = new BrokerOptions();
        options.Limits.MaxTopics = maxTopics;
        Broker = new GrpcEventBroker(options, time, null, this);
        Broker.StartAsync().GetAwaiter().GetResult();
    }

    public GrpcEventBroker Broker { get; }

    /// <summary>Fail every attempt while true.</summary>
    public volatile bool Failing;

    /// <summary>When set, only events of this topic fail while <see cref="Failing"/>.</summary>
    public string? FailingTopic { get; set; }

    public IReadOnlyList<(string Id, string Topic, DateTimeOffset At, bool Failed)> Attempts => [.. _attempts];

    public int AttemptCount => _attempts.Count;

    /// <summary>The ids filed, in filing order.</summary>
    public ConcurrentQueue<string> Filed { get; } = new();

    /// <summary>Fail the next <paramref name="count"/> attempts.</summary>
    public void FailNext(int count) => Volatile.Write(ref _failNext, count);

    /// <summary>Attempts wait (before they do anything) until <see cref="Release"/>.</summary>
    public void Hold() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release() => _gate.TrySetResult();

    /// <summary>Attempts waiting at the gate.</summary>
    public int Held => Volatile.Read(ref _held);

    private int _held;

    public string Name => "scripted";

    /// <summary>Appends of a topic the handler may have in flight at once (the backend's answer).</summary>
    public int MaxAppendsInFlight { get; set; } = 1;

    public string InitialEpoch(string topic) => _inner.InitialEpoch(topic);

    public Task<BackendLoad> StartAsync(IEventBackendListener listener, CancellationToken cancellationToken) =>
        _inner.StartAsync(listener, cancellationToken);

    public async ValueTask<AppendResult> AppendAsync(
        string topic,
        IReadOnlyList<EventData> events,
        DateTimeOffset publishedAt,
        CancellationToken cancellationToken)
    {
        var gate = _gate.Task;
        if (!gate.IsCompleted)
        {
            Interlocked.Increment(ref _held);
            await gate.WaitAsync(cancellationToken);
            Interlocked.Decrement(ref _held);
        }

        var fail = (Failing && (FailingTopic is null || FailingTopic == topic)) || TryTakeFailure();
        _attempts.Enqueue((events[0].Id, topic, _time.GetUtcNow(), fail));
        if (fail)
        {
            throw new BackendException("broker backend down (scripted)");
        }

        var result = await _inner.AppendAsync(topic, events, publishedAt, cancellationToken);
        foreach (var evt in events)
        {
            Filed.Enqueue(evt.Id);
        }

        return result;
    }

    public ValueTask<IReadOnlyList<BackendEvent>> ReadAsync(
        string topic,
        long first,
        long last,
        CancellationToken cancellationToken) =>
        _inner.ReadAsync(topic, first, last, cancellationToken);

    public ValueTask<IReadOnlyDictionary<string, BackendTopic>> DescribeAsync(
        IReadOnlyCollection<string> topics,
        CancellationToken cancellationToken) =>
        _inner.DescribeAsync(topics, cancellationToken);

    public ValueTask<IReadOnlyList<string>> ListTopicsAsync(CancellationToken cancellationToken) =>
        _inner.ListTopicsAsync(cancellationToken);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private bool TryTakeFailure()
    {
        while (true)
        {
            var left = Volatile.Read(ref _failNext);
            if (left <= 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _failNext, left - 1, left) == left)
            {
                return true;
            }
        }
    }

    private static TaskCompletionSource Open()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }
}

/// <summary>A gRPC toast handler on fake time with a scripted sink and captured logs.</summary>
internal sealed class HandlerRig : IDisposable
{
    public static readonly DateTimeOffset StartTime = new(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);

    public HandlerRig(Func<GrpcToastSettings, GrpcToastSettings>? configure = null, int maxTopics = 10_000)
    {
        Time = new FakeTimeProvider(StartTime);
        Sink = new ScriptedSink(Time, maxTopics);
        Logs = new RecordingLoggerFactory();
        Settings = configure?.Invoke(GrpcToastSettings.Default) ?? GrpcToastSettings.Default;
        Handler = new GrpcToastHandler(Sink.Broker, Settings, Time, Logs.CreateLogger<GrpcToastHandler>());
    }

    public FakeTimeProvider Time { get; }
    public ScriptedSink Sink { get; }
    public RecordingLoggerFactory Logs { get; }
    public GrpcToastSettings Settings { get; }
    public GrpcToastHandler Handler { get; }

    /// <summary>Hands an event over and returns its receipt (the admission must complete at once).</summary>
    public async Task<ToastReceipt> AcceptAsync(EventData evt) =>
        await Waiting.For(Handler.HandleAsync(evt, CancellationToken.None).AsTask());

    /// <summary>Advances fake time in 10 ms steps (each timer sees its own time).</summary>
    public void Advance(TimeSpan delta)
    {
        var step = TimeSpan.FromMilliseconds(10);
        while (delta > TimeSpan.Zero)
        {
            var next = delta < step ? delta : step;
            Time.Advance(next);
            delta -= next;
        }
    }

    public void Dispose()
    {
        Sink.Release();
        Handler.Dispose();
        Sink.Broker.Dispose();
    }
}

/// <summary>One captured log entry.</summary>
public sealed record RecordedLogEntry(
    string Category,
    LogLevel Level,
    EventId EventId,
    string Message,
    Exception? Exception);

/// <summary>Captures every log entry of every logger it creates.</summary>
public sealed class RecordingLoggerFactory : ILoggerFactory
{
    private readonly ConcurrentQueue<RecordedLogEntry> _entries = new();

    public IReadOnlyList<RecordedLogEntry> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new RecordingLogger(this, categoryName);

    public ILogger<T> CreateLogger<T>() => new Logger<T>(this);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class RecordingLogger(RecordingLoggerFactory owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(
            LogLevel logLevel,
            EventId eventId,
            TState state,
            Exception? exception,
            Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue(
                new RecordedLogEntry(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
