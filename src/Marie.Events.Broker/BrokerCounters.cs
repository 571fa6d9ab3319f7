namespace Marie.Events.Broker;

/// <summary>Broker-wide figures for stats, updated with Interlocked: no lock on the hot paths.</summary>
internal sealed class BrokerCounters
{
    private long _connections;
    private long _subscriptions;
    private long _inFlight;
    private long _published;
    private long _delivered;
    private long _redelivered;
    private long _dropped;
    private long _lost;
    private long _backpressureSignals;
    private long _acked;
    private long _rateLimited;

    public int Connections => (int)Interlocked.Read(ref _connections);
    public int Subscriptions => (int)Interlocked.Read(ref _subscriptions);
    public long InFlight => Interlocked.Read(ref _inFlight);
    public long Published => Interlocked.Read(ref _published);
    public long Delivered => Interlocked.Read(ref _delivered);
    public long Redelivered => Interlocked.Read(ref _redelivered);
    public long DroppedCount => Interlocked.Read(ref _dropped);
    public long Lost => Interlocked.Read(ref _lost);
    public long BackpressureSignals => Interlocked.Read(ref _backpressureSignals);
    public long AckedCount => Interlocked.Read(ref _acked);
    public long RateLimited => Interlocked.Read(ref _rateLimited);

    public void ConnectionOpened() => Interlocked.Increment(ref _connections);
    public void ConnectionClosed() => Interlocked.Decrement(ref _connections);
    public void SubscriptionAdded() => Interlocked.Increment(ref _subscriptions);
    public void SubscriptionRemoved() => Interlocked.Decrement(ref _subscriptions);
    public void InFlightChanged(int delta) => Interlocked.Add(ref _inFlight, delta);
    public void PublishedMany(int count) => Interlocked.Add(ref _published, count);
    public void DeliveredOne() => Interlocked.Increment(ref _delivered);
    public void RedeliveredOne() => Interlocked.Increment(ref _redelivered);
    public void DroppedOne() => Interlocked.Increment(ref _dropped);
    public void LostEvents(long count) => Interlocked.Add(ref _lost, count);
    public void BackpressureSignal() => Interlocked.Increment(ref _backpressureSignals);
    public void Acked(int count) => Interlocked.Add(ref _acked, count);
    public void RateLimitedOne() => Interlocked.Increment(ref _rateLimited);
}
