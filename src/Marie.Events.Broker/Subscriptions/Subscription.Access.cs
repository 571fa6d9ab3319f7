namespace Marie.Events.Broker.Subscriptions;

internal sealed partial class Subscription
{
    /// <summary>
    /// Set under the topology lock once attached to its topics: only then may an access change edit it.
    /// </summary>
    public bool Attached { get; set; }

    /// <summary>The subscription's positions, copied under <see cref="Gate"/>.</summary>
    public SubscriptionTopic[] TopicsSnapshot()
    {
        lock (Gate)
        {
            return [.. _positions];
        }
    }

    /// <summary>
    /// Takes one topic out of the subscription (its key may no longer see it): its in-flight events are released,
    /// so queued deliveries of them are skipped and none is redelivered; room they held goes to the other topics.
    /// Caller holds the topic's lock (having detached the position) and <see cref="Gate"/>.
    /// </summary>
    public void RemoveTopic(SubscriptionTopic position)
    {
        if (!_positions.Remove(position))
        {
            return;
        }

        _byName?.Remove(position.Topic.Name);
        _byNumber?.Remove(position.Number);
        while (position.InFlight.Count > 0)
        {
            Settle(position, position.InFlight.Count - 1);
        }

        AfterSettle();
    }
}
