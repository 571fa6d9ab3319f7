using System.Collections.Concurrent;
using System.Globalization;
using Marie.Events.Broker;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Toast;

/// <summary>
/// The <c>grpc</c> toast handler (Marie-AI's <c>GrpcToastHandler</c>): files events with the broker (and so its
/// backend) through a bounded queue of <c>toast.grpc.queue.maxsize</c> events. A full queue makes the publisher wait
/// for room (up to <c>enqueue_timeout_s</c>, then <see cref="ToastRejection.QueueFull"/>), or with
/// <c>drop_if_full</c> drops the event with a warning. Each topic has its own lane: events of a topic are filed in
/// the order they were accepted, a batch of what is waiting at a time (at most <see cref="MaxBatch"/>), and a failed
/// attempt is retried with exponential backoff (<c>toast.grpc.retry.*</c>) before the next event of that topic is
/// tried, so retries never reorder a topic. Topics do not wait for each other.
/// </summary>
internal sealed partial class GrpcToastHandler : IToastHandler, IDisposable
{
    public const string HandlerName = "grpc";

    /// <summary>Events of one topic filed in one append at most: bounds one append's size (and a file backend's
    /// transaction) while letting a burst share one durable write.</summary>
    public const int MaxBatch = 256;

    private readonly GrpcEventBroker _broker;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly QueueFullLog _queueFull;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentDictionary<string, TopicLane> _lanes = new(StringComparer.Ordinal);

    /// <summary>Cancelled when the gateway starts stopping: publishers waiting for room give up.</summary>
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Cancelled when the drain time is over: events not filed by then are abandoned.</summary>
    private readonly CancellationTokenSource _abort;

    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _stopRequested;
    private int _queued;
    private long _accepted;
    private long _filed;
    private long _dropped;
    private long _enqueueTimeouts;
    private long _failedAttempts;
    private long _retriesScheduled;
    private long _givenUp;
    private long _invalid;
    private long _undelivered;

