using Marie.Events.Broker.Access;
using Marie.Events.Broker.Connections;
using Marie.Events.Broker.Subscriptions;

namespace Marie.Events.Broker;

public sealed partial class GrpcEventBroker
{
    /// <summary>Every open subscription whose attached topics <paramref name="access"/> may all see, ordered by
    /// owner then id. Costs one pass over each subscription's in-flight list (at most <c>max_in_flight</c>) under its
    /// lock: for the admin API and metric scrapes, not for a hot path.</summary>
    public IReadOnlyList<SubscriptionSnapshot> DescribeSubscriptions(ConnectionAccess access)
    {
        ArgumentNullException.ThrowIfNull(access);
        var now = Time.GetTimestamp();
        var result = new List<SubscriptionSnapshot>();
        foreach (var connection in _connections.Keys)
        {
            foreach (var subscription in connection.SnapshotSubscriptions())
            {
                var snapshot = subscription.Describe(now);
                if (snapshot is not null && snapshot.Topics.All(t => access.CanSee(t.Topic)))
                {
                    result.Add(snapshot);
                }
            }
        }

        result.Sort(static (a, b) =>
        {
            var byOwner = string.CompareOrdinal(a.Owner, b.Owner);
            return byOwner != 0 ? byOwner : string.CompareOrdinal(a.Id, b.Id);
        });
        return result;
    }

    /// <summary>Every open broker connection, ordered by owner then id.</summary>
    public IReadOnlyList<ConnectionSnapshot> DescribeConnections()
    {
        var result = new List<ConnectionSnapshot>();
        foreach (var connection in _connections.Keys)
        {
            if (!connection.IsDisposed)
            {
                result.Add(Describe(connection));
            }
        }

        result.Sort(static (a, b) =>
        {
            var byOwner = string.CompareOrdinal(a.Owner, b.Owner);
            return byOwner != 0 ? byOwner : string.CompareOrdinal(a.Id, b.Id);
        });
        return result;
    }

    private static ConnectionSnapshot Describe(BrokerConnection connection)
    {
        var subscriptions = connection.SnapshotSubscriptions();
        var inFlight = 0;
        foreach (var subscription in subscriptions)
        {
            lock (subscription.Gate)
            {
                inFlight += subscription.InFlightCount;
            }
        }

        return new ConnectionSnapshot(
            connection.Id, connection.Owner, subscriptions.Length, inFlight, connection.QueuedReplies);
    }
}
