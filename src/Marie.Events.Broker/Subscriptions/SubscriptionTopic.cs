using System.Globalization;
using Marie.Events.Broker.Topics;

namespace Marie.Events.Broker.Subscriptions;

/// <summary>
/// A subscription's position on one topic. <see cref="Watermark"/> is the last sequence number considered
/// (delivered or filtered out); while <see cref="Lagging"/> the subscription reads the ring from there instead of
/// taking live offers, which is how replay, the in-flight cap and catch-up share one path. Guarded by the
/// subscription's lock.
/// </summary>
internal sealed class SubscriptionTopic
{
    private readonly Stack<InFlightEntry> _pool = new();
    private readonly string _ackPrefix;

    public SubscriptionTopic(Subscription subscription, BrokerTopic topic, int number)
    {
        Subscription = subscription;
        Topic = topic;
        Number = number;
        _ackPrefix = string.Create(
            CultureInfo.InvariantCulture,
            $"{subscription.Connection.Tag}.{subscription.Number}.{number}.");
        AckPrefixBytes = System.Text.Encoding.UTF8.GetBytes(_ackPrefix);
    }

    /// <summary>
    /// The ack ids' common start (<c>tag.subscription.topic.</c>) as UTF-8: the writer appends the sequence.
    /// </summary>
    public byte[] AckPrefixBytes { get; }

    public Subscription Subscription { get; }

    public BrokerTopic Topic { get; }

    /// <summary>Number of this topic within the subscription (part of the ack id).</summary>
    public int Number { get; }

    public long Watermark { get; set; }

    /// <summary>The job ids this position is indexed under in its topic's subscriber set (null: not indexed).</summary>
    public IReadOnlyCollection<string>? IndexedJobIds { get; set; }

    public bool Lagging { get; set; }

    /// <summary>Unacknowledged deliveries, in sequence order.</summary>
    public List<InFlightEntry> InFlight { get; } = [];

    public string AckIdFor(long sequence) => string.Create(CultureInfo.InvariantCulture, $"{_ackPrefix}{sequence}");

    public InFlightEntry Rent() => _pool.TryPop(out var entry) ? entry : new InFlightEntry(this);

    public void Return(InFlightEntry entry)
    {
        entry.Release();
        _pool.Push(entry);
    }

    /// <summary>
    /// Index of the in-flight entry with this sequence, or the bitwise complement of where it would be.
    /// </summary>
    public int IndexOf(long sequence)
    {
        int low = 0, high = InFlight.Count - 1;
        while (low <= high)
        {
            var mid = low + ((high - low) >> 1);
            var value = InFlight[mid].Sequence;
            if (value == sequence)
            {
                return mid;
            }

            if (value < sequence)
            {
                low = mid + 1;
            }
            else
            {
                high = mid - 1;
            }
        }

        return ~low;
    }
}
