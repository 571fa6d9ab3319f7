using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

public sealed partial class BrokerConnection
{
    /// <summary>Queues a heartbeat unless one still waits to be written; it is built when written, so heads are fresh.
    /// Trims the write queue first. Called by the broker's <see cref="HeartbeatScheduler"/> every <c>heartbeat_interval_s</c>.</summary>
    internal void OnHeartbeatDue()
    {
        // Once per interval: a write queue grown by a burst and empty now goes back to a small one.
        _queue.TrimIfEmpty();
        if (!IsDisposed && Interlocked.Exchange(ref _heartbeatQueued, 1) == 0)
        {
            _queue.TryWrite(new Connections.Outbound(Connections.OutboundKind.Heartbeat));
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

    /// <summary>Starts the redelivery timer at the connection's first delivery: a stream that never had an event in
    /// flight (an idle stream, a stream that only replays with <c>GetReplayBuffer</c>) has nothing to check and keeps
    /// no timer (W3: one timer per idle stream instead of two, and no check per stream every <c>redelivery_delay_s</c>).
    /// </summary>
    private void StartRedeliveryTimer()
    {
        var interval = Broker.Settings.RedeliveryInterval;
        var timer = Broker.Time.CreateTimer(static s => ((BrokerConnection)s!).OnRedeliveryTimer(), this, interval, interval);
        if (Interlocked.CompareExchange(ref _redeliveryTimer, timer, null) is not null)
        {
            // Another delivery started it first.
            timer.Dispose();
            return;
        }

        if (IsDisposed)
        {
            // Closed while this delivery was queued: Dispose may have run before the timer was published.
            Interlocked.Exchange(ref _redeliveryTimer, null)?.Dispose();
        }
    }

    /// <summary>Every <c>redelivery_delay_s</c>: sends again what passed its ack timeout, drops what used its attempts.</summary>
    private void OnRedeliveryTimer()
    {
        if (IsDisposed)
        {
            return;
        }

        var now = Broker.Time.GetTimestamp();
        foreach (var subscription in SnapshotSubscriptions())
        {
            lock (subscription.Gate)
            {
                subscription.CheckRedelivery(now);
            }
        }
    }
}
