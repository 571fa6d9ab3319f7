namespace Marie.Events.Broker.Subscriptions;

internal sealed partial class Subscription
{
    /// <summary>
    /// Settles one delivery by sequence number; unknown ones are ignored. Caller holds <see cref="Gate"/>.
    /// </summary>
    public bool AckOne(SubscriptionTopic subscriptionTopic, long sequence)
    {
        var index = subscriptionTopic.IndexOf(sequence);
        if (index < 0)
        {
            return false;
        }

        Settle(subscriptionTopic, index);
        Connection.Broker.Counters.Acked(1);
        return true;
    }

    /// <summary>Settles every delivery of the topic up to and including <paramref name="upTo"/>.
    /// Caller holds <see cref="Gate"/>.</summary>
    public int AckUpTo(SubscriptionTopic subscriptionTopic, long upTo)
    {
        var index = subscriptionTopic.IndexOf(upTo);
        var count = index >= 0 ? index + 1 : ~index;
        if (count > 0)
        {
            SettleFirst(subscriptionTopic, count);
        }

        Connection.Broker.Counters.Acked(count);
        return count;
    }

    /// <summary>
    /// After acks: re-arms backpressure and delivers what waited for room. Caller holds <see cref="Gate"/>.
    /// </summary>
    public void AfterAcks() => AfterSettle();

    /// <summary>
    /// Sends again every in-flight event whose last send is at least the ack timeout ago, or drops it once it has
    /// had its <c>max_redelivery_attempts</c> deliveries. An in-flight event the ring has overwritten gets bytes of its
    /// own here, so a slow subscriber pins no ring chunk for longer than <c>redelivery_delay_s</c>. Caller holds
    /// <see cref="Gate"/>.
    /// </summary>
    public void CheckRedelivery(long now)
    {
        if (Closed)
        {
            return;
        }

        var settings = Settings;
        var time = Connection.Broker.Time;
        var dropped = false;
        foreach (var subscriptionTopic in _positions)
        {
            var inFlight = subscriptionTopic.InFlight;
            var firstInRing = subscriptionTopic.Topic.Log.FirstAvailable;
            for (var i = 0; i < inFlight.Count; i++)
            {
                var entry = inFlight[i];
                if (entry.Sequence < firstInRing && entry.Event.SharesChunk)
                {
                    // The ring overwrote it: the delivery keeps its own copy, not the ring's chunk.
                    entry.DetachEvent();
                }

                if (entry.Queued || time.GetElapsedTime(entry.SentAt, now) < settings.AckTimeout)
                {
                    continue;
                }

                if (entry.Attempts >= settings.MaxAttempts)
                {
                    Connection.Broker.Log.EventDropped(
                        entry.AckId,
                        entry.Attempts,
                        Id,
                        subscriptionTopic.Topic.Name,
                        entry.Sequence);
                    Connection.Broker.Counters.DroppedOne();
                    Settle(subscriptionTopic, i);
                    i--;
                    dropped = true;
                    continue;
                }

                entry.Attempts++;
                entry.SentAt = now;
                entry.MarkQueued();
                Connection.Broker.Counters.RedeliveredOne();
                Connection.EnqueueEvent(this, entry, entry.Event, entry.Attempts);
            }
        }

        if (dropped)
        {
            AfterSettle();
        }
    }
}
