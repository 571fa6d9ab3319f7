namespace Marie.Events.Broker.Connections;

/// <summary>
/// A connection's redelivery timer, every <c>redelivery_delay_s</c>: sends again what passed its ack timeout and
/// drops what used its attempts. It starts at the connection's first delivery: a stream that never had an event in
/// flight (an idle stream, a stream that only replays with <c>GetReplayBuffer</c>) has nothing to check and keeps no
/// timer, so an idle stream costs one timer (its heartbeat's share of the <see cref="HeartbeatScheduler"/>) and no
/// check every <c>redelivery_delay_s</c>.
/// </summary>
internal sealed class RedeliveryTimer(BrokerConnection connection)
{
    private ITimer? _timer;

    /// <summary>Starts the timer unless it runs already (a cheap check on every delivery).</summary>
    public void EnsureStarted()
    {
        if (Volatile.Read(ref _timer) is null)
        {
            Start();
        }
    }

    /// <summary>Stops the timer for good (the connection is closing).</summary>
    public void Stop() => Interlocked.Exchange(ref _timer, null)?.Dispose();

    private void Start()
    {
        var broker = connection.Broker;
        var interval = broker.Settings.RedeliveryInterval;
        var timer = broker.Time.CreateTimer(static s => ((RedeliveryTimer)s!).OnTick(), this, interval, interval);
        if (Interlocked.CompareExchange(ref _timer, timer, null) is not null)
        {
            // Another delivery started it first.
            timer.Dispose();
            return;
        }

        if (connection.IsDisposed)
        {
            // Closed while this delivery was queued: Dispose may have run before the timer was published.
            Stop();
        }
    }

    private void OnTick()
    {
        if (connection.IsDisposed)
        {
            return;
        }

        var now = connection.Broker.Time.GetTimestamp();
        foreach (var subscription in connection.SnapshotSubscriptions())
        {
            lock (subscription.Gate)
            {
                subscription.CheckRedelivery(now);
            }
        }
    }
}
