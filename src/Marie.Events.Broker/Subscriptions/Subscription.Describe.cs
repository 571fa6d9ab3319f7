namespace Marie.Events.Broker.Subscriptions;

internal sealed partial class Subscription
{
    /// <summary>Redeliveries made (by timer, nack or backoff) since the subscription was opened. Guarded by
    /// <see cref="Gate"/>.</summary>
    private long _redelivered;

    /// <summary>Its figures now (<paramref name="now"/>: a TimeProvider timestamp), or null once closed.</summary>
    public SubscriptionSnapshot? Describe(long now)
    {
        lock (Gate)
        {
            if (Closed)
            {
                return null;
            }

            var topics = new SubscriptionTopicSnapshot[_positions.Count];
            for (var i = 0; i < topics.Length; i++)
            {
                var position = _positions[i];
                var inFlight = position.InFlight;
                var ackedThrough = inFlight.Count > 0 ? inFlight[0].Sequence - 1 : position.Watermark;
                TimeSpan? oldest = null;
                if (inFlight.Count > 0)
                {
                    // Sequence order is not first-delivery order (a replayed dead letter starts a new round): scan.
                    var first = long.MaxValue;
                    foreach (var entry in inFlight)
                    {
                        first = Math.Min(first, entry.FirstSentAt);
                    }

                    oldest = Connection.Broker.Time.GetElapsedTime(first, now);
                }

                topics[i] = new SubscriptionTopicSnapshot(
                    position.Topic.Name, position.Topic.Log.Head, ackedThrough, inFlight.Count, oldest);
            }

            return new SubscriptionSnapshot(
                Id, Connection.Id, Connection.Owner, RequestedTopics, InFlightCount, _redelivered, topics);
        }
    }
}
