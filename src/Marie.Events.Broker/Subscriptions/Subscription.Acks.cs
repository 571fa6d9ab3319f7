using Marie.Events.Broker.Telemetry;

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

        var entry = subscriptionTopic.InFlight[index];
        if (BrokerTracing.Enabled(entry.Event))
        {
            BrokerTracing.Settled(entry, Id, "ack");
        }

        if (Connection.Broker.Metrics is { AckLatency: { Enabled: true } latency } metrics
            && metrics.SamplesLatency(entry.Sequence))
        {
            latency.Record(Connection.Broker.Time.GetElapsedTime(entry.SentAt).TotalSeconds);
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
            if (MarieTracing.Source.HasListeners())
            {
                TraceAcks(subscriptionTopic, count);
            }

            RecordAckLatency(subscriptionTopic, count);
            SettleFirst(subscriptionTopic, count);
        }

        Connection.Broker.Counters.Acked(count);
        return count;
    }

    private void TraceAcks(SubscriptionTopic subscriptionTopic, int count)
    {
        var inFlight = subscriptionTopic.InFlight;
        for (var i = 0; i < count; i++)
        {
            if (inFlight[i].Event.HasTraceContext)
            {
                BrokerTracing.Settled(inFlight[i], Id, "ack");
            }
        }
    }

    private void RecordAckLatency(SubscriptionTopic subscriptionTopic, int count)
    {
        if (Connection.Broker.Metrics is not { AckLatency: { Enabled: true } latency } metrics)
        {
            return;
        }

        var now = Connection.Broker.Time.GetTimestamp();
        var inFlight = subscriptionTopic.InFlight;
        for (var i = 0; i < count; i++)
        {
            if (metrics.SamplesLatency(inFlight[i].Sequence))
            {
                latency.Record(Connection.Broker.Time.GetElapsedTime(inFlight[i].SentAt, now).TotalSeconds);
            }
        }
    }

    /// <summary>
    /// After acks: re-arms backpressure and delivers what waited for room. Caller holds <see cref="Gate"/>.
    /// </summary>
    public void AfterAcks() => AfterSettle();

    /// <summary>
    /// Sends again every in-flight event whose wait is over (the ack timeout or backoff entry after its last send,
    /// as moved by nack and extend), or dead-letters it once it has had its <see cref="RedeliveryPolicy.MaxAttempts"/>
    /// deliveries. An in-flight event the ring has overwritten gets bytes of its own here, so a slow subscriber pins no
    /// ring chunk for longer than <c>redelivery_delay_s</c>. Caller holds <see cref="Gate"/>.
    /// </summary>
    public void CheckRedelivery(long now)
    {
        if (Closed)
        {
            return;
        }

        var settled = false;
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

                if (entry.Queued || now < entry.DueAt)
                {
                    continue;
                }

                if (entry.Attempts >= Policy.MaxAttempts)
                {
                    DeadLetter(subscriptionTopic, i, DeadLetters.DeadLetterReason.MaxAttempts, entry.Reason, now);
                    i--;
                    settled = true;
                    continue;
                }

                Redeliver(entry, now);
            }
        }

        if (settled)
        {
            AfterSettle();
        }
    }

    /// <summary>Sends an in-flight event again now (it is not queued). Caller holds <see cref="Gate"/>.</summary>
    private void Redeliver(InFlightEntry entry, long now)
    {
        entry.Attempts++;
        entry.SentAt = now;
        entry.DueAt = now + Policy.WaitTicksAfter(entry.Attempts);
        entry.MarkQueued();
        _redelivered++;
        Durable?.Attempted(entry.Position.Topic.Name, entry.Sequence, entry.Attempts);
        Connection.Broker.Counters.RedeliveredOne();
        Connection.EnqueueEvent(this, entry, entry.Event, entry.Attempts);
    }
}
