using Google.Protobuf.WellKnownTypes;
using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;

namespace Marie.Events.Broker;

/// <summary>What <see cref="GrpcEventBroker.ApplyReplicated"/> did with an event.</summary>
public enum ReplicaOutcome
{
    /// <summary>Stored at its sequence number and offered to the matching subscriptions.</summary>
    Applied,

    /// <summary>Already held (its sequence number is not above the topic's head): ignored.</summary>
    AlreadyHeld,

    /// <summary>Numbers between the topic's head and this event are missing: nothing stored. Fetch them, then
    /// apply them in order (the first with <c>allowGap</c>).</summary>
    Gap,

    /// <summary>The shared log's epoch for the topic is not the local one (the shared log was reset): nothing
    /// stored. Reset the topic with <see cref="GrpcEventBroker.ResetTopic"/>.</summary>
    EpochChanged,
}

/// <summary>Where a topic's local log stands.</summary>
/// <param name="Epoch">The log's epoch.</param>
/// <param name="Head">The last sequence number held, 0 when none.</param>
public readonly record struct TopicPosition(string Epoch, long Head);

/// <summary>
/// Cluster mode: the sequence numbers and epochs of every topic are assigned by a shared log (Redis), and each
/// gateway's broker keeps a local ring of it, fed in sequence order by <see cref="ApplyReplicated"/>. Subscriptions,
/// in-flight state and acks stay as they are: local to the connection. In this mode <see cref="Publish(EventData)"/> is not
/// used: events are published to the shared log and come back through <see cref="ApplyReplicated"/>.
/// </summary>
public sealed partial class GrpcEventBroker
{
    /// <summary>Cluster mode: a topic created here before its first event (by a subscription) has no epoch yet
    /// (empty, which clients treat as unknown) and takes the shared log's with its first event.</summary>
    private volatile bool _sharedLog;

    /// <summary>Switches to cluster mode (see the class summary). Call before the broker serves anyone.</summary>
    public void UseSharedLog() => _sharedLog = true;

    /// <summary>
    /// Stores an event of the shared log at <paramref name="sequence"/> and dispatches it. Callers apply a topic's
    /// events in sequence order from one thread at a time.
    /// </summary>
    /// <param name="topic">The topic (<c>event.api_key</c>).</param>
    /// <param name="epoch">The shared log's epoch for the topic.</param>
    /// <param name="sequence">The sequence number the shared log assigned.</param>
    /// <param name="evt">The event; the broker takes ownership of it.</param>
    /// <param name="publishedAt">When the shared log accepted it.</param>
    /// <param name="allowGap">True: store it even when numbers before it are missing (they read as lost). Used
    /// for the first event of a catch-up read from the shared log, which holds no more than that.</param>
    public ReplicaOutcome ApplyReplicated(string topic, string epoch, long sequence, EventData evt, Timestamp publishedAt, bool allowGap = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentException.ThrowIfNullOrEmpty(epoch);
        ArgumentNullException.ThrowIfNull(evt);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequence, 1);
        var local = GetOrCreateTopic(topic, epoch);
        lock (local.Gate)
        {
            if (!local.Log.TryAdoptEpoch(epoch))
            {
                return ReplicaOutcome.EpochChanged;
            }

            var head = local.Log.Head;
            if (sequence <= head)
            {
                return ReplicaOutcome.AlreadyHeld;
            }

            if (sequence > head + 1 && !allowGap)
            {
                return ReplicaOutcome.Gap;
            }

            var stored = local.Log.AppendAt(sequence, evt, publishedAt);
            local.Dispatch(stored);
        }

        Counters.PublishedOne();
        return ReplicaOutcome.Applied;
    }

    /// <summary>Refuses, as <see cref="Publish(EventData)"/> would, an event that cannot be filed: no topic
    /// (<see cref="ArgumentException"/>), a topic name over the limit, or a new topic past <c>max_topics</c>
    /// (<see cref="Limits.BrokerLimitException"/>). Cluster mode checks this before filing in the shared log.</summary>
    public void CheckPublishable(EventData evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (string.IsNullOrEmpty(evt.ApiKey))
        {
            throw new ArgumentException("event.api_key (the topic) is required", nameof(evt));
        }

        CheckTopicName(evt.ApiKey);
        if (!_topics.ContainsKey(evt.ApiKey) && _topics.Count >= Settings.Limits.MaxTopics)
        {
            throw Limits.BrokerLimitException.Create(Limits.LimitNames.MaxTopics, Settings.Limits.MaxTopics, "the broker holds as many topics as it may");
        }
    }

    /// <summary>The epoch and head of a topic's local log; null when the topic does not exist here.</summary>
    public TopicPosition? GetTopicPosition(string topic) =>
        _topics.TryGetValue(topic, out var local) ? new TopicPosition(local.Log.Epoch, local.Log.Head) : null;

    /// <summary>The names of the topics that exist here.</summary>
    public IReadOnlyList<string> TopicNames() => [.. _topics.Keys];

    /// <summary>
    /// The shared log of <paramref name="topic"/> was reset (new <paramref name="epoch"/>): the topic starts over
    /// empty with that epoch, and every connection with a subscription on the old one is closed, so that its client
    /// reconnects and resumes (it is then told ERROR_EPOCH_CHANGED and replayed from the start of the ring).
    /// </summary>
    /// <returns>The number of connections closed.</returns>
    public int ResetTopic(string topic, string epoch)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentException.ThrowIfNullOrEmpty(epoch);
        var connections = new HashSet<BrokerConnection>();
        lock (_topology)
        {
            if (_topics.TryGetValue(topic, out var old))
            {
                lock (old.Gate)
                {
                    foreach (var position in old.Subscribers.All())
                    {
                        connections.Add(position.Subscription.Connection);
                    }
                }

                _topics.TryRemove(topic, out _);
            }

            var fresh = GetOrCreateTopicLocked(topic, epoch);
            Log.TopicReset(topic, old?.Log.Epoch ?? "", fresh.Log.Epoch, connections.Count);
        }

        foreach (var connection in connections)
        {
            connection.Dispose();
        }

        return connections.Count;
    }
}
