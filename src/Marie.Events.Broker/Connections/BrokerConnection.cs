using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using Marie.Events.Broker.Access;
using Marie.Events.Broker.Connections;
using Marie.Events.Broker.Limits;
using Marie.Events.Broker.Subscriptions;
using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

/// <summary>
/// One client stream's state in the broker. Feed it the client's messages with <see cref="HandleAsync"/>, and write
/// what <see cref="TryReadFrame"/> returns to the stream from a single writer loop. Dispose it when the stream ends: that
/// releases every subscription and in-flight event it held.
/// </summary>
public sealed partial class BrokerConnection : IDisposable
{
    /// <summary>The write queue (see <see cref="OutboundQueue"/>).</summary>
    private readonly OutboundQueue _queue = new();

    /// <summary>Subscriptions up to which a lookup by number scans instead of using a table.</summary>
    private const int ScanLimit = 8;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Subscription> _subscriptions = new(StringComparer.Ordinal);
    /// <summary>Subscriptions by number, built once the connection has more than <see cref="ScanLimit"/>: most
    /// streams hold one or a few, found by a scan of <see cref="_subscriptions"/> at no memory cost.</summary>
    private Dictionary<int, Subscription>? _byNumber;
    private readonly SemaphoreSlim _replyRoom = new(0, 1);
    private ITimer? _redeliveryTimer;
    private int _queuedReplies;
    private int _heartbeatQueued;
    private int _nextSubscriptionNumber;
    private int _disposed;
    private ConnectionAccess _access;

    internal BrokerConnection(GrpcEventBroker broker, string id, ConnectionAccess access)
    {
        Broker = broker;
        Id = id;
        _access = access;
        _messageBucket = new TokenBucket(broker.Time, broker.Settings.Limits.ClientMessagesPerSecond, broker.Settings.Limits.ClientMessageBurst);
        Tag = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        broker.Heartbeats.Add(this);
    }

    /// <summary>When the next heartbeat is due (a <see cref="TimeProvider.GetTimestamp"/> value); the
    /// <see cref="HeartbeatScheduler"/> reads and sets it under its lock.</summary>
    internal long HeartbeatDue { get; set; }

    /// <summary>The connection's slot in the <see cref="HeartbeatScheduler"/>, -1 once removed (same lock).</summary>
    internal int HeartbeatSlot { get; set; } = -1;

    /// <summary>The connection's id (as logged).</summary>
    public string Id { get; }

    /// <summary>Random per connection: ack ids carry it, so an ack id of another stream settles nothing here.</summary>
    internal string Tag { get; }

    internal GrpcEventBroker Broker { get; }

    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Waits until a message is ready to write; false once the connection is disposed.</summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => _queue.WaitToReadAsync(cancellationToken);

    /// <summary>Fills <paramref name="frame"/> with the next message to write, if one is ready: the form a stream
    /// writer serializes with <see cref="OutboundFrame.Marshaller"/>, copying each event's cached bytes. Call from one
    /// writer only.</summary>
    public bool TryReadFrame(OutboundFrame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        while (_queue.TryRead(out var item))
        {
            var ready = item.Kind switch
            {
                OutboundKind.Event => TryBuildDelivery(item, frame),
                OutboundKind.Heartbeat => Ready(BuildHeartbeat(), frame),
                _ => Ready(item.Message!, frame),
            };

            if (item.Kind == OutboundKind.Reply && Interlocked.Decrement(ref _queuedReplies) == Broker.Settings.MaxQueuedControl - 1)
            {
                SignalReplyRoom();
            }

            if (ready)
            {
                return true;
            }
        }

        return false;
    }

    private static bool Ready(ServerMessage message, OutboundFrame frame)
    {
        frame.Set(message);
        return true;
    }

    /// <summary>The write queue's slots (tests).</summary>
    internal int WriteQueueCapacity => _queue.Capacity;


    /// <summary>Answers to client messages waiting for the writer (for stats; at most
    /// <c>max_queued_control_messages</c> plus one).</summary>
    internal int QueuedReplies => Volatile.Read(ref _queuedReplies);

