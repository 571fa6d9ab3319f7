using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Storage;
using Marie.Events.Broker.Subscriptions;
using Marie.Events.Broker.Topics;

namespace Marie.Events.Broker.Durables;

/// <summary>
/// A durable subscription of one key: per topic the highest sequence handed to a member and the unacknowledged
/// events, which outlive the streams that hold it. Its members are ordinary subscriptions (one, or a consumer group's
/// several): each claims an event here before delivering it, so each event goes to one member; a member that leaves
/// hands its in-flight events back (<see cref="HandOver"/>) and the others take them (<see cref="TryTakeWaiting"/>).
/// Every member is guarded by <see cref="Gate"/>, taken after a member subscription's lock (lock order: topology,
/// topic, subscription, durable) and never while holding another durable's or the registry's.
/// </summary>
internal sealed partial class DurableSubscription(string owner, string name, string group)
{
    private readonly List<Subscription> _members = [];

    /// <summary>The members as an array, replaced on join and leave: the publish path reads it without a lock.
    /// </summary>
    private Subscription[] _snapshot = [];
    private int _turn;
    private readonly Dictionary<string, DurableTopic> _topics = new(StringComparer.Ordinal);
    private int _waiting;

    /// <summary>The key it belongs to.</summary>
    public string Owner { get; } = owner;

    public string Name { get; } = name;

    /// <summary>The consumer group ("" when none: at most one stream holds it).</summary>
    public string Group { get; } = group;

    public Lock Gate { get; } = new();

    /// <summary>Deleted or expired: no stream may join it any more.</summary>
    public bool Removed { get; set; }

    /// <summary>Changed since its last save.</summary>
    public bool Dirty { get; set; }

    /// <summary>When the last stream left it (or it was made or loaded): its inactive TTL counts from here.</summary>
    public DateTimeOffset LastActiveAt { get; set; }

    /// <summary>True while events wait for a member with room (a cheap check before taking the lock).</summary>
    public bool HasWaiting => Volatile.Read(ref _waiting) > 0;

    public int MemberCount
    {
        get
        {
            lock (Gate)
            {
                return _members.Count;
            }
        }
    }

    public Subscription[] Members()
    {
        lock (Gate)
        {
            return [.. _members];
        }
    }

    /// <summary>The member with the fewest events in flight that has room and is not suspended, ties taken in turn
    /// (so idle members share the load), or null when that is <paramref name="claimer"/>. Read without the members'
    /// locks: a stale figure only sends an event to a member a little busier than the least busy one.</summary>
    public Subscription? LeastBusy(Subscription claimer)
    {
        var members = Volatile.Read(ref _snapshot);
        if (members.Length < 2)
        {
            return null;
        }

        var start = (int)((uint)Interlocked.Increment(ref _turn) % (uint)members.Length);
        Subscription? best = null;
        var fewest = int.MaxValue;
        for (var i = 0; i < members.Length; i++)
        {
            var member = members[(start + i) % members.Length];
            var count = member.InFlightCount;
            if (count < fewest && (member == claimer || (!member.Closed && !member.Suspended)))
            {
                best = member;
                fewest = count;
            }
        }

        return best == claimer ? null : best;
    }

    /// <summary>Adds a member; the error code's reason when it may not join (null: joined).</summary>
    public string? Join(Subscription member, string group)
    {
        lock (Gate)
        {
            if (Removed)
            {
                return "the durable subscription was just deleted: subscribe again";
            }

            if (!string.Equals(group, Group, StringComparison.Ordinal))
            {
                return Group.Length == 0
                    ? $"durable subscription '{Name}' has no group: subscribe without group"
                    : $"durable subscription '{Name}' belongs to group '{Group}'";
            }

            if (Group.Length == 0 && _members.Count > 0)
            {
                return $"durable subscription '{Name}' is held by another stream: use a group to share it";
            }

            _members.Add(member);
            Volatile.Write(ref _snapshot, [.. _members]);
            return null;
        }
    }

