using Marie.Events.Broker.Access;
using Marie.Events.Broker.Connections;
using Marie.Events.Broker.Subscriptions;
using Marie.Events.Broker.Topics;

namespace Marie.Events.Broker;

public sealed partial class GrpcEventBroker
{
    /// <summary>
    /// Attaches a subscription to its topics (creating named topics that do not exist yet). Under each topic's lock
    /// the start position is fixed and the subscription attached, so replay and live delivery meet with no gap and no
    /// duplicate. Positions start lagging: nothing is delivered until the caller pumps, after the confirm is queued.
    /// Visibility is checked here, under the topology lock that access changes also take.
    /// </summary>
    /// <exception cref="TopicAccessDeniedException">A named topic the connection may not see
    /// (nothing attached).</exception>
    /// <exception cref="Limits.BrokerLimitException">A new topic over <c>max_topics</c> (nothing attached).</exception>
    internal List<AttachedTopic>? Attach(Subscription subscription, IReadOnlyList<string> namedTopics, ResumePlan plan)
    {
        var attached = new List<AttachedTopic>();
        lock (_topology)
        {
            if (subscription.Closed)
            {
                // Its connection closed while it was being made: nothing to attach, nothing to count.
                return null;
            }

            var access = subscription.Connection.Access;
            foreach (var name in namedTopics)
            {
                if (!access.CanSee(name))
                {
                    throw TopicAccessDeniedException.For(name);
                }
            }

            CheckNewTopics(namedTopics);
            var topics = new List<BrokerTopic>();
            foreach (var name in namedTopics)
            {
                topics.Add(GetOrCreateTopicLocked(name));
            }

            if (subscription.Wildcard)
            {
                foreach (var topic in _topics.Values)
                {
                    if (!topics.Contains(topic) && access.CanSee(topic.Name))
                    {
                        topics.Add(topic);
                    }
                }

                _wildcard = [.. _wildcard, subscription];
            }

            foreach (var topic in topics)
            {
                lock (topic.Gate)
                {
                    lock (subscription.Gate)
                    {
                        var start = plan.StartFor(topic.Log, subscription.Filter);
                        if (subscription.Durable is { } durable)
                        {
                            start = durable.StartFor(topic, start);
                        }

                        topic.Attach(subscription.AddTopic(topic, start.Watermark));
                        var head = topic.Log.Head;
                        var replayFrom = start.Watermark < head
                            ? Math.Max(start.Watermark + 1, topic.Log.FirstAvailable)
                            : 0;
                        attached.Add(new AttachedTopic(topic.Name, topic.Log.Epoch, head, replayFrom, start));
                    }
                }
            }

            subscription.Attached = true;
            Counters.SubscriptionAdded();
        }

        return attached;
    }

    /// <summary>
    /// Replaces a subscription's filter and re-indexes it on its topics, holding every one of those topics' locks at
    /// once: no event of any of its topics is dispatched half under the old filter and half under the new one.
    /// Only the topology lock holder takes several topic locks, so this cannot deadlock with publishers.
    /// </summary>
    internal void UpdateFilter(Subscription subscription, EventFilter filter)
    {
        lock (_topology)
        {
            var positions = subscription.Topics;
            var entered = 0;
            try
            {
                for (; entered < positions.Count; entered++)
                {
                    positions[entered].Topic.Gate.Enter();
                }

                lock (subscription.Gate)
                {
                    if (subscription.Closed)
                    {
                        return;
                    }

                    subscription.Filter = filter;
                    foreach (var position in positions)
                    {
                        position.Topic.Reindex(position);
                    }
                }
            }
            finally
            {
                for (var i = entered - 1; i >= 0; i--)
                {
                    positions[i].Topic.Gate.Exit();
                }
            }
        }
    }

    /// <summary>Detaches a subscription from every topic and releases its in-flight events.</summary>
    internal void RemoveSubscription(Subscription subscription)
    {
        lock (_topology)
        {
            if (subscription.Wildcard)
            {
                _wildcard = [.. _wildcard.Where(s => s != subscription)];
            }

            foreach (var position in subscription.Topics)
            {
                lock (position.Topic.Gate)
                {
                    position.Topic.Detach(position);
                }
            }

            // Closed under the topology lock, so a filter update that follows cannot attach it again.
            lock (subscription.Gate)
            {
                if (subscription.Closed)
                {
                    return;
                }

                subscription.Close();
            }

            if (!subscription.Attached)
            {
                // Closed before it was attached: it was never counted.
                LeaveDurable(subscription);
                return;
            }
        }

        Counters.SubscriptionRemoved();
        LeaveDurable(subscription);
    }

    /// <summary>A closed durable member leaves its durable; the others take what it held. No lock held.</summary>
    private void LeaveDurable(Subscription subscription)
    {
        if (subscription.Durable is not null)
        {
            Durables.Left(subscription, subscription.HandedOverAtClose);
        }
    }

    /// <summary>
    /// Gives <paramref name="connection"/> new rights, under the topology lock (so no subscription or topic is
    /// created half under the old rights): a wildcard subscription leaves the topics it may no longer see and joins,
    /// live from their head, the existing topics it now may. Returns the subscriptions that named a topic the
    /// connection may no longer see: the caller closes them.
    /// </summary>
    internal List<(Subscription Subscription, string Topic)> ChangeAccess(
        BrokerConnection connection,
        ConnectionAccess access)
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

                var denied = subscription.RequestedTopics.FirstOrDefault(
                    t => t != ConnectionAccess.AllTopics && !access.CanSee(t));
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
