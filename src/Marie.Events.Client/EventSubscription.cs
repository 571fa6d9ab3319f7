using System.Diagnostics;
using System.Runtime.CompilerServices;
using Marie.Events.Client.Internal;
using Marie.Events.Protocol;

namespace Marie.Events.Client;

/// <summary>
/// A subscription on an <see cref="EventStreamClient"/>'s stream. Read its events with <c>await foreach</c> (it is an
/// <see cref="IAsyncEnumerable{T}"/>; one reader at a time), or pass a handler to
/// <see cref="EventStreamClient.SubscribeAsync(SubscriptionOptions, Func{ReceivedEvent, CancellationToken, ValueTask},
/// CancellationToken)"/>.
/// It survives reconnects: the client resubscribes it, resuming each topic after the last event processed, and drops
/// duplicates. Dispose it to unsubscribe.
/// </summary>
public sealed partial class EventSubscription : IAsyncEnumerable<ReceivedEvent>, IAsyncDisposable
{
    private readonly EventStreamClient _client;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, TopicTracker> _trackers = new(StringComparer.Ordinal);
    private readonly HandOverBuffer _buffer;
    private readonly TaskCompletionSource _confirmed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _unsubscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string[] _events;
    private readonly IReadOnlyDictionary<string, long> _initialResume;
    private readonly IReadOnlyDictionary<string, string> _initialEpochs;
    private readonly int? _initialReplayCount;
    private readonly long? _initialLastSequence;
    private readonly int _maxProcessingAttempts;
    private readonly long[] _backoffMs;
    private readonly int _maxRedeliveryAttempts;
    private readonly bool _autoExtend;
    private readonly TimeSpan _maxAutoExtension;
    private readonly string? _durableName;
    private readonly string? _group;
    private SettleLimits? _limits;
    private SubscriptionFilter _filter;
    private FilterConfig _filterProto;
    private bool _everConfirmed;
    private long _confirmedSession;
    private int _conflicts;
    private int _reading;
    private int _closed;
    private BackpressureEventArgs? _lastBackpressure;
    private SubscriptionConfirm? _lastConfirmation;
    private Exception? _failure;

    internal EventSubscription(EventStreamClient client, SubscriptionOptions options, string id)
    {
        _client = client;
        Id = id;
        Topics = [.. options.Topics];
        AckMode = options.AckMode;
        _events = [.. options.Events];
        _filter = Copy(options.Filter);
        _filterProto = _filter.ToProto();
        _initialResume = new Dictionary<string, long>(options.ResumeFrom, StringComparer.Ordinal);
        _initialEpochs = new Dictionary<string, string>(options.TopicEpochs, StringComparer.Ordinal);
        _initialReplayCount = options.ReplayCount;
        _initialLastSequence = options.LastSequenceNum;
        _maxProcessingAttempts = options.MaxProcessingAttempts;
        _backoffMs = [.. options.RedeliveryBackoff.Select(w => (long)w.TotalMilliseconds)];
        _maxRedeliveryAttempts = options.MaxRedeliveryAttempts ?? 0;
        _autoExtend = options.AutoExtend;
        _maxAutoExtension = options.MaxAutoExtension;
        _durableName = options.DurableName;
        _group = options.Group;
        _buffer = new HandOverBuffer(options.BufferCapacity);
    }

    /// <summary>Raised for each error the gateway reports about this subscription (events lost, epoch changed, a
    /// refused ack or filter update) and each event given up (<see cref="EventProcessingFailedException"/>).
    /// Handlers run on the client's reader: keep them short. Errors are also logged and raised on
    /// <see cref="EventStreamClient.ErrorReceived"/>.</summary>
    public event EventHandler<EventStreamErrorEventArgs>? ErrorReceived;

    /// <summary>Raised for each <c>BackpressureSignal</c> about this subscription (the client has already flushed its
    /// acks when it runs). Handlers run on the client's reader: keep them short.</summary>
    public event EventHandler<BackpressureEventArgs>? Backpressure;

    /// <summary>The subscription id.</summary>
    public string Id { get; }

