using Marie.Events.Broker.Subscriptions;

namespace Marie.Events.Broker.Topics;

/// <summary>
/// A topic: its log and the subscriptions attached to it. Publishing to a topic holds its lock while the event is
/// appended and offered to the attached subscriptions, so every subscription sees a topic's events in sequence
/// order. Topics never share a lock.
/// </summary>
internal sealed class BrokerTopic(ITopicLog log)
{
    private SubscriptionTopic[] _subscribers = [];

    public string Name => Log.Topic;

    public ITopicLog Log { get; } = log;

    /// <summary>Serializes appends and changes to the subscriber list.</summary>
    public Lock Gate { get; } = new();

    /// <summary>The attached subscriptions; a new array on every change (copy on write), read under <see cref="Gate"/>.</summary>
    public SubscriptionTopic[] Subscribers => _subscribers;

    /// <summary>Attaches a subscription. Caller holds <see cref="Gate"/>.</summary>
    public void Attach(SubscriptionTopic subscriptionTopic) => _subscribers = [.. _subscribers, subscriptionTopic];

    /// <summary>Detaches a subscription. Caller holds <see cref="Gate"/>.</summary>
    public void Detach(SubscriptionTopic subscriptionTopic)
    {
        var index = Array.IndexOf(_subscribers, subscriptionTopic);
        if (index < 0)
        {
            return;
        }

        var next = new SubscriptionTopic[_subscribers.Length - 1];
        Array.Copy(_subscribers, 0, next, 0, index);
        Array.Copy(_subscribers, index + 1, next, index, _subscribers.Length - index - 1);
        _subscribers = next;
    }
}