    /// <summary>Removes a member; true when it was the last.</summary>
    public bool Leave(Subscription member, DateTimeOffset now)
    {
        lock (Gate)
        {
            if (!_members.Remove(member))
            {
                return false;
            }

            Volatile.Write(ref _snapshot, [.. _members]);
            if (_members.Count > 0)
            {
                return false;
            }

            LastActiveAt = now;
            Dirty = true;
            return true;
        }
    }

    /// <summary>Where a member starts on <paramref name="topic"/>: after what the durable handed out already, or,
    /// on a topic the durable has no position on yet, where the request asks (<paramref name="requested"/>). A
    /// position of another epoch (the log was reset) starts again at the ring's start with the epoch-change
    /// notice. Caller holds the topic's lock and the member's.</summary>
    public TopicStart StartFor(BrokerTopic topic, TopicStart requested)
    {
        lock (Gate)
        {
            var log = topic.Log;
            if (!_topics.TryGetValue(topic.Name, out var state))
            {
                _topics[topic.Name] = new DurableTopic(topic.Name, log.Epoch, requested.Watermark);
                Dirty = true;
                return requested;
            }

            if (log.Epoch.Length == 0)
            {
                // A shared store's topic this gateway has seen no event of yet: its epoch is learnt with the first
                // one (a reset is noticed then, as for any subscription).
                return new TopicStart(state.Delivered, false, null);
            }

            if (state.Epoch.Length == 0 || string.Equals(state.Epoch, log.Epoch, StringComparison.Ordinal))
            {
                state.Epoch = log.Epoch;
                return new TopicStart(state.Delivered, false, null);
            }

            var expected = state.Epoch;
            Interlocked.Add(ref _waiting, -state.Waiting.Count);
            state.Waiting.Clear();
            state.Pending.Clear();
            state.Epoch = log.Epoch;
            state.Delivered = log.FirstAvailable - 1;
            Dirty = true;
            return new TopicStart(state.Delivered, true, expected);
        }
    }

    /// <summary>The highest sequence of the topic handed to a member (0 when none).</summary>
    public long DeliveredOf(string topic)
    {
        lock (Gate)
        {
            return _topics.TryGetValue(topic, out var state) ? state.Delivered : 0;
        }
    }

    /// <summary>Claims <paramref name="sequence"/> for a member about to deliver it: false when another member had
    /// it, or a later one, already. Caller holds the member's lock.</summary>
    public bool TryClaim(BrokerTopic topic, long sequence)
    {
        lock (Gate)
        {
            if (Removed)
            {
                // Lost to another gateway (its lease) or deleted: its members are being closed.
                return false;
            }

            if (!_topics.TryGetValue(topic.Name, out var state))
            {
                // A topic that appeared after the member subscribed ("*"): the durable starts on it here.
                state = new DurableTopic(topic.Name, topic.Log.Epoch, sequence - 1);
                _topics[topic.Name] = state;
            }

            if (sequence <= state.Delivered)
            {
                return false;
            }

            state.Delivered = sequence;
            state.Pending[sequence] = 1;
            Dirty = true;
            return true;
        }
    }

    /// <summary>A member delivered a pending event again.</summary>
    public void Attempted(string topic, long sequence, int attempts)
    {
        lock (Gate)
        {
            if (_topics.TryGetValue(topic, out var state) && state.Pending.ContainsKey(sequence))
            {
                state.Pending[sequence] = attempts;
                Dirty = true;
            }
        }
    }

    /// <summary>A member settled the first <paramref name="count"/> of <paramref name="inFlight"/> (a cumulative
    /// ack): none of them is pending any more. One lock for the lot, not one per event.</summary>
    public void SettledFirst(string topic, List<InFlightEntry> inFlight, int count)
    {
        lock (Gate)
        {
            if (!_topics.TryGetValue(topic, out var state))
            {
                return;
            }

            for (var i = 0; i < count; i++)
            {
                Dirty |= state.Pending.Remove(inFlight[i].Sequence);
            }
        }
    }

    /// <summary>A member settled an event (acknowledged or dead-lettered): it is no longer pending.</summary>
    public void Settled(string topic, long sequence)
    {
        lock (Gate)
        {
            if (_topics.TryGetValue(topic, out var state) && state.Pending.Remove(sequence))
            {
                Dirty = true;
            }
        }
    }
}
