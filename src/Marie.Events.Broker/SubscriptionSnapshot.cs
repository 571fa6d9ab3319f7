namespace Marie.Events.Broker;

/// <summary>One open subscription as <see cref="GrpcEventBroker.DescribeSubscriptions"/> saw it: what the admin
/// API, the dashboard and the lag gauges show. Taken under the subscription's lock, one subscription at a time, so
/// figures of different subscriptions may be a few microseconds apart.</summary>
/// <param name="Id">The subscription id the client chose.</param>
/// <param name="ConnectionId">The stream (broker connection) holding it.</param>
/// <param name="Owner">The API key name of that stream.</param>
/// <param name="RequestedTopics">The topics as the client asked for them (<c>"*"</c> included).</param>
/// <param name="InFlight">Events delivered and not yet settled.</param>
/// <param name="Redelivered">Redeliveries this subscription has made since it was opened.</param>
/// <param name="Topics">Its position on each topic it is attached to.</param>
public sealed record SubscriptionSnapshot(
    string Id,
    string ConnectionId,
    string Owner,
    IReadOnlyList<string> RequestedTopics,
    int InFlight,
    long Redelivered,
    IReadOnlyList<SubscriptionTopicSnapshot> Topics)
{
    /// <summary>The largest lag over its topics (0 with none).</summary>
    public long Lag => Topics.Count == 0 ? 0 : Topics.Max(t => t.Lag);

    /// <summary>How long its oldest unacknowledged event has been held since its first delivery; null when nothing
    /// is in flight.</summary>
    public TimeSpan? OldestUnackedAge => Topics.Max(t => t.OldestUnackedAge);
}

/// <summary>A subscription's position on one topic.</summary>
/// <param name="Topic">The topic's name.</param>
/// <param name="Head">The topic's last sequence number.</param>
/// <param name="AckedThrough">The acknowledged point: every event up to it is settled or filtered out (the first
/// unacknowledged sequence minus one; with nothing in flight, the last one considered).</param>
/// <param name="InFlight">Events of this topic delivered and not yet settled.</param>
/// <param name="OldestUnackedAge">Time since the oldest unacknowledged event's first delivery; null: none.</param>
public readonly record struct SubscriptionTopicSnapshot(
    string Topic,
    long Head,
    long AckedThrough,
    int InFlight,
    TimeSpan? OldestUnackedAge)
{
    /// <summary>Events between the topic's head and the acknowledged point (filtered-out ones included: the
    /// subscription still has to read past them).</summary>
    public long Lag => Math.Max(0, Head - AckedThrough);
}

/// <summary>One open broker connection (a <c>StreamEvents</c> stream) as
/// <see cref="GrpcEventBroker.DescribeConnections"/> saw it.</summary>
/// <param name="Id">The connection's id (as logged).</param>
/// <param name="Owner">The API key name it belongs to.</param>
/// <param name="Subscriptions">Subscriptions open on it.</param>
/// <param name="InFlight">Events in flight over all its subscriptions.</param>
/// <param name="QueuedReplies">Frames waiting in its write queue.</param>
public sealed record ConnectionSnapshot(string Id, string Owner, int Subscriptions, int InFlight, int QueuedReplies);
