using Marie.Events.Broker.Connections;
using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Subscriptions;

/// <summary>
/// One subscription of a connection: its filter, its positions on its topics, its in-flight events. Every member is
/// guarded by <see cref="Gate"/>; lock order is topology, then topic, then subscription.
/// </summary>
internal sealed partial class Subscription
{
    /// <summary>Topics up to which a lookup scans <see cref="_positions"/>; past it, tables by name and number are
    /// built. Most subscriptions name one topic: a scan of a few is as fast as a table and costs no memory (two
    /// dictionaries would add ~400 bytes to every subscription).</summary>
    private const int ScanLimit = 8;

    private readonly List<SubscriptionTopic> _positions = [];
    private Dictionary<string, SubscriptionTopic>? _byName;
    private Dictionary<int, SubscriptionTopic>? _byNumber;
    private int _pumpStart;
    private int _lastTopicNumber;
    private bool _aboveThreshold;
    private long _lastSignalAt;

    public Subscription(
        BrokerConnection connection,
        int number,
        string id,
        EventFilter filter,
        bool wildcard,
        IReadOnlyList<string> topics,
        RedeliveryPolicy policy)
    {
        Policy = policy;
        Connection = connection;
        Number = number;
        Id = id;
        Filter = filter;
        Wildcard = wildcard;
        RequestedTopics = topics;
        IdBytes = System.Text.Encoding.UTF8.GetBytes(id);
    }

    public BrokerConnection Connection { get; }

    /// <summary>Number of the subscription within its connection (part of the ack id).</summary>
    public int Number { get; }

    public string Id { get; }

    /// <summary><see cref="Id"/> as UTF-8, written into every envelope.</summary>
    public byte[] IdBytes { get; }

    public Lock Gate { get; } = new();

    public EventFilter Filter { get; set; }

    /// <summary>Subscribed to <c>"*"</c>: attached to every topic, present and future.</summary>
    public bool Wildcard { get; }

    /// <summary>The topics as the client asked for them.</summary>
    public IReadOnlyList<string> RequestedTopics { get; }

    public int InFlightCount { get; private set; }

    /// <summary>Deliveries in all and the waits between them (fixed at subscribe).</summary>
    public RedeliveryPolicy Policy { get; }

    public bool Closed { get; private set; }

    /// <summary>The durable subscription this one is a member of (set before it is attached), or null: a plain
    /// subscription pays one null check per event for durables.</summary>
    public Durables.DurableSubscription? Durable { get; init; }

    /// <summary>A durable member whose in-flight events were handed to the others because its stream went silent:
    /// it claims nothing until its connection is heard from again after <see cref="SuspendedAt"/>.</summary>
    public bool Suspended { get; set; }

    /// <summary>The in-flight events a durable member handed back when it closed.</summary>
    public int HandedOverAtClose { get; private set; }

    /// <summary>Timestamp (TimeProvider) of the suspension.</summary>
    public long SuspendedAt { get; set; }

    private Settings Settings => Connection.Broker.Settings;

    public IReadOnlyList<SubscriptionTopic> Topics => _positions;

    public bool TryGetTopic(string name, out SubscriptionTopic? subscriptionTopic)
    {
        if (_byName is not null)
        {
            return _byName.TryGetValue(name, out subscriptionTopic);
        }

        foreach (var position in _positions)
        {
            if (string.Equals(position.Topic.Name, name, StringComparison.Ordinal))
            {
                subscriptionTopic = position;
                return true;
            }
        }

        subscriptionTopic = null;
        return false;
    }

    public bool TryGetTopic(int number, out SubscriptionTopic? subscriptionTopic)
    {
        if (_byNumber is not null)
        {
            return _byNumber.TryGetValue(number, out subscriptionTopic);
        }

        foreach (var position in _positions)
        {
            if (position.Number == number)
            {
                subscriptionTopic = position;
                return true;
            }
        }

        subscriptionTopic = null;
        return false;
    }

