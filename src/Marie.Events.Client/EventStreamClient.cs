using System.Collections.Concurrent;
using Grpc.Net.Client;
using Marie.Events.Client.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Marie.Events.Client;

/// <summary>
/// A client of one Marie Event Stream gateway (or one list of gateway addresses) with one API key. It holds one
/// bidirectional <c>StreamEvents</c> stream, opened on the first subscribe, on which any number of subscriptions are
/// multiplexed; it acknowledges in batches, sends heartbeats, replaces a stream that fails or goes silent (with
/// exponential backoff and jitter, in address order), resumes every subscription per topic where it stood, and drops
/// duplicates. It also publishes. Thread-safe; create one per gateway and key and share it (it is meant to be a
/// singleton: see <see cref="MarieEventsClientServiceCollectionExtensions.AddMarieEventsClient"/>).
/// </summary>
public sealed partial class EventStreamClient : IAsyncDisposable, IDisposable
{
    private readonly EventStreamClientOptions _options;
    private readonly IReadOnlyList<Uri> _addresses;
    private readonly IStreamTransport _transport;
    private readonly ReconnectBackoff _backoff;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, EventSubscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly ConcurrentDictionary<Uri, GrpcChannel> _publishChannels = new();
    private StreamSession? _session;
    private Task? _loop;
    private EventStreamClientState _state;
    private Exception? _failure;
    private int _disposed;
    private int _publishAddress;

    /// <summary>Creates a client; nothing is opened until the first subscribe or publish.</summary>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    public EventStreamClient(EventStreamClientOptions options)
        : this(options, transport: null)
    {
    }

    internal EventStreamClient(
        EventStreamClientOptions options,
        IStreamTransport? transport,
        Func<double>? random = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _addresses = options.EffectiveAddresses();
        Time = options.TimeProvider ?? TimeProvider.System;
        Logger = options.LoggerFactory?.CreateLogger<EventStreamClient>() ?? (ILogger)NullLogger.Instance;
        _transport = transport ?? new GrpcStreamTransport(options);
        _backoff = random is null
            ? new ReconnectBackoff(options)
            : new ReconnectBackoff(
                options.ReconnectInitialDelay,
                options.ReconnectMaxDelay,
                options.ReconnectJitter,
                random);
    }

    /// <summary>Raised for every <c>ErrorMessage</c> the gateway sends (typed: <see cref="EventsLostException"/>,
    /// <see cref="EpochChangedException"/>, <see cref="RateLimitedException"/>, ...), every event given up
    /// (<see cref="EventProcessingFailedException"/>), and the fatal error when the client gives up. Errors are
    /// logged too. Handlers run on the client's reader: keep them short.</summary>
    public event EventHandler<EventStreamErrorEventArgs>? ErrorReceived;

    /// <summary>Raised for every <c>BackpressureSignal</c>: a subscription has many unacknowledged events on the
    /// gateway. The client has already sent its waiting acks (the one thing it can do about it); slowing down is the
    /// application's call (<see cref="BackpressureEventArgs.RecommendedDelay"/>).</summary>
    public event EventHandler<BackpressureEventArgs>? Backpressure;

    /// <summary>Raised when the stream's state changes (connecting, connected, failed). Handlers run on the
    /// client's connection loop: keep them short.</summary>
    public event EventHandler<ConnectionStateChangedEventArgs>? StateChanged;

    /// <summary>The stream's state.</summary>
    public EventStreamClientState State
    {
        get
        {
            lock (_gate)
            {
                return _state;
            }
        }
    }

    /// <summary>Why the client failed for good (<see cref="EventStreamClientState.Failed"/>), else null.</summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    /// <summary>The address of the open stream, when one is open.</summary>
    public Uri? ConnectedAddress =>
        Volatile.Read(ref _session) is { Established: true } session ? session.Address : null;

    /// <summary>The client's counters.</summary>
    public EventStreamClientStatistics Statistics => Counters.Snapshot();

    internal ClientCounters Counters { get; } = new();

    internal ILogger Logger { get; }

    internal TimeProvider Time { get; }

    /// <summary>Closes the stream and every subscription (their enumerations end,
    /// <see cref="EventSubscription.Completion"/> completes; the gateway releases their unacknowledged events with the
    /// stream) and the publishing channels.</summary>
    public async ValueTask DisposeAsync()
    {
        var loop = BeginDispose();
        if (loop is not null)
        {
            await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Like <see cref="DisposeAsync"/>, without waiting for the connection loop to finish.</summary>
    public void Dispose() => BeginDispose();

    private Task? BeginDispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return null;
        }

        EventSubscription[] subscriptions;
        StreamSession? session;
        Task? loop;
        lock (_gate)
        {
            subscriptions = [.. _subscriptions.Values];
            _subscriptions.Clear();
            session = _session;
            loop = _loop;
            _state = EventStreamClientState.Disposed;
        }

        _shutdown.Cancel();
        session?.Abort(new ObjectDisposedException(nameof(EventStreamClient)));
        foreach (var subscription in subscriptions)
        {
            subscription.CloseByClient();
        }

        foreach (var channel in _publishChannels.Values)
        {
            channel.Dispose();
        }

        _publishChannels.Clear();
        return loop;
    }

    /// <summary>Calls an event's handlers; a handler that throws is logged, never allowed to break the
    /// client.</summary>
    internal void Invoke<T>(EventHandler<T>? handler, object sender, T args)
    {
        if (handler is null)
        {
            return;
        }

        try
        {
            handler(sender, args);
        }
#pragma warning disable CA1031 // User code must not break the reader loop.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            ClientLog.HandlerThrew(Logger, ex);
        }
    }

    internal void RaiseError(EventStreamException error) =>
        Invoke(ErrorReceived, this, new EventStreamErrorEventArgs(error));

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Volatile.Read(ref _failure) is { } failure)
        {
            throw new EventStreamException($"The client has failed: {failure.Message}", failure);
        }
    }
}