    /// <summary>Without the subscription's lock: the publisher holds it while it dispatches, and a writer waiting for it
    /// on every delivery cost more than the write itself. The entry's compare-and-swap says whether the delivery still
    /// stands (an ack, drop, unsubscribe or close releases the entry and bumps its generation).</summary>
    private static bool TryBuildDelivery(in Outbound item, OutboundFrame frame)
    {
        var entry = item.Entry!;
        if (!entry.TryTakeQueued(item.Generation))
        {
            // Acked, dropped or unsubscribed while it waited in the queue.
            return false;
        }

        frame.Set(item.Event!, entry.Position.AckPrefixBytes, item.Subscription!.IdBytes, item.Attempt);
        return true;
    }

    internal void EnqueueEvent(Subscription subscription, InFlightEntry entry, StoredEvent stored, int attempt)
    {
        if (Volatile.Read(ref _redeliveryTimer) is null)
        {
            StartRedeliveryTimer();
        }

        Broker.Counters.DeliveredOne();
        _queue.TryWrite(new Outbound(OutboundKind.Event, subscription, entry, entry.Generation, attempt, Event: stored));
    }

    internal void EnqueueNotice(ServerMessage message) => _queue.TryWrite(new Outbound(OutboundKind.Notice, Message: message));

    private void EnqueueReply(ServerMessage message)
    {
        Interlocked.Increment(ref _queuedReplies);
        if (!_queue.TryWrite(new Outbound(OutboundKind.Reply, Message: message)))
        {
            Interlocked.Decrement(ref _queuedReplies);
        }
    }

    private void EnqueueError(string subscriptionId, ErrorCode code, string text, params (string Key, string Value)[] details)
    {
        var error = new ErrorMessage { SubscriptionId = subscriptionId, Code = code, Message = text };
        foreach (var (key, value) in details)
        {
            error.Details[key] = value;
        }

        if (Broker.Log.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug))
        {
            Broker.Log.ClientMessageRejected(Id, code.ToString(), text);
        }
        EnqueueReply(new ServerMessage { Error = error });
    }

    internal void NotifyEventsLost(Subscription subscription, string topic, long firstMissed, long lastMissed)
    {
        Broker.Counters.LostEvents(lastMissed - firstMissed + 1);
        Broker.Log.EventsLost(subscription.Id, topic, firstMissed, lastMissed);
        var error = new ErrorMessage
        {
            SubscriptionId = subscription.Id,
            Code = ErrorCode.ErrorEventsLost,
            Message = string.Create(CultureInfo.InvariantCulture,
                $"events {firstMissed}..{lastMissed} of topic '{topic}' were overwritten in the replay ring before they could be delivered"),
        };
        error.Details["topic"] = topic;
        error.Details["first_missed"] = firstMissed.ToString(CultureInfo.InvariantCulture);
        error.Details["last_missed"] = lastMissed.ToString(CultureInfo.InvariantCulture);
        EnqueueNotice(new ServerMessage { Error = error });
    }

    private void SignalReplyRoom()
    {
        try
        {
            _replyRoom.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled: the waiting reader will re-check the count.
        }
    }

    /// <summary>Pauses the reader while too many replies wait for the writer: a client that sends without reading
    /// is slowed by HTTP/2 flow control instead of growing this queue.</summary>
    private async ValueTask WaitForReplyRoomAsync(CancellationToken cancellationToken)
    {
        while (Volatile.Read(ref _queuedReplies) >= Broker.Settings.MaxQueuedControl && !IsDisposed)
        {
            await _replyRoom.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    internal Subscription[] SnapshotSubscriptions()
    {
        lock (_gate)
        {
            return [.. _subscriptions.Values];
        }
    }

    /// <summary>Closes the connection: stops its timers, releases its subscriptions, ends the write queue.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Broker.Heartbeats.Remove(this);
        Interlocked.Exchange(ref _redeliveryTimer, null)?.Dispose();
        Subscription[] subscriptions;
        lock (_gate)
        {
            subscriptions = [.. _subscriptions.Values];
            _subscriptions.Clear();
            _byNumber = null;
        }

        foreach (var subscription in subscriptions)
        {
            Broker.RemoveSubscription(subscription);
        }

        // Drops what was never written; the in-flight events it referenced are released above.
        _queue.CompleteAndClear();

        SignalReplyRoom();
        Broker.ConnectionClosed(this);
    }
}
