using System.Threading.Channels;
using Marie.Events.Protocol;

namespace Marie.Events.Client.Internal;

/// <summary>Timings of a <see cref="StreamSession"/>.</summary>
internal readonly record struct SessionTimings(
    TimeSpan AckFlushInterval,
    int AckBatchSize,
    TimeSpan HeartbeatInterval,
    TimeSpan ConnectTimeout,
    TimeSpan SilenceLimit);

/// <summary>
/// One open event stream: its writer loop (the only writer of the call: subscribes, acks, heartbeats, filter updates
/// and unsubscribes go through one queue, in order), its ack batch, and its timers: ack flush, client heartbeat, and
/// the silent-gateway check (no message for <see cref="SessionTimings.SilenceLimit"/>, or none at all within
/// <see cref="SessionTimings.ConnectTimeout"/> when a confirm is awaited, aborts the stream). All timers use the
/// client's <see cref="TimeProvider"/>.
/// </summary>
internal sealed class StreamSession : IDisposable
{
    private static long s_nextId;

    private readonly IStreamConnection _connection;
    private readonly TimeProvider _time;
    private readonly SessionTimings _timings;
    private readonly Func<ClientMessage> _heartbeat;
    private readonly ClientCounters _counters;
    private readonly Channel<OutgoingItem> _outbound = Channel.CreateUnbounded<OutgoingItem>(
        new UnboundedChannelOptions { SingleReader = true });
    private readonly AckBatcher _acks;
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ITimer _flushTimer;

    /// <summary>Subscriptions whose waiting consumer gets events the reader added since its last wait on the
    /// gateway (reader only).</summary>
    private readonly List<EventSubscription> _toWake = [];
    private ITimer? _heartbeatTimer;
    private ITimer? _livenessTimer;
    private bool _expectConfirm;
    private int _flushRequested;
    private long _lastReceived;
    private int _waitingOnConsumer;
    private Exception? _abortReason;
    private volatile bool _established;

    public StreamSession(
        IStreamConnection connection,
        Uri address,
        TimeProvider time,
        SessionTimings timings,
        Func<ClientMessage> heartbeat,
        ClientCounters counters)
    {
        Id = Interlocked.Increment(ref s_nextId);
        Address = address;
        _connection = connection;
        _time = time;
        _timings = timings;
        _heartbeat = heartbeat;
        _counters = counters;
        _acks = new AckBatcher(timings.AckBatchSize);
        _flushTimer = time.CreateTimer(
            static s => ((StreamSession)s!).RequestFlush(),
            this,
            Timeout.InfiniteTimeSpan,
            Timeout.InfiniteTimeSpan);
        _lastReceived = time.GetTimestamp();
    }

    /// <summary>Unique per session (never 0): ack actions name the stream their ack ids belong to.</summary>
    public long Id { get; }

    public Uri Address { get; }

    /// <summary>True once the gateway sent anything on this stream.</summary>
    public bool Established => _established;

    /// <summary>Why the stream was aborted by the client (silent gateway, write failure, fatal error), if it
    /// was.</summary>
    public Exception? AbortReason => Volatile.Read(ref _abortReason);

    /// <summary>Cancelled when the session ends.</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>Completes when the session has ended.</summary>
    public Task Ended => _ended.Task;

    /// <summary>The last message read.</summary>
    public ServerMessage Current => _connection.Current;

    /// <summary>Acks waiting in the batch.</summary>
    public int QueuedAcks => _acks.Count;

    /// <summary>Starts the timers. <paramref name="expectConfirm"/>: subscribes were sent, so the gateway must answer
    /// within the connect timeout.</summary>
    public void Start(bool expectConfirm)
    {
        _expectConfirm = expectConfirm;
        var firstLimit = expectConfirm ? _timings.ConnectTimeout : _timings.SilenceLimit;
        if (firstLimit != Timeout.InfiniteTimeSpan)
        {
            _livenessTimer = _time.CreateTimer(
                static s => ((StreamSession)s!).CheckLiveness(),
                this,
                firstLimit,
                Timeout.InfiniteTimeSpan);
        }

        if (_timings.HeartbeatInterval != Timeout.InfiniteTimeSpan)
        {
            _heartbeatTimer = _time.CreateTimer(
                static s => ((StreamSession)s!).SendHeartbeat(),
                this,
                _timings.HeartbeatInterval,
                _timings.HeartbeatInterval);
        }
    }