    /// <summary>
    /// Creates this subscription's position on a topic (caller holds the topic's lock and <see cref="Gate"/>).
    /// </summary>
    public SubscriptionTopic AddTopic(BrokerTopic topic, long watermark)
    {
        // Numbers are never reused (a topic can leave a wildcard subscription): a stale ack id names no position.
        var subscriptionTopic = new SubscriptionTopic(this, topic, ++_lastTopicNumber)
        {
            Watermark = watermark,
            Lagging = true,
        };
        _positions.Add(subscriptionTopic);
        if (_byName is not null)
        {
            _byName.Add(topic.Name, subscriptionTopic);
            _byNumber!.Add(subscriptionTopic.Number, subscriptionTopic);
        }
        else if (_positions.Count > ScanLimit)
        {
            _byName = _positions.ToDictionary(p => p.Topic.Name, StringComparer.Ordinal);
            _byNumber = _positions.ToDictionary(p => p.Number);
        }

        return subscriptionTopic;
    }

    /// <summary>A live event from the topic's publish path (caller holds the topic's lock).</summary>
    public void Offer(SubscriptionTopic subscriptionTopic, StoredEvent stored)
    {
        lock (Gate)
        {
            if (Closed || subscriptionTopic.Lagging || stored.Sequence <= subscriptionTopic.Watermark)
            {
                // Lagging: the ring read in Pump picks this event up in order.
                return;
            }

            if (!Filter.Matches(stored))
            {
                subscriptionTopic.Watermark = stored.Sequence;
                return;
            }

            if (InFlightCount >= Settings.MaxInFlight || Suspended)
            {
                subscriptionTopic.Lagging = true;
                subscriptionTopic.Watermark = stored.Sequence - 1;
                return;
            }

            subscriptionTopic.Watermark = stored.Sequence;
            if (Durable is null)
            {
                Deliver(subscriptionTopic, stored, fromRing: false);
            }
            else if (TryClaim(subscriptionTopic, stored.Sequence) && !TryAssign(subscriptionTopic, stored))
            {
                Deliver(subscriptionTopic, stored, fromRing: false);
            }
        }
    }

    /// <summary>
    /// Reads lagging topics from the ring while the in-flight cap allows. Caller holds <see cref="Gate"/>.
    /// </summary>
    public void Pump()
    {
        if (Closed || (Suspended && !TryResume()))
        {
            return;
        }

        // Start each pass one topic further on, so that a busy topic cannot keep a multi-topic subscription's
        // freed room to itself.
        if (Durable is { HasWaiting: true })
        {
            PumpWaiting();
        }

        var count = _positions.Count;
        var start = count == 0 ? 0 : (int)((uint)_pumpStart++ % (uint)count);
        for (var i = 0; i < count && InFlightCount < Settings.MaxInFlight; i++)
        {
            var subscriptionTopic = _positions[(start + i) % count];
            if (subscriptionTopic.Lagging)
            {
                PumpTopic(subscriptionTopic);
            }
        }
    }

    private void PumpTopic(SubscriptionTopic subscriptionTopic)
    {
        var log = subscriptionTopic.Topic.Log;
        while (InFlightCount < Settings.MaxInFlight)
        {
            var next = subscriptionTopic.Watermark + 1;
            if (Durable is not null)
            {
                // Another member may have taken events after this one's point: carry on after them.
                var delivered = Durable.DeliveredOf(subscriptionTopic.Topic.Name);
                if (delivered >= next)
                {
                    subscriptionTopic.Watermark = delivered;
                    next = delivered + 1;
                }
            }

            switch (log.TryRead(next, out var stored))
            {
                case ReadOutcome.NotYet:
                    subscriptionTopic.Lagging = false;
                    return;
                case ReadOutcome.Overwritten:
                    var first = log.FirstAvailable;
                    var lastMissed = Math.Max(next, first - 1);
                    Connection.NotifyEventsLost(this, subscriptionTopic.Topic.Name, next, lastMissed);
                    subscriptionTopic.Watermark = lastMissed;
                    continue;
            }

            subscriptionTopic.Watermark = next;
            if (Filter.Matches(stored!) && (Durable is null || TryClaim(subscriptionTopic, next)))
            {
                Deliver(subscriptionTopic, stored!, fromRing: true);
            }
        }
    }

