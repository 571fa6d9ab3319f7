using Marie.Events.Broker.Subscriptions;
using Marie.Events.Broker.Telemetry;

namespace Marie.Events.Broker.Topics;

/// <summary>
/// A topic: its log and the subscriptions attached to it. Publishing to a topic holds its lock while the event is
/// appended and offered to the attached subscriptions, so every subscription sees a topic's events in sequence
/// order. Topics never share a lock.
/// </summary>
internal sealed class BrokerTopic(ITopicLog log, TopicCounters counters)
{
    public string Name => Log.Topic;

    /// <summary>The deliveries of its metric label (shared with other topics under <c>_other</c>).</summary>
    public TopicCounters Counters { get; } = counters;

    public ITopicLog Log { get; } = log;

    /// <summary>Serializes appends and changes to the subscriber set.</summary>
    public Lock Gate { get; } = new();

    /// <summary>The attached subscriptions; replaced on every change, read under <see cref="Gate"/>.</summary>
    public SubscriberSet Subscribers { get; private set; } = SubscriberSet.Empty;

    /// <summary>Attaches a position, indexed by its subscription's current job-id filter. Caller holds
    /// <see cref="Gate"/> and the subscription's lock.</summary>
    public void Attach(SubscriptionTopic position)
    {
        position.IndexedJobIds = position.Subscription.Filter.JobIds;
        Subscribers = Subscribers.Add(position, position.IndexedJobIds);
    }

    /// <summary>Detaches a position. Caller holds <see cref="Gate"/>.</summary>
    public void Detach(SubscriptionTopic position) =>
        Subscribers = Subscribers.Remove(position, position.IndexedJobIds);

    /// <summary>Re-indexes a position after its subscription's filter changed. Caller holds <see cref="Gate"/> and
    /// the subscription's lock.</summary>
    public void Reindex(SubscriptionTopic position)
    {
        Detach(position);
        Attach(position);
    }

    /// <summary>
    /// Offers a just-appended event to the subscriptions that can match it. Caller holds <see cref="Gate"/>.
    /// </summary>
    public void Dispatch(StoredEvent stored)
    {
        var subscribers = Subscribers;
        foreach (var position in subscribers.Unindexed)
        {
            position.Subscription.Offer(position, stored);
        }

        foreach (var position in subscribers.ForJob(stored.JobId))
        {
            position.Subscription.Offer(position, stored);
        }
    }
}
