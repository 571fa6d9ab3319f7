using System.Globalization;

namespace Marie.Events.Broker.Connections;

/// <summary>
/// An ack id reads <c>tag.subscription.topic.sequence</c>: the connection's random <see cref="BrokerConnection.Tag"/>,
/// the subscription's and the topic's numbers on that connection, and the event's sequence number. Its start up to the
/// sequence is fixed per subscription topic (<see cref="Subscriptions.SubscriptionTopic.AckPrefixBytes"/>).
/// </summary>
internal static class AckId
{
    /// <summary>Reads an ack id; false when it is malformed or its tag is not <paramref name="tag"/>.</summary>
    public static bool TryParse(string ackId, string tag, out int subscriptionNumber, out int topicNumber,
        out long sequence)
    {
        subscriptionNumber = topicNumber = 0;
        sequence = 0;
        var span = ackId.AsSpan();
        if (!span.StartsWith(tag, StringComparison.Ordinal) || span.Length <= tag.Length || span[tag.Length] != '.')
        {
            return false;
        }

        span = span[(tag.Length + 1)..];
        var first = span.IndexOf('.');
        if (first < 0
            || !int.TryParse(span[..first], NumberStyles.None, CultureInfo.InvariantCulture, out subscriptionNumber))
        {
            return false;
        }

        span = span[(first + 1)..];
        var second = span.IndexOf('.');
        return second >= 0
            && int.TryParse(span[..second], NumberStyles.None, CultureInfo.InvariantCulture, out topicNumber)
            && long.TryParse(span[(second + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out sequence);
    }
}