    public GrpcToastHandler(
        GrpcEventBroker broker,
        GrpcToastSettings settings,
        TimeProvider time,
        ILogger<GrpcToastHandler> logger)
    {
        ArgumentNullException.ThrowIfNull(broker);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxSize, 1);
        _broker = broker;
        Settings = settings;
        _time = time;
        _logger = logger;
        _queueFull = new QueueFullLog(logger, HandlerName, time);
        _slots = new SemaphoreSlim(settings.MaxSize, settings.MaxSize);
        _abort = new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);
    }

    public string Name => HandlerName;

    public GrpcToastSettings Settings { get; }

    /// <summary>
    /// Accepts the event into the queue (waiting for room as configured) and returns a receipt whose
    /// <see cref="ToastReceipt.Filed"/> completes when the broker filed it. Once accepted, an event is filed even if
    /// the caller stops waiting.
    /// </summary>
    /// <exception cref="ToastRejectedException">Queue full (dropped or timed out), or the gateway is
    /// stopping.</exception>
    /// <exception cref="OperationCanceledException">The caller gave up (deadline, cancel) while waiting for
    /// room.</exception>
    public ValueTask<ToastReceipt> HandleAsync(EventData evt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (IsStopping)
        {
            throw StoppingRejection(evt);
        }

        if (_slots.Wait(0, CancellationToken.None))
        {
            return ValueTask.FromResult(Admit(evt));
        }

        if (Settings.DropIfFull)
        {
            Interlocked.Increment(ref _dropped);
            _queueFull.Dropped(evt);
            throw new ToastRejectedException(
                ToastRejection.Dropped,
                $"Queue full for toast handler {HandlerName}, event dropped (id {evt.Id})");
        }

        return WaitForRoomAsync(evt, cancellationToken);
    }

    private async ValueTask<ToastReceipt> WaitForRoomAsync(EventData evt, CancellationToken cancellationToken)
    {
        var timeout = Settings.EnqueueTimeout;
        using var timer = timeout > TimeSpan.Zero ? new CancellationTokenSource(timeout, _time) : null;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(
            cancellationToken, _stopping.Token, timer?.Token ?? CancellationToken.None);
        try
        {
            await _slots.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (
            !cancellationToken.IsCancellationRequested && _stopping.IsCancellationRequested)
        {
            throw StoppingRejection(evt);
        }
        catch (OperationCanceledException) when (
            !cancellationToken.IsCancellationRequested && timer is { IsCancellationRequested: true })
        {
            Interlocked.Increment(ref _enqueueTimeouts);
            var seconds = timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture);
            ToastLog.EnqueueTimedOut(_logger, HandlerName, evt.Id, seconds);
            throw new ToastRejectedException(ToastRejection.QueueFull,
                $"Queue full for toast handler {HandlerName}: event {evt.Id} not accepted within " +
                $"toast.grpc.queue.enqueue_timeout_s ({seconds} s)");
        }

        return Admit(evt);
    }

    /// <summary>Queues an event for which a slot was taken.</summary>
    private ToastReceipt Admit(EventData evt)
    {
        // Counted before the second stop check: a concurrent BeginStop either sees this event queued, or this
        // call sees the stop (both are full fences), so no event slips in after the drain was judged complete.
        Interlocked.Increment(ref _queued);
        if (IsStopping)
        {
            Release();
            throw StoppingRejection(evt);
        }

        Interlocked.Increment(ref _accepted);
        var pending = new PendingEvent(evt);
        Enqueue(pending);
        return new ToastReceipt(pending.Completion.Task);
    }

    /// <summary>Frees the event's slot; the last one out after a stop signals the drain complete.</summary>
    private void Release()
    {
        _slots.Release();
        if (Interlocked.Decrement(ref _queued) == 0 && IsStopping)
        {
            _drained.TrySetResult();
        }
    }

    private bool IsStopping => Volatile.Read(ref _stopRequested) != 0;

    private static ToastRejectedException StoppingRejection(EventData evt) =>
        new(ToastRejection.Stopping, $"the gateway is stopping: event {evt.Id} not accepted");

    /// <summary>A snapshot of the handler's figures.</summary>
    public GrpcToastStats Stats() => new(
        Volatile.Read(ref _queued),
        Settings.MaxSize,
        _lanes.Count,
        Interlocked.Read(ref _accepted),
        Interlocked.Read(ref _filed),
        Interlocked.Read(ref _dropped),
        Interlocked.Read(ref _enqueueTimeouts),
        Interlocked.Read(ref _failedAttempts),
        Interlocked.Read(ref _retriesScheduled),
        Interlocked.Read(ref _givenUp),
        Interlocked.Read(ref _invalid),
        Interlocked.Read(ref _undelivered));

    public void Dispose()
    {
        _stopping.Dispose();
        _abort.Dispose();
        _slots.Dispose();
    }

    /// <summary>An accepted event and whoever waits for its result.</summary>
    private sealed class PendingEvent(EventData evt)
    {
        public EventData Event { get; } = evt;

        public TaskCompletionSource<PublishResult> Completion { get; } = new(
            TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>The gRPC toast handler's figures (the <c>toast.grpc</c> part of the stats JSON).</summary>
/// <param name="QueueDepth">Events accepted and not yet filed, given up or abandoned.</param>
/// <param name="QueueMaxsize">The queue's size.</param>
/// <param name="Topics">Topics with queued events (lanes).</param>
/// <param name="EventsAccepted">Events accepted into the queue.</param>
/// <param name="EventsPublished">Events filed with the broker.</param>
/// <param name="EventsDropped">Events dropped because the queue was full (drop_if_full).</param>
/// <param name="EnqueueTimeouts">Publishes refused after waiting enqueue_timeout_s for room.</param>
/// <param name="PublishFailures">Failed publish attempts.</param>
/// <param name="PublishRetries">Retries scheduled after a failed attempt.</param>
/// <param name="EventsGivenUp">Events given up after max_attempts failed attempts.</param>
/// <param name="EventsInvalid">Events the broker refused as invalid.</param>
/// <param name="EventsUndelivered">Events abandoned at shutdown, not filed within drain_timeout_s.</param>
internal sealed record GrpcToastStats(
    int QueueDepth,
    int QueueMaxsize,
    int Topics,
    long EventsAccepted,
    long EventsPublished,
    long EventsDropped,
    long EnqueueTimeouts,
    long PublishFailures,
    long PublishRetries,
    long EventsGivenUp,
    long EventsInvalid,
    long EventsUndelivered);