    /// <summary>The topics as requested.</summary>
    public IReadOnlyList<string> Topics { get; }

    /// <summary>The ack mode.</summary>
    public AckMode AckMode { get; }

    /// <summary>The last <c>BackpressureSignal</c> about this subscription, if any.</summary>
    public BackpressureEventArgs? LastBackpressure => Volatile.Read(ref _lastBackpressure);

    /// <summary>The gateway's last <c>SubscriptionConfirm</c> of this subscription (the topics, each topic's head and
    /// epoch when it took effect); it is replaced on each resubscribe after a reconnect. Set before
    /// <see cref="EventStreamClient.SubscribeAsync(SubscriptionOptions, CancellationToken)"/> returns.</summary>
    public SubscriptionConfirm? LastConfirmation => Volatile.Read(ref _lastConfirmation);

    /// <summary>The durable subscription's name as the gateway's last <c>SubscriptionConfirm</c> echoes it
    /// (<see cref="SubscriptionOptions.DurableName"/>); null for a plain subscription, before the confirm, or when the
    /// gateway reports none (one without durable subscriptions, which ignores the option).</summary>
    public string? DurableName => LastConfirmation is { DurableName.Length: > 0 } confirm ? confirm.DurableName : null;

    /// <summary>The consumer group as the gateway's last <c>SubscriptionConfirm</c> echoes it
    /// (<see cref="SubscriptionOptions.Group"/>); null when none.</summary>
    public string? Group => LastConfirmation is { Group.Length: > 0 } confirm ? confirm.Group : null;

    /// <summary>The effective settle limits from the gateway's last <c>SubscriptionConfirm</c>; null before the
    /// first confirm, or when the gateway reports none (one without the settle verbs: then no automatic
    /// extension).</summary>
    public SettleLimits? Limits => Volatile.Read(ref _limits);

    /// <summary>Completes when the subscription ends: disposed (successfully), or failed (the client gave up:
    /// faulted with the <see cref="EventStreamException"/>). With a handler, also faulted when the handler loop
    /// fails.</summary>
    public Task Completion => _completion.Task;

    /// <summary>The filter in force (the last one passed to <see cref="UpdateFilterAsync"/>, or the initial
    /// one).</summary>
    public SubscriptionFilter Filter
    {
        get
        {
            lock (_gate)
            {
                return Copy(_filter);
            }
        }
    }

    private bool Closed => Volatile.Read(ref _closed) != 0;

    /// <summary>Per topic, the last sequence number processed with everything before it, and its epoch: what the
    /// client resumes from after a reconnect, and what to keep to resume in a later process.</summary>
    public IReadOnlyDictionary<string, ResumePoint> GetResumePoints()
    {
        lock (_gate)
        {
            return _trackers.Values
                .Where(t => t.Started)
                .ToDictionary(t => t.Topic, t => new ResumePoint(t.Watermark, t.Epoch), StringComparer.Ordinal);
        }
    }

    /// <summary>
    /// Replaces the subscription's filter on the gateway (its event names stay) for every event dispatched after the
    /// gateway reads the update; also used when the client resubscribes after a reconnect. Returns once the update is
    /// written to the stream (or kept for the next stream when none is open). A refusal comes as
    /// <see cref="ErrorReceived"/>.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The subscription has ended.</exception>
    public Task UpdateFilterAsync(SubscriptionFilter filter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ObjectDisposedException.ThrowIf(Closed, this);
        FilterConfig proto;
        lock (_gate)
        {
            _filter = Copy(filter);
            _filterProto = _filter.ToProto();
            proto = _filterProto;
        }

        return _client.SendFilterUpdateAsync(this, proto, cancellationToken);
    }

    /// <summary>Sends the acknowledgements waiting in the batch now; completes once they are written to the
    /// stream.</summary>
    public Task FlushAcksAsync(CancellationToken cancellationToken = default) =>
        _client.FlushAcksAsync(cancellationToken);

