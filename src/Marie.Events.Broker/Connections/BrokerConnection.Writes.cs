using System.Globalization;
using Marie.Events.Broker.Subscriptions;
using Marie.Events.Broker.Telemetry;
using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

/// <summary>The connection's write side: what waits for the stream's writer, and what the writer reads.</summary>
public sealed partial class BrokerConnection
{
    /// <summary>The write queue (see <see cref="OutboundQueue"/>).</summary>
    private readonly OutboundQueue _queue = new();
    private readonly SemaphoreSlim _replyRoom = new(0, 1);
    private int _queuedReplies;
    private int _heartbeatQueued;

    /// <summary>When the next heartbeat is due (a <see cref="TimeProvider.GetTimestamp"/> value); the
    /// <see cref="HeartbeatScheduler"/> reads and sets it under its lock.</summary>
    internal long HeartbeatDue { get; set; }

    /// <summary>The connection's slot in the <see cref="HeartbeatScheduler"/>, -1 once removed (same lock).</summary>
    internal int HeartbeatSlot { get; set; } = -1;

    /// <summary>Waits until a message is ready to write; false once the connection is disposed.</summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) =>
        _queue.WaitToReadAsync(cancellationToken);

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

            if (item.Kind == OutboundKind.Reply
                && Interlocked.Decrement(ref _queuedReplies) == Broker.Settings.MaxQueuedControl - 1)
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

    /// <summary>Without the subscription's lock: the publisher holds it while it dispatches, and a writer waiting for
    /// it on every delivery cost more than the write itself. The entry's compare-and-swap says whether the delivery
    /// still stands (an ack, drop, unsubscribe or close releases the entry and bumps its generation).</summary>
    private bool TryBuildDelivery(in Outbound item, OutboundFrame frame)
    {
        var entry = item.Entry!;
        if (!entry.TryTakeQueued(item.Generation))
        {
            // Acked, dropped or unsubscribed while it waited in the queue.
            return false;
        }

        frame.Set(item.Event!, entry.Position.AckPrefixBytes, item.Subscription!.IdBytes, item.Attempt);
        if (BrokerTracing.Enabled(item.Event!))
        {
            BrokerTracing.Delivered(item.Event!, entry, item.Subscription.Id, item.Attempt);
        }

        if (item.Attempt == 1 && Broker.Metrics is { DeliveryLatency: { Enabled: true } latency } metrics
            && metrics.SamplesLatency(entry.Sequence))
        {
            // Publish time is the stored wall-clock timestamp (another gateway's clock in cluster mode).
            var published = TimestampBytes.ReadUtcTicks(item.Event!.PublishedAtBytes);
            var elapsed = Broker.Time.GetUtcNow().UtcTicks - published;
            latency.Record(Math.Max(0, elapsed) / (double)TimeSpan.TicksPerSecond);
        }

        return true;
    }

    /// <param name="subscription">The subscription delivering.</param>
    /// <param name="entry">Its in-flight entry.</param>
    /// <param name="stored">The event.</param>
    /// <param name="attempt">The delivery attempt (above 1: a redelivery).</param>
    /// <param name="replay">A first delivery read back from the ring rather than offered as it was published.</param>
    internal void EnqueueEvent(
        Subscription subscription, InFlightEntry entry, StoredEvent stored, int attempt, bool replay = false)
    {
        _redelivery.EnsureStarted();
        Broker.Counters.DeliveredOne();
        entry.Position.Topic.Counters.Delivered(replay, attempt);
        _queue.TryWrite(new Outbound(
            OutboundKind.Event,
            subscription,
            entry,
            entry.Generation,
            attempt,
            Event: stored));
    }

    internal void EnqueueNotice(ServerMessage message) =>
        _queue.TryWrite(new Outbound(OutboundKind.Notice, Message: message));

    private void EnqueueReply(ServerMessage message)
    {
        Interlocked.Increment(ref _queuedReplies);
        if (!_queue.TryWrite(new Outbound(OutboundKind.Reply, Message: message)))
        {
            Interlocked.Decrement(ref _queuedReplies);
        }
    }

    internal void EnqueueError(string subscriptionId, ErrorCode code, string text,
        params (string Key, string Value)[] details)
    {
        var error = new ErrorMessage { SubscriptionId = subscriptionId, Code = code, Message = text };
        foreach (var (key, value) in details)
        {
            error.Details[key] = value;
        }

        if (code == ErrorCode.ErrorRateLimited)
        {
            Broker.Counters.RateLimitedOne();
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
                $"events {firstMissed}..{lastMissed} of topic '{topic}' were overwritten in the replay ring "
                + $"before they could be delivered"),
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

    /// <summary>Queues a heartbeat unless one still waits to be written; it is built when written, so heads are
    /// fresh. Trims the write queue first. Called by the broker's <see cref="HeartbeatScheduler"/> every
    /// <c>heartbeat_interval_s</c>.</summary>
    internal void OnHeartbeatDue()
    {
        // Once per interval: a write queue grown by a burst and empty now goes back to a small one.
        _queue.TrimIfEmpty();
        if (!IsDisposed && Interlocked.Exchange(ref _heartbeatQueued, 1) == 0)
        {
            _queue.TryWrite(new Outbound(OutboundKind.Heartbeat));
        }
    }

    private ServerMessage BuildHeartbeat()
    {
        Volatile.Write(ref _heartbeatQueued, 0);
        // Unix seconds, as Marie-AI's own server (int(time.time())).
        var heartbeat = new ServerHeartbeat { Timestamp = Broker.Time.GetUtcNow().ToUnixTimeSeconds() };
        var wildcard = false;
        var access = Access;
        foreach (var subscription in SnapshotSubscriptions())
        {
            wildcard |= subscription.Wildcard;
            foreach (var name in subscription.RequestedTopics)
            {
                if (name != "*" && access.CanSee(name) && Broker.TryGetTopic(name, out var topic))
                {
                    heartbeat.TopicHeads[name] = topic!.Log.Head;
                    heartbeat.TopicEpochs[name] = topic.Log.Epoch;
                }
            }
        }

        if (wildcard)
        {
            foreach (var topic in Broker.AllTopics)
            {
                if (!access.CanSee(topic.Name))
                {
                    continue;
                }

                heartbeat.TopicHeads[topic.Name] = topic.Log.Head;
                heartbeat.TopicEpochs[topic.Name] = topic.Log.Epoch;
            }
        }

        return new ServerMessage { Heartbeat = heartbeat };
    }

    /// <summary>Ends the write queue (what was never written is dropped; the in-flight events it referenced are
    /// released with their subscriptions) and wakes a reader waiting for reply room.</summary>
    private void CompleteWrites()
    {
        _queue.CompleteAndClear();
        SignalReplyRoom();
    }
}
