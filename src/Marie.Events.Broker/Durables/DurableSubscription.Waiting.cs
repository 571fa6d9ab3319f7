using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Storage;
using Marie.Events.Broker.Subscriptions;
using Marie.Events.Broker.Topics;

namespace Marie.Events.Broker.Durables;

/// <summary>A durable's events that no member holds (handed over, loaded, replayed dead letters) and its stored
/// form.</summary>
internal sealed partial class DurableSubscription
{
    /// <summary>A member gives back an in-flight event (its stream ended, or it went silent): it waits for another
    /// member, with its attempts. Caller holds the member's lock and releases the entry after.</summary>
    public void HandOver(InFlightEntry entry)
    {
        var stored = entry.Event;
        if (stored.SharesChunk)
        {
            // It may wait long (no member for hours): it keeps bytes of its own, not the ring's chunk.
            stored = stored.Detach();
        }

        lock (Gate)
        {
            if (!_topics.TryGetValue(entry.Position.Topic.Name, out var state))
            {
                return;
            }

            state.Pending[entry.Sequence] = entry.Attempts;
            if (state.Waiting.TryAdd(entry.Sequence, new WaitingEvent(stored, entry.Replayed)))
            {
                Interlocked.Increment(ref _waiting);
            }

            Dirty = true;
        }
    }

    /// <summary>Takes the oldest waiting event of a topic <paramref name="member"/> covers. Caller holds the
    /// member's lock.</summary>
    public bool TryTakeWaiting(Subscription member, out SubscriptionTopic? position, out long sequence,
        out WaitingEvent? waiting, out int attempts)
    {
        lock (Gate)
        {
            foreach (var state in _topics.Values)
            {
                // Removed: lost to another gateway (its lease) or deleted, its members are being closed.
                if (Removed || state.Waiting.Count == 0 || !member.TryGetTopic(state.Topic, out position))
                {
                    continue;
                }

                foreach (var (first, value) in state.Waiting)
                {
                    state.Waiting.Remove(first);
                    Interlocked.Decrement(ref _waiting);
                    sequence = first;
                    waiting = value;
                    attempts = state.Pending.GetValueOrDefault(first);
                    return true;
                }
            }
        }

        position = null;
        sequence = 0;
        waiting = null;
        attempts = 0;
        return false;
    }

    /// <summary>A dead letter replayed to this durable: it waits for a member, as a new round of attempts. The
    /// failure code when it cannot (deleted, no position on its topic, the event pending already), else null.
    /// </summary>
    public string? AddReplay(DeadLetter letter, StoredEvent stored)
    {
        lock (Gate)
        {
            if (CannotReplayLocked(letter) is { } failure)
            {
                return failure;
            }

            var state = _topics[letter.Topic];
            state.Pending[letter.Sequence] = 0;
            state.Waiting[letter.Sequence] = new WaitingEvent(stored, letter);
            Interlocked.Increment(ref _waiting);
            Dirty = true;
            return null;
        }
    }

    /// <summary>Why a dead letter cannot be replayed to this durable now, or null when it can.</summary>
    public string? CannotReplay(DeadLetter letter)
    {
        lock (Gate)
        {
            return CannotReplayLocked(letter);
        }
    }

    /// <summary>Caller holds <see cref="Gate"/>.</summary>
    private string? CannotReplayLocked(DeadLetter letter)
    {
        if (Removed)
        {
            return DeadLetterReplayFailure.SubscriptionGone;
        }

        if (!_topics.TryGetValue(letter.Topic, out var state))
        {
            return DeadLetterReplayFailure.TopicGone;
        }

        return state.Pending.ContainsKey(letter.Sequence) ? DeadLetterReplayFailure.AlreadyInFlight : null;
    }

    /// <summary>Members now; caller holds <see cref="Gate"/>.</summary>
    public int MemberCountLocked => _members.Count;

    /// <summary>The state to save; clears <see cref="Dirty"/>. Held by a stream, it is active now
    /// (<paramref name="now"/>): another gateway of a shared store tells from this that it is in use.</summary>
    public DurableSnapshot Snapshot(DateTimeOffset now) => Snapshot(clearDirty: true, now);

    /// <summary>The state as it is now, for a listing (<see cref="Dirty"/> stays).</summary>
    public DurableSnapshot Peek() => Snapshot(clearDirty: false, null);

    private DurableSnapshot Snapshot(bool clearDirty, DateTimeOffset? now)
    {
        lock (Gate)
        {
            Dirty &= !clearDirty;
            if (now is { } active && _members.Count > 0)
            {
                LastActiveAt = active;
            }

            return new DurableSnapshot(Owner, Name, Group, LastActiveAt,
                [.. _topics.Values.Select(t => new DurableTopicSnapshot(t.Topic, t.Epoch, t.Acked, t.Delivered,
                    [.. t.Pending.OrderBy(p => p.Key).Select(p => new DurablePending(p.Key, p.Value))]))]);
        }
    }

    /// <summary>A durable as stored: every pending event waits for a member (read from the ring then).</summary>
    public static DurableSubscription FromSnapshot(DurableSnapshot snapshot)
    {
        var durable = new DurableSubscription(snapshot.Key, snapshot.Name, snapshot.Group)
        {
            LastActiveAt = snapshot.LastActiveAt,
        };
        foreach (var topic in snapshot.Topics)
        {
            var state = new DurableTopic(topic.Topic, topic.Epoch, topic.Delivered);
            foreach (var pending in topic.Pending)
            {
                state.Pending[pending.Sequence] = pending.Attempts;
                state.Waiting[pending.Sequence] = new WaitingEvent(null, null);
            }

            durable._waiting += state.Waiting.Count;
            durable._topics[topic.Topic] = state;
        }

        return durable;
    }
}