    /// <summary>Queues a message for the writer loop.</summary>
    public void Send(ClientMessage message) => _outbound.Writer.TryWrite(new OutgoingItem(message, null));

    /// <summary>Queues a message for the writer loop and waits until it is written: true once written, false when
    /// the session ended first (then it was not sent, or its fate is unknown when the write failed).</summary>
    public async Task<bool> SendAsync(ClientMessage message, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_outbound.Writer.TryWrite(new OutgoingItem(message, done)))
        {
            return false;
        }

        await Task.WhenAny(done.Task, _ended.Task).WaitAsync(cancellationToken).ConfigureAwait(false);
        return done.Task.IsCompletedSuccessfully;
    }

    /// <summary>Adds an ack to the batch if its ack id belongs to this stream; sends the batch when it is full, else
    /// makes sure the flush timer runs.</summary>
    public void QueueAck(string subscriptionId, AckAction ack)
    {
        if (ack.SessionId != Id || _cts.IsCancellationRequested)
        {
            return;
        }

        var (full, first) = _acks.Add(subscriptionId, ack);
        if (full)
        {
            RequestFlush();
        }
        else if (first)
        {
            _flushTimer.Change(_timings.AckFlushInterval, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Asks the writer loop to send the ack batch (coalesced: one request at a time in the queue).</summary>
    public void RequestFlush()
    {
        if (Interlocked.Exchange(ref _flushRequested, 1) == 0)
        {
            _outbound.Writer.TryWrite(new OutgoingItem(null, null));
        }
    }

    /// <summary>Sends the ack batch and everything queued before it; completes once written, or when the session
    /// ends.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_outbound.Writer.TryWrite(new OutgoingItem(null, done)))
        {
            return;
        }

        await Task.WhenAny(done.Task, _ended.Task).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the next server message (false: the gateway ended the stream).</summary>
    public async Task<bool> ReadAsync()
    {
        var more = await _connection.MoveNextAsync(_cts.Token).ConfigureAwait(false);
        if (more)
        {
            Volatile.Write(ref _lastReceived, _time.GetTimestamp());
            if (!_established)
            {
                _established = true;
                if (_timings.SilenceLimit != Timeout.InfiniteTimeSpan)
                {
                    _livenessTimer ??= _time.CreateTimer(
                        static s => ((StreamSession)s!).CheckLiveness(),
                        this,
                        Timeout.InfiniteTimeSpan,
                        Timeout.InfiniteTimeSpan);
                    _livenessTimer.Change(_timings.SilenceLimit, Timeout.InfiniteTimeSpan);
                }
                else
                {
                    _livenessTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                }
            }
        }

        return more;
    }

    /// <summary>Reader only: wake <paramref name="subscription"/>'s consumer at the next
    /// <see cref="WakeConsumers"/>.</summary>
    public void DeferWake(EventSubscription subscription) => _toWake.Add(subscription);

    /// <summary>Reader only: wakes the consumers waiting for events the reader added; called before the reader waits
    /// (for the gateway, or for a consumer) and when the stream ends.</summary>
    public void WakeConsumers()
    {
        for (var i = 0; i < _toWake.Count; i++)
        {
            _toWake[i].WakeConsumer();
        }

        _toWake.Clear();
    }

    /// <summary>While disposed-of, the reader is waiting for a consumer (a full buffer), not for the gateway: the
    /// silence check does not count that time.</summary>
    public ConsumerWait WaitingOnConsumer()
    {
        Interlocked.Increment(ref _waitingOnConsumer);
        return new ConsumerWait(this);
    }

    /// <summary>The single writer: sends queued messages in order, and the ack batch when asked.</summary>
    public async Task WriteLoopAsync()
    {
        var token = _cts.Token;
        try
        {
            while (await _outbound.Reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                while (_outbound.Reader.TryRead(out var item))
                {
                    if (item.Message is { } message)
                    {
                        await _connection.WriteAsync(message, token).ConfigureAwait(false);
                        item.Done?.TrySetResult();
                        continue;
                    }

                    Volatile.Write(ref _flushRequested, 0);
                    var (messages, events) = _acks.Take();
                    foreach (var ack in messages)
                    {
                        await _connection.WriteAsync(ack, token).ConfigureAwait(false);
                    }

                    if (messages.Count > 0)
                    {
                        _counters.Acked(events, messages.Count);
                    }

                    item.Done?.TrySetResult();
                }
            }
        }
        catch (Exception ex) when (!token.IsCancellationRequested)
        {
            Abort(ex);
        }
        catch (OperationCanceledException)
        {
            // The session ended.
        }
    }

    /// <summary>Ends the stream from the client side; the first reason is kept.</summary>
    public void Abort(Exception reason)
    {
        Interlocked.CompareExchange(ref _abortReason, reason, null);
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already ended.
        }
    }

    public void Dispose()
    {
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        _flushTimer.Dispose();
        _heartbeatTimer?.Dispose();
        _livenessTimer?.Dispose();
        _outbound.Writer.TryComplete();
        while (_outbound.Reader.TryRead(out var item))
        {
            // A flush waiter is released; a message's sender learns it was not written.
            if (item.Message is null)
            {
                item.Done?.TrySetResult();
            }
            else
            {
                item.Done?.TrySetCanceled();
            }
        }

        _connection.Dispose();
        _ended.TrySetResult();
    }

    private void SendHeartbeat()
    {
        if (!_cts.IsCancellationRequested)
        {
            Send(_heartbeat());
        }
    }

    private void CheckLiveness()
    {
        if (_cts.IsCancellationRequested)
        {
            return;
        }

        var limit = _established || !_expectConfirm ? _timings.SilenceLimit : _timings.ConnectTimeout;
        if (limit == Timeout.InfiniteTimeSpan)
        {
            return;
        }

        if (Volatile.Read(ref _waitingOnConsumer) > 0)
        {
            _livenessTimer?.Change(limit, Timeout.InfiniteTimeSpan);
            return;
        }

        var silence = _time.GetElapsedTime(Volatile.Read(ref _lastReceived));
        if (silence >= limit)
        {
            _counters.SilentGateway();
            Abort(new GatewaySilentException(Address, silence, _established));
            return;
        }

        _livenessTimer?.Change(limit - silence, Timeout.InfiniteTimeSpan);
    }

    private void ConsumerWaitEnded()
    {
        // Silence is counted from the moment the client reads again.
        Volatile.Write(ref _lastReceived, _time.GetTimestamp());
        Interlocked.Decrement(ref _waitingOnConsumer);
    }

    /// <summary>Scope of a reader waiting for a consumer.</summary>
    internal readonly struct ConsumerWait(StreamSession session) : IDisposable
    {
        public void Dispose() => session.ConsumerWaitEnded();
    }

    /// <summary>A queued write: a message, or (Message null) a request to send the ack batch; Done completes once
    /// written.</summary>
    private readonly record struct OutgoingItem(ClientMessage? Message, TaskCompletionSource? Done);
}

/// <summary>The gateway sent nothing for too long: the stream is taken as dead and replaced.</summary>
internal sealed class GatewaySilentException(Uri address, TimeSpan silence, bool established)
    : EventStreamException(established
        ? $"gateway {address} silent for {silence.TotalMilliseconds:F0} ms (two heartbeat intervals)"
        : $"gateway {address} did not answer within {silence.TotalMilliseconds:F0} ms (connect timeout)")
{
    public TimeSpan Silence { get; } = silence;
}
