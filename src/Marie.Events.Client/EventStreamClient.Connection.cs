using Grpc.Core;
using Marie.Events.Client.Internal;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.Client;

/// <summary>The connection loop: one stream at a time, reconnected with backoff, read by one reader.</summary>
public sealed partial class EventStreamClient
{
    /// <summary>Statuses that retrying cannot fix: a refused key, a gateway that does not serve the event
    /// stream.</summary>
    private static bool IsFatal(Exception? error) => error switch
    {
        EventStreamAuthenticationException => true,
        RpcException rpc =>
            rpc.StatusCode is StatusCode.Unauthenticated or StatusCode.PermissionDenied or StatusCode.Unimplemented,
        _ => false,
    };

    /// <summary>Starts the connection loop once (under <see cref="_gate"/>).</summary>
    private void EnsureStartedLocked()
    {
        if (_loop is null)
        {
            _state = EventStreamClientState.Connecting;
            _loop = Task.Run(() => RunAsync(_shutdown.Token));
        }
    }

    private async Task RunAsync(CancellationToken stop)
    {
        var attempt = 0;
        Exception? lastError = null;
        while (!stop.IsCancellationRequested)
        {
            var address = _addresses[attempt % _addresses.Count];
            SetState(EventStreamClientState.Connecting, address, lastError);
            var (established, error) = await RunSessionAsync(address, stop).ConfigureAwait(false);
            if (stop.IsCancellationRequested)
            {
                return;
            }

            if (established)
            {
                Counters.Disconnected();
            }

            if (IsFatal(error))
            {
                Fail(error is RpcException rpc
                    ? EventStreamException.FromRpc(rpc, "event stream")
                    : (EventStreamException)error!);
                return;
            }

            attempt = established ? 0 : attempt + 1;
            if (_options.MaxReconnectAttempts is { } max && attempt >= max)
            {
                Fail(new EventStreamException(
                    $"Gave up after {attempt} failed connection attempts; last error: {error?.Message}",
                    error));
                return;
            }

            lastError = error;
            // The first retry after a stream that worked waits the initial delay; each failed attempt doubles it.
            var delay = _backoff.Delay(attempt);
            ClientLog.Reconnecting(
                Logger,
                address,
                error?.Message ?? "ended",
                (long)delay.TotalMilliseconds,
                attempt + 1);
            try
            {
                await Task.Delay(delay, Time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Runs one stream until it ends; returns whether the gateway answered on it and why it ended.</summary>
    private async Task<(bool Established, Exception? Error)> RunSessionAsync(Uri address, CancellationToken stop)
    {
        IStreamConnection connection;
        try
        {
            connection = _transport.Open(address, stop);
        }
#pragma warning disable CA1031 // Any failure to open is a failed attempt, retried by the loop.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return (false, ex);
        }

        var timings = new SessionTimings(
            _options.AckFlushInterval,
            _options.AckBatchSize,
            _options.HeartbeatInterval,
            _options.ConnectTimeout,
            _options.ServerHeartbeatInterval == Timeout.InfiniteTimeSpan
                ? Timeout.InfiniteTimeSpan
                : _options.ServerHeartbeatInterval * 2);
        var session = new StreamSession(connection, address, Time, timings, BuildHeartbeat, Counters);
        bool expectConfirm;
        lock (_gate)
        {
            if (stop.IsCancellationRequested)
            {
                session.Dispose();
                return (false, null);
            }

            _session = session;
            foreach (var subscription in _subscriptions.Values)
            {
                session.Send(subscription.BuildSubscribe());
            }

            expectConfirm = _subscriptions.Count > 0;
        }

        session.Start(expectConfirm);
        var writer = session.WriteLoopAsync();
        Exception? error;
        try
        {
            var answered = false;
            while (true)
            {
                var read = session.ReadAsync();
                if (!read.IsCompleted)
                {
                    // Nothing more is ready on the stream: the consumers get what was read (one wake-up per burst).
                    session.WakeConsumers();
                }

                if (!await read.ConfigureAwait(false))
                {
                    break;
                }

                if (!answered)
                {
                    answered = true;
                    Counters.Connected();
                    ClientLog.Connected(Logger, address);
                    SetState(EventStreamClientState.Connected, address, null);
                }

                await DispatchAsync(session, session.Current).ConfigureAwait(false);
            }

            error = new EventStreamException($"gateway {address} ended the stream");
        }
#pragma warning disable CA1031 // Every way a stream can end is handled by the loop (reconnect or fail).
        catch (Exception ex)
#pragma warning restore CA1031
        {
            // A status from the gateway says more than the cancellation the client caused itself.
            error = ex is RpcException { StatusCode: not StatusCode.Cancelled } ? ex : session.AbortReason ?? ex;
        }
        finally
        {
            session.WakeConsumers();
            lock (_gate)
            {
                if (_session == session)
                {
                    _session = null;
                }
            }

            session.Dispose();
            await writer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (error is GatewaySilentException silent)
        {
            ClientLog.GatewaySilent(Logger, address, (long)silent.Silence.TotalMilliseconds);
        }

        return (session.Established, error);
    }

    private async ValueTask DispatchAsync(StreamSession session, ServerMessage message)
    {
        switch (message.MessageCase)
        {
            case MessageOneofCase.Event:
                Counters.Received();
                if (Find(message.Event.SubscriptionId) is { } target)
                {
                    await target.OnEventAsync(message.Event, session).ConfigureAwait(false);
                }

                break;
            case MessageOneofCase.SubscriptionConfirm:
                Find(message.SubscriptionConfirm.SubscriptionId)?.OnConfirm(message.SubscriptionConfirm, session);
                break;
            case MessageOneofCase.UnsubscriptionConfirm:
                Find(message.UnsubscriptionConfirm.SubscriptionId, includeClosing: true)?.OnUnsubscribed();
                break;
            case MessageOneofCase.Heartbeat:
                foreach (var subscription in Snapshot())
                {
                    subscription.OnHeartbeat(message.Heartbeat);
                }

                break;
            case MessageOneofCase.Error:
                HandleError(session, message.Error);
                break;
            case MessageOneofCase.Backpressure:
                HandleBackpressure(session, message.Backpressure);
                break;
            default:
                // A message kind added after this client was built: nothing to do with it.
                break;
        }
    }

    private void HandleError(StreamSession session, ErrorMessage message)
    {
        var error = EventStreamException.FromError(message);
        Counters.Error(message.Code.ToString());
        var subscription = message.SubscriptionId.Length > 0
            ? Find(message.SubscriptionId, includeClosing: true)
            : null;
        switch (error)
        {
            case EventsLostException lost:
                Counters.Lost(Math.Max(0, lost.LastMissed - lost.FirstMissed + 1));
                ClientLog.EventsLost(Logger, lost.Topic, message.SubscriptionId, lost.FirstMissed, lost.LastMissed);
                break;
            case EpochChangedException changed:
                if (subscription?.OnEpochChanged(changed.Topic, changed.CurrentEpoch) == true)
                {
                    Counters.EpochChanged();
                }

                ClientLog.EpochChanged(
                    Logger,
                    changed.Topic,
                    message.SubscriptionId,
                    changed.ExpectedEpoch,
                    changed.CurrentEpoch);
                break;
            default:
                ClientLog.GatewayError(Logger, message.Code.ToString(), message.SubscriptionId, message.Message);
                break;
        }

        if (error is EventStreamAuthenticationException)
        {
            session.Abort(error);
        }
        else if (subscription is not null
            && !subscription.IsConfirmedOn(session.Id)
            && message.Code == ErrorCode.ErrorDurableConflict
            && subscription.EverConfirmed)
        {
            // A resubscribe after a reconnect: the gateway has not yet seen the end of the stream that held the
            // durable before. Asked again shortly, on this stream.
            _ = ResubscribeLaterAsync(session, subscription);
        }
        else if (subscription is not null
            && !subscription.IsConfirmedOn(session.Id)
            && message.Code is ErrorCode.ErrorInvalidSubscription or ErrorCode.ErrorInvalidRequest
                or ErrorCode.ErrorDurableConflict or ErrorCode.ErrorGroupWithoutDurable)
        {
            // The subscribe itself was refused.
            Remove(subscription);
            subscription.Fail(error);
        }

        subscription?.RaiseError(error);
        RaiseError(error);
    }

    private void HandleBackpressure(StreamSession session, BackpressureSignal signal)
    {
        Counters.Backpressure(signal.RecommendedDelayMs);
        ClientLog.Backpressure(Logger, signal.SubscriptionId, signal.PendingEvents, signal.RecommendedDelayMs);
        // Acks are what relieves the gateway: send the waiting ones now.
        session.RequestFlush();
        var args = new BackpressureEventArgs(
            signal.SubscriptionId,
            TimeSpan.FromMilliseconds(signal.RecommendedDelayMs),
            signal.PendingEvents);
        Find(signal.SubscriptionId)?.OnBackpressure(args);
        Invoke(Backpressure, this, args);
    }

    private ClientMessage BuildHeartbeat()
    {
        var heartbeat = new ClientHeartbeat { Timestamp = Time.GetUtcNow().ToUnixTimeSeconds() };
        foreach (var subscription in Snapshot())
        {
            heartbeat.SubscriptionWatermarks[subscription.Id] = subscription.LowestWatermark();
        }

        return new ClientMessage { Heartbeat = heartbeat };
    }

    /// <summary>Queues an ack on the open stream (dropped when its ack id belongs to an ended stream).</summary>
    internal void QueueAck(string subscriptionId, AckAction ack) =>
        Volatile.Read(ref _session)?.QueueAck(subscriptionId, ack);

    /// <summary>The open stream when it is the one numbered <paramref name="sessionId"/> (ack ids belong to the
    /// stream they came on), else null.</summary>
    internal StreamSession? SessionFor(long sessionId) =>
        Volatile.Read(ref _session) is { } session && session.Id == sessionId ? session : null;

    /// <summary>Sends the waiting acks of the open stream; completes once written.</summary>
    internal Task FlushAcksAsync(CancellationToken cancellationToken) =>
        Volatile.Read(ref _session)?.FlushAsync(cancellationToken) ?? Task.CompletedTask;

    private void Fail(EventStreamException error)
    {
        ClientLog.Fatal(Logger, error.Message, error);
        EventSubscription[] subscriptions;
        lock (_gate)
        {
            Volatile.Write(ref _failure, error);
            subscriptions = [.. _subscriptions.Values];
            _subscriptions.Clear();
        }

        SetState(EventStreamClientState.Failed, null, error);
        foreach (var subscription in subscriptions)
        {
            subscription.Fail(error);
        }

        RaiseError(error);
    }

    private void SetState(EventStreamClientState state, Uri? address, Exception? error)
    {
        lock (_gate)
        {
            if (_state == state || _state == EventStreamClientState.Disposed)
            {
                return;
            }

            _state = state;
        }

        Invoke(StateChanged, this, new ConnectionStateChangedEventArgs(state, address, error));
    }

    private EventSubscription? Find(string id, bool includeClosing = false)
    {
        lock (_gate)
        {
            if (_subscriptions.TryGetValue(id, out var subscription))
            {
                return subscription;
            }

            return includeClosing ? _closing.GetValueOrDefault(id) : null;
        }
    }

    private EventSubscription[] Snapshot()
    {
        lock (_gate)
        {
            return [.. _subscriptions.Values];
        }
    }

    private void Remove(EventSubscription subscription)
    {
        lock (_gate)
        {
            if (_subscriptions.TryGetValue(subscription.Id, out var current) && current == subscription)
            {
                _subscriptions.Remove(subscription.Id);
            }
        }
    }
}
