using Marie.Events.Broker.Access;
using Marie.Events.Broker.Connections;
using Marie.Events.Broker.Limits;
using Marie.Events.Broker.Subscriptions;
using Marie.Events.Protocol;

namespace Marie.Events.Broker;

public sealed partial class GrpcEventBroker
{
    /// <summary>A topic name a client gave must fit <c>max_string_length</c>.</summary>
    private void CheckTopicName(string topic)
    {
        var max = Settings.Limits.MaxStringLength;
        if (topic.Length > max)
        {
            throw BrokerLimitException.Create(LimitNames.MaxStringLength, max, "the topic name is too long");
        }
    }

    /// <summary>Refuses, before any is created, topics that would take the broker over <c>max_topics</c>.
    /// Caller holds the topology lock.</summary>
    private void CheckNewTopics(IReadOnlyList<string> names)
    {
        var missing = names.Count(n => !_topics.ContainsKey(n));
        if (missing > 0)
        {
            CheckRoomForTopics(missing);
        }
    }

    /// <summary>The one place the <c>max_topics</c> refusal is built: <paramref name="count"/> more topics must fit.</summary>
    private void CheckRoomForTopics(int count)
    {
        var max = Settings.Limits.MaxTopics;
        if (_topics.Count + count > max)
        {
            throw BrokerLimitException.Create(LimitNames.MaxTopics, max, "the broker holds as many topics as it may");
        }
    }

    /// <summary>
    /// Gives <paramref name="connection"/> new rights, under the topology lock (so no subscription or topic is
    /// created half under the old rights): a wildcard subscription leaves the topics it may no longer see and joins,
    /// live from their head, the existing topics it now may. Returns the subscriptions that named a topic the
    /// connection may no longer see: the caller closes them.
    /// </summary>
    internal List<(Subscription Subscription, string Topic)> ChangeAccess(BrokerConnection connection, ConnectionAccess access)
    {
        var lost = new List<(Subscription, string)>();
        lock (_topology)
        {
            connection.SetAccess(access);
            foreach (var subscription in connection.SnapshotSubscriptions())
            {
                // One not attached yet checks the new access itself when it attaches (under this same lock).
                if (!subscription.Attached || subscription.Closed)
                {
                    continue;
                }

                var denied = subscription.RequestedTopics.FirstOrDefault(t => t != ConnectionAccess.AllTopics && !access.CanSee(t));
                if (denied is not null)
                {
                    lost.Add((subscription, denied));
                    continue;
                }

                if (subscription.Wildcard)
                {
                    ReviewWildcard(subscription, access);
                }
            }
        }

        return lost;
    }

    /// <summary>Caller holds the topology lock.</summary>
    private void ReviewWildcard(Subscription subscription, ConnectionAccess access)
    {
        foreach (var position in subscription.TopicsSnapshot())
        {
            if (access.CanSee(position.Topic.Name))
            {
                continue;
            }

            lock (position.Topic.Gate)
            {
                position.Topic.Detach(position);
                lock (subscription.Gate)
                {
                    subscription.RemoveTopic(position);
                }
            }
        }

        foreach (var topic in _topics.Values)
        {
            if (!access.CanSee(topic.Name))
            {
                continue;
            }

            lock (topic.Gate)
            {
                lock (subscription.Gate)
                {
                    if (!subscription.Closed && !subscription.TryGetTopic(topic.Name, out _))
                    {
                        // Newly visible: live from now, like a topic created after the subscription.
                        var position = subscription.AddTopic(topic, topic.Log.Head);
                        position.Lagging = false;
                        topic.Attach(position);
                    }
                }
            }
        }
    }
}