    /// <summary>Reads the subscription's events. In <see cref="AckMode.Auto"/> an event is acknowledged when the
    /// loop asks for the next one; one the loop leaves while holding it (a <c>break</c>, an exception) is not
    /// acknowledged (call <see cref="ReceivedEvent.AckAsync"/> before <c>break</c> to acknowledge it) and is handed
    /// over again when redelivered. Ends when the subscription is disposed; throws the
    /// <see cref="EventStreamException"/> when the client failed for good.</summary>
    /// <exception cref="InvalidOperationException">Another reader (or a handler) is reading.</exception>
    public async IAsyncEnumerable<ReceivedEvent> ReadAllAsync(
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        BeginReading();
        ReceivedEvent? current = null;
        ReceivedEvent? done = null;
        Activity? span = null;
        try
        {
            // The event processed last is completed in the same lock section that takes the next one.
            while (await TakeAsync(done, cancellationToken).ConfigureAwait(false) is { } next)
            {
                done = null;
                current = next;
                // From hand-over until the loop asks for the next event (not Activity.Current in the loop's body).
                span = ClientTracing.StartProcess(next);
                yield return next;
                ClientTracing.EndProcess(span);
                span = null;
                done = AckMode == AckMode.Auto ? Settled(next) : null;
                current = null;
            }
        }
        finally
        {
            ClientTracing.EndProcess(span);
            if (current is not null && AckMode == AckMode.Auto)
            {
                Abandon(current, null);
            }

            Volatile.Write(ref _reading, 0);
        }
    }

    /// <inheritdoc cref="ReadAllAsync"/>
    public IAsyncEnumerator<ReceivedEvent> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);

    /// <summary>Unsubscribes: sends the waiting acks, then an <c>UnsubscribeRequest</c>, and waits (up to the
    /// connect timeout) for the gateway's confirmation. Events still buffered are not handed over.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        try
        {
            await _client.UnsubscribeAsync(this).ConfigureAwait(false);
        }
        finally
        {
            EndBuffer();
            _completion.TrySetResult();
        }
    }

    /// <summary>Runs <paramref name="handler"/> for each event until the subscription ends.</summary>
    internal async Task RunHandlerAsync(
        Func<ReceivedEvent, CancellationToken, ValueTask> handler,
        CancellationToken cancellationToken)
    {
        BeginReading();
        ReceivedEvent? done = null;
        try
        {
            while (await TakeAsync(done, cancellationToken).ConfigureAwait(false) is { } next)
            {
                done = null;
                // Activity.Current while the handler runs, so the application's spans nest in it.
                var span = ClientTracing.StartProcess(next);
                try
                {
                    using var lease = _autoExtend
                        ? AckLease.Start(this, next, Limits, _maxAutoExtension, _client.Time)
                        : null;
                    await handler(next, cancellationToken).ConfigureAwait(false);
                    ClientTracing.EndProcess(span);
                }
#pragma warning disable CA1031 // A consumer's failure on one event must not end the subscription.
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
#pragma warning restore CA1031
                {
                    ClientTracing.EndProcess(span, ex);
                    Abandon(next, ex);
                    continue;
                }

                done = AckMode == AckMode.Auto ? Settled(next) : null;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped by the caller.
        }
        catch (Exception) when (Completion.IsFaulted)
        {
            // The client failed for good: Completion carries the error.
        }
        finally
        {
            Volatile.Write(ref _reading, 0);
        }
    }

    private void BeginReading()
    {
        if (Interlocked.Exchange(ref _reading, 1) != 0)
        {
            throw new InvalidOperationException(
                $"Subscription {Id} already has a reader (one await foreach or handler at a time).");
        }
    }

    private static SubscriptionFilter Copy(SubscriptionFilter filter)
    {
        var copy = new SubscriptionFilter();
        foreach (var s in filter.IncludeSources)
        {
            copy.IncludeSources.Add(s);
        }

        foreach (var s in filter.ExcludeSources)
        {
            copy.ExcludeSources.Add(s);
        }

        foreach (var s in filter.JobIds)
        {
            copy.JobIds.Add(s);
        }

        foreach (var (key, value) in filter.MetadataMatch)
        {
            copy.MetadataMatch[key] = value;
        }

        return copy;
    }
}
