using Marie.Events.Protocol;

namespace Marie.Events.Client.Internal;

/// <summary>
/// Collects one stream's acknowledgements until they are sent: per (subscription, topic) the highest cumulative
/// point, plus individual ack ids (dropped at send time when a cumulative ack of their topic covers them).
/// Thread-safe: consumers add, the stream's writer loop takes.
/// </summary>
internal sealed class AckBatcher(int batchSize)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Subscription, string Topic), long> _cumulative = [];
    private readonly List<(string Subscription, string Topic, long Sequence, string AckId)> _individual = [];
    private int _events;

    /// <summary>Acknowledged events waiting to be sent.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _events;
            }
        }
    }

    /// <summary>Adds an ack. Returns whether the batch is full (send now) and whether it is the first of a new batch
    /// (start the flush timer).</summary>
    public (bool Full, bool First) Add(string subscriptionId, AckAction ack)
    {
        lock (_gate)
        {
            if (ack.IsCumulative)
            {
                var key = (subscriptionId, ack.Topic);
                _cumulative[key] = Math.Max(_cumulative.GetValueOrDefault(key), ack.CumulativeUpTo);
            }
            else
            {
                _individual.Add((subscriptionId, ack.Topic, ack.Sequence, ack.AckId!));
            }

            _events++;
            return (_events >= batchSize, _events == 1);
        }
    }

    /// <summary>Takes everything: one cumulative <c>AckMessage</c> per (subscription, topic) and one individual
    /// <c>AckMessage</c> per subscription, and the number of acknowledged events they stand for.</summary>
    public (List<ClientMessage> Messages, int Events) Take()
    {
        lock (_gate)
        {
            var messages = new List<ClientMessage>(_cumulative.Count + 1);
            foreach (var ((subscription, topic), upTo) in _cumulative)
            {
                messages.Add(new ClientMessage
                {
                    Ack = new AckMessage
                    {
                        SubscriptionId = subscription,
                        Cumulative = new CumulativeAck { Topic = topic, UpToSequenceNum = upTo },
                    },
                });
            }

            Dictionary<string, IndividualAck>? individual = null;
            foreach (var (subscription, topic, sequence, ackId) in _individual)
            {
                if (_cumulative.TryGetValue((subscription, topic), out var upTo) && sequence <= upTo)
                {
                    continue;
                }

                individual ??= new Dictionary<string, IndividualAck>(StringComparer.Ordinal);
                if (!individual.TryGetValue(subscription, out var ids))
                {
                    ids = new IndividualAck();
                    individual[subscription] = ids;
                    messages.Add(
                        new ClientMessage { Ack = new AckMessage { SubscriptionId = subscription, Individual = ids } });
                }

                ids.AckIds.Add(ackId);
            }

            var events = _events;
            _cumulative.Clear();
            _individual.Clear();
            _events = 0;
            return (messages, events);
        }
    }
}