    private void Deliver(SubscriptionTopic subscriptionTopic, StoredEvent stored, bool fromRing)
    {
        var entry = subscriptionTopic.Rent();
        var now = Connection.Broker.Time.GetTimestamp();
        entry.Reset(stored, now, now + Policy.WaitTicksAfter(1));
        entry.FromRing = fromRing;
        subscriptionTopic.InFlight.Add(entry);
        InFlightCount++;
        Connection.Broker.Counters.InFlightChanged(1);
        Connection.EnqueueEvent(this, entry, stored, entry.Attempts, replay: fromRing);
        CheckBackpressure();
    }

    /// <summary>Removes one in-flight entry by index and pools it. Caller holds <see cref="Gate"/>.</summary>
    private void Settle(SubscriptionTopic subscriptionTopic, int index)
    {
        var entry = subscriptionTopic.InFlight[index];
        subscriptionTopic.InFlight.RemoveAt(index);
        Durable?.Settled(subscriptionTopic.Topic.Name, entry.Sequence);
        subscriptionTopic.Return(entry);
        InFlightCount--;
        Connection.Broker.Counters.InFlightChanged(-1);
    }

    /// <summary>Removes the first <paramref name="count"/> in-flight entries (a cumulative ack) in one move, and pools
    /// them. Caller holds <see cref="Gate"/>.</summary>
    private void SettleFirst(SubscriptionTopic subscriptionTopic, int count)
    {
        var inFlight = subscriptionTopic.InFlight;
        Durable?.SettledFirst(subscriptionTopic.Topic.Name, inFlight, count);
        for (var i = 0; i < count; i++)
        {
            subscriptionTopic.Return(inFlight[i]);
        }

        inFlight.RemoveRange(0, count);
        InFlightCount -= count;
        Connection.Broker.Counters.InFlightChanged(-count);
    }

    /// <summary>
    /// Marks the subscription closed and releases every in-flight event. Caller holds <see cref="Gate"/>.
    /// </summary>
    public void Close()
    {
        if (Closed)
        {
            return;
        }

        Closed = true;
        if (Durable is not null)
        {
            HandedOverAtClose = HandOverInFlight();
            return;
        }

        foreach (var subscriptionTopic in _positions)
        {
            while (subscriptionTopic.InFlight.Count > 0)
            {
                Settle(subscriptionTopic, subscriptionTopic.InFlight.Count - 1);
            }
        }
    }

    private void CheckBackpressure()
    {
        var settings = Settings;
        if (InFlightCount < settings.BackpressureThreshold)
        {
            _aboveThreshold = false;
            return;
        }

        var now = Connection.Broker.Time.GetTimestamp();
        if (_aboveThreshold && Connection.Broker.Time.GetElapsedTime(_lastSignalAt, now) < Settings.BackpressureRepeat)
        {
            return;
        }

        _aboveThreshold = true;
        _lastSignalAt = now;
        Connection.EnqueueNotice(new ServerMessage
        {
            Backpressure = new BackpressureSignal
            {
                SubscriptionId = Id,
                RecommendedDelayMs = settings.RecommendedDelayMs(InFlightCount),
                PendingEvents = InFlightCount,
            },
        });
        Connection.Broker.Counters.BackpressureSignal();
    }

    /// <summary>Called when acks lowered the count: re-arms the signal once below the threshold.</summary>
    private void AfterSettle()
    {
        if (InFlightCount < Settings.BackpressureThreshold)
        {
            _aboveThreshold = false;
        }

        Pump();
    }
}
