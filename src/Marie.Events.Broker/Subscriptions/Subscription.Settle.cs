using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Telemetry;
using Marie.Events.Broker.Topics;

namespace Marie.Events.Broker.Subscriptions;

/// <summary>What a settle verb did to one ack id.</summary>
internal enum SettleOutcome
{
    /// <summary>Done.</summary>
    Done,

    /// <summary>The id names no event in flight on this subscription.</summary>
    Unknown,
}

/// <summary>The settle verbs (nack, terminate, extend), dead-lettering and the replay of a dead letter. Every member
/// is called holding <see cref="Gate"/>.</summary>
internal sealed partial class Subscription
{
    /// <summary>The in-flight delivery of <paramref name="sequence"/> on the topic numbered
    /// <paramref name="topicNumber"/>, or null.</summary>
    private InFlightEntry? FindEntry(int topicNumber, long sequence, out SubscriptionTopic? position, out int index)
    {
        index = -1;
        if (Closed || !TryGetTopic(topicNumber, out position))
        {
            position = null;
            return null;
        }

        index = position!.IndexOf(sequence);
        return index >= 0 ? position.InFlight[index] : null;
    }

    /// <summary>Nack: redeliver after <paramref name="delayTicks"/> (at once when 0); the nacked delivery was an
    /// attempt, so with none left the event is dead-lettered now (reason <c>max_attempts</c>, with the client's
    /// reason).</summary>
    public SettleOutcome Nack(int topicNumber, long sequence, long delayTicks, string? reason, long now)
    {
        var entry = FindEntry(topicNumber, sequence, out var position, out var index);
        if (entry is null)
        {
            return SettleOutcome.Unknown;
        }

        if (BrokerTracing.Enabled(entry.Event))
        {
            BrokerTracing.Settled(entry, Id, "nack");
        }

        entry.Reason = string.IsNullOrEmpty(reason) ? entry.Reason : reason;
        if (entry.Attempts >= Policy.MaxAttempts)
        {
            DeadLetter(position!, index, DeadLetterReason.MaxAttempts, entry.Reason, now);
            AfterSettle();
            return SettleOutcome.Done;
        }

        entry.DueAt = now + delayTicks;
        if (delayTicks == 0 && !entry.Queued)
        {
            Redeliver(entry, now);
        }

        return SettleOutcome.Done;
    }

    /// <summary>Terminate: dead-letter now (reason <c>terminated</c>).</summary>
    public SettleOutcome Terminate(int topicNumber, long sequence, string? reason, long now)
    {
        var entry = FindEntry(topicNumber, sequence, out var position, out var index);
        if (entry is null)
        {
            return SettleOutcome.Unknown;
        }

        if (BrokerTracing.Enabled(entry.Event))
        {
            BrokerTracing.Settled(entry, Id, "terminate");
        }

        DeadLetter(position!, index, DeadLetterReason.Terminated, reason, now);
        AfterSettle();
        return SettleOutcome.Done;
    }

    /// <summary>Extend: the ack timer restarts now, for <paramref name="waitTicks"/> (0: the wait of the current
    /// attempt).</summary>
    public SettleOutcome Extend(int topicNumber, long sequence, long waitTicks, long now)
    {
        var entry = FindEntry(topicNumber, sequence, out _, out _);
        if (entry is null)
        {
            return SettleOutcome.Unknown;
        }

        entry.DueAt = now + (waitTicks == 0 ? Policy.WaitTicksAfter(entry.Attempts) : waitTicks);
        return SettleOutcome.Done;
    }

    /// <summary>Files the in-flight entry at <paramref name="index"/> as a dead letter and settles it; the caller
    /// runs <see cref="AfterSettle"/>.</summary>
    private void DeadLetter(SubscriptionTopic position, int index, DeadLetterReason reason, string? clientReason,
        long now)
    {
        var entry = position.InFlight[index];
        Connection.Broker.DeadLetterOffice.File(this, position, entry, reason, clientReason, now);
        Settle(position, index);
    }

    /// <summary>Why the dead letter cannot be replayed to this subscription now, or null when it can.</summary>
    public string? CannotReplay(DeadLetter letter)
    {
        if (Closed)
        {
            return DeadLetterReplayFailure.SubscriptionGone;
        }

        if (!TryGetTopic(letter.Topic, out var position))
        {
            return DeadLetterReplayFailure.TopicGone;
        }

        if (position!.IndexOf(letter.Sequence) >= 0)
        {
            return DeadLetterReplayFailure.AlreadyInFlight;
        }

        return InFlightCount >= Settings.MaxInFlight ? DeadLetterReplayFailure.SubscriptionBusy : null;
    }

    /// <summary>Delivers a dead letter again, as a new round of attempts that keeps its id and history (after
    /// <see cref="CannotReplay"/> said yes, under the same hold of <see cref="Gate"/>).</summary>
    public void Replay(DeadLetter letter, StoredEvent stored, long now)
    {
        TryGetTopic(letter.Topic, out var position);
        var index = position!.IndexOf(letter.Sequence);
        var entry = position.Rent();
        entry.Reset(stored, now, now + Policy.WaitTicksAfter(1));
        entry.Replayed = letter;

        // In sequence order, as IndexOf and cumulative acks need: the replayed event is older than most in flight.
        position.InFlight.Insert(~index, entry);
        InFlightCount++;
        Connection.Broker.Counters.InFlightChanged(1);
        Connection.EnqueueEvent(this, entry, stored, entry.Attempts, replay: true);
        CheckBackpressure();
    }
}
