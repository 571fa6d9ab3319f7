using Marie.Events.Broker.Topics;

namespace Marie.Events.Broker.Subscriptions;

/// <summary>A durable subscription's member: claims, taking over waiting events, handing its own back. Every
/// member is called holding <see cref="Gate"/>.</summary>
internal sealed partial class Subscription
{
    /// <summary>Claims an event for this member: false when another member of the durable had it.</summary>
    private bool TryClaim(SubscriptionTopic position, long sequence) => Durable!.TryClaim(position.Topic, sequence);

    /// <summary>A live event this member claimed goes to the member of its group with the fewest in flight, when that
    /// is another one and it takes it now: true when it did. Its lock is only tried (this member's is held, and two
    /// members' locks are never waited for together); when it is busy, or has no room after all, this member
    /// delivers the event itself. Caller holds the topic's lock and <see cref="Gate"/>.</summary>
    private bool TryAssign(SubscriptionTopic position, StoredEvent stored)
    {
        var target = Durable!.LeastBusy(this);
        if (target is null || !target.Gate.TryEnter())
        {
            return false;
        }

        try
        {
            return target.TakeAssigned(position.Topic.Name, stored);
        }
        finally
        {
            target.Gate.Exit();
        }
    }

    /// <summary>Delivers an event another member claimed for this one, if this one is live on its topic and has
    /// room. Caller holds the topic's lock and <see cref="Gate"/>.</summary>
    private bool TakeAssigned(string topic, StoredEvent stored)
    {
        if (Closed || Suspended || InFlightCount >= Settings.MaxInFlight || !TryGetTopic(topic, out var position)
            || position!.Lagging || position.Watermark >= stored.Sequence || !Filter.Matches(stored))
        {
            return false;
        }

        position.Watermark = stored.Sequence;
        Deliver(position, stored, fromRing: false);
        return true;
    }

    /// <summary>Delivers what waits in the durable (handed over by another member, loaded at start, or a replayed
    /// dead letter) while the in-flight cap allows: each as the next attempt of the event, kept in sequence
    /// order among this member's in-flight events.</summary>
    private void PumpWaiting()
    {
        var durable = Durable!;
        var broker = Connection.Broker;
        var now = broker.Time.GetTimestamp();
        var delivered = false;
        while (InFlightCount < Settings.MaxInFlight
            && durable.TryTakeWaiting(this, out var position, out var sequence, out var waiting, out var attempts))
        {
            var topic = position!.Topic;
            var stored = waiting!.Event;
            if (stored is null)
            {
                // Known by its number only (loaded at start): the ring must still hold it.
                if (topic.Log.TryRead(sequence, out var read) != ReadOutcome.Found)
                {
                    Connection.NotifyEventsLost(this, topic.Name, sequence, sequence);
                    durable.Settled(topic.Name, sequence);
                    continue;
                }

                stored = read!;
            }

            var index = position.IndexOf(sequence);
            if (index >= 0)
            {
                continue;
            }

            var attempt = attempts + 1;
            var entry = position.Rent();
            entry.Reset(stored, now, now + Policy.WaitTicksAfter(attempt));
            entry.Attempts = attempt;
            entry.Replayed = waiting.Replayed;
            position.InFlight.Insert(~index, entry);
            InFlightCount++;
            broker.Counters.InFlightChanged(1);
            durable.Attempted(topic.Name, sequence, attempt);
            if (attempt > 1)
            {
                _redelivered++;
                broker.Counters.RedeliveredOne();
            }

            Connection.EnqueueEvent(this, entry, stored, attempt);
            delivered = true;
        }

        if (delivered)
        {
            CheckBackpressure();
        }
    }

    /// <summary>Gives every in-flight event back to the durable (closing, or gone silent); returns how many.
    /// </summary>
    private int HandOverInFlight()
    {
        var handed = 0;
        foreach (var position in _positions)
        {
            var inFlight = position.InFlight;
            foreach (var entry in inFlight)
            {
                Durable!.HandOver(entry);
                position.Return(entry);
            }

            handed += inFlight.Count;
            inFlight.Clear();
        }

        InFlightCount -= handed;
        Connection.Broker.Counters.InFlightChanged(-handed);
        return handed;
    }

    /// <summary>A silent member: its in-flight events go back to the durable for the others, and it claims nothing
    /// until its connection is heard from again. Returns how many were handed over.</summary>
    public int Surrender(long now)
    {
        if (Closed || Suspended || InFlightCount == 0)
        {
            return 0;
        }

        Suspended = true;
        SuspendedAt = now;
        return HandOverInFlight();
    }

    /// <summary>Lifts the suspension once the connection was heard from after it; false while still silent.
    /// </summary>
    public bool TryResume()
    {
        if (Connection.LastHeardAt <= SuspendedAt)
        {
            return false;
        }

        Suspended = false;
        return true;
    }
}
