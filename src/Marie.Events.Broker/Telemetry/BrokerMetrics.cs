using System.Diagnostics.Metrics;
using Marie.Events.Broker.Access;
using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Topics;

namespace Marie.Events.Broker.Telemetry;

/// <summary>
/// The broker's instruments on the <see cref="MarieTelemetry.Name"/> meter (docs/metrics.md lists them). Counts and
/// gauges are observable: they read the broker's Interlocked counters, its topics and
/// <see cref="GrpcEventBroker.DescribeSubscriptions"/> when a listener collects, and cost nothing on the publish and
/// delivery paths. Only the two histograms are recorded there, and only while a listener is enabled.
/// </summary>
internal sealed class BrokerMetrics
{
    private const string TopicTag = "topic";
    private const string KindTag = "kind";
    private const string ReasonTag = "reason";

    private readonly GrpcEventBroker _broker;
    private readonly ulong _sampleEvery;

    public BrokerMetrics(GrpcEventBroker broker, Meter meter, int latencySampleEvery)
    {
        _broker = broker;
        _sampleEvery = (ulong)latencySampleEvery;
        var counters = broker.Counters;
        var buckets = new InstrumentAdvice<double> { HistogramBucketBoundaries = MarieTelemetry.DurationBuckets };

        meter.CreateObservableGauge("marie.events.connections", () => counters.Connections, "{connection}",
            "Open broker connections (StreamEvents streams).");
        meter.CreateObservableGauge("marie.events.subscriptions", () => counters.Subscriptions, "{subscription}",
            "Open subscriptions.");
        meter.CreateObservableGauge("marie.events.topics", () => broker.AllTopics.Count, "{topic}",
            "Topics the broker holds.");
        meter.CreateObservableGauge("marie.events.in_flight", ObserveInFlight, "{event}",
            "Events delivered and not yet settled, by topic.");
        meter.CreateObservableGauge("marie.events.subscription.lag", ObserveLag, "{event}",
            "Events between a topic's head and a subscription's acknowledged point: the largest, by topic.");
        meter.CreateObservableGauge("marie.events.oldest_unacked.age", ObserveOldestUnacked, "s",
            "Time since the first delivery of the oldest unacknowledged event, by topic (0: none).");
        meter.CreateObservableGauge("marie.events.ring.buffered", ObserveBuffered, "{event}",
            "Events held in the topics' replay rings, by topic.");

        meter.CreateObservableCounter("marie.events.published", () => counters.Published, "{event}",
            "Events filed by the backend and applied to the rings.");
        meter.CreateObservableCounter("marie.events.delivered", ObserveDelivered, "{event}",
            "Deliveries queued for a stream, by topic and kind (live, replay, redelivery).");
        meter.CreateObservableCounter("marie.events.acked", () => counters.AckedCount, "{event}",
            "Deliveries acknowledged.");
        meter.CreateObservableCounter("marie.events.redelivered", () => counters.Redelivered, "{event}",
            "Redeliveries (ack timeout, nack, backoff).");
        meter.CreateObservableCounter("marie.events.dropped", () => counters.DroppedCount, "{event}",
            "Deliveries given up after the subscription's maximum attempts (dead-lettered).");
        meter.CreateObservableGauge("marie.events.dead_letters", () => broker.DeadLetterStats().Depth, "{event}",
            "Dead letters held now, every key's.");
        meter.CreateObservableGauge("marie.events.dead_letters.oldest.age",
            () => broker.DeadLetterStats().OldestAge.TotalSeconds, "s", "Age of the oldest dead letter held.");
        meter.CreateObservableCounter("marie.events.dead_lettered", ObserveDeadLettered, "{event}",
            "Events dead-lettered, by reason (max_attempts, terminated).");
        meter.CreateObservableCounter("marie.events.lost", () => counters.Lost, "{event}",
            "Events a subscription never received because the ring overwrote them first.");
        meter.CreateObservableCounter("marie.events.backpressure.signals", () => counters.BackpressureSignals,
            "{signal}", "Backpressure signals sent.");
        meter.CreateObservableCounter("marie.events.rate_limited", () => counters.RateLimited, "{message}",
            "Client messages refused with ERROR_RATE_LIMITED (message rate, stream limits).");

        DeliveryLatency = meter.CreateHistogram("marie.events.delivery.latency", "s",
            "From publish to the stream's writer taking the event (first attempts only).", advice: buckets);
        AckLatency = meter.CreateHistogram("marie.events.ack.latency", "s",
            "From a delivery's (last) send to its acknowledgement.", advice: buckets);
    }

    /// <summary>Whether the event numbered <paramref name="sequence"/> has its latencies recorded: one in
    /// <c>latencySampleEvery</c>, chosen by a hash of the number (the high half of a multiplicative hash), so that a
    /// subscription that filters every k-th event of a topic is neither always nor never sampled.</summary>
    public bool SamplesLatency(long sequence) =>
        _sampleEvery == 1 || ((unchecked((ulong)sequence * 0x9E3779B97F4A7C15UL) >> 32) % _sampleEvery) == 0;

    /// <summary>Recorded by the stream writer for first attempts.</summary>
    public Histogram<double> DeliveryLatency { get; }

    /// <summary>Recorded when an ack settles a delivery.</summary>
    public Histogram<double> AckLatency { get; }

    private IEnumerable<Measurement<long>> ObserveDeadLettered()
    {
        var stats = _broker.DeadLetterStats();
        yield return new(
            stats.MaxAttempts,
            new KeyValuePair<string, object?>(ReasonTag, DeadLetterReasons.MaxAttempts));
        yield return new(
            stats.Terminated,
            new KeyValuePair<string, object?>(ReasonTag, DeadLetterReasons.Terminated));
    }

    private IEnumerable<Measurement<long>> ObserveDelivered()
    {
        foreach (var counters in _broker.TopicLabels.All)
        {
            var topic = new KeyValuePair<string, object?>(TopicTag, counters.Label);
            yield return new(counters.Live, topic, new(KindTag, "live"));
            yield return new(counters.Replay, topic, new(KindTag, "replay"));
            yield return new(counters.Redelivery, topic, new(KindTag, "redelivery"));
        }
    }

    private IEnumerable<Measurement<long>> ObserveBuffered()
    {
        var byLabel = ZeroPerTopic<long>();
        foreach (var topic in _broker.AllTopics)
        {
            var label = _broker.TopicLabels.LabelOf(topic.Name);
            byLabel[label] += topic.Log.Count;
        }

        return ToMeasurements(byLabel);
    }

    private IEnumerable<Measurement<long>> ObserveInFlight() =>
        ToMeasurements(Aggregate<long>(static (sum, t) => sum + t.InFlight));

    private IEnumerable<Measurement<long>> ObserveLag() =>
        ToMeasurements(Aggregate<long>(static (max, t) => Math.Max(max, t.Lag)));

    private IEnumerable<Measurement<double>> ObserveOldestUnacked() =>
        ToMeasurements(Aggregate<double>(static (max, t) =>
            t.OldestUnackedAge is { } age ? Math.Max(max, age.TotalSeconds) : max));

    /// <summary>Folds every subscription's per-topic figures into one value per label; every existing topic's
    /// label is there, 0 without subscriptions, so a dashboard sees the series before the first subscriber.</summary>
    private Dictionary<string, T> Aggregate<T>(Func<T, SubscriptionTopicSnapshot, T> fold)
        where T : struct
    {
        var byLabel = ZeroPerTopic<T>();
        foreach (var subscription in _broker.DescribeSubscriptions(ConnectionAccess.All))
        {
            foreach (var topic in subscription.Topics)
            {
                var label = _broker.TopicLabels.LabelOf(topic.Topic);
                byLabel.TryGetValue(label, out var value);
                byLabel[label] = fold(value, topic);
            }
        }

        return byLabel;
    }

    private Dictionary<string, T> ZeroPerTopic<T>()
        where T : struct
    {
        var byLabel = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (BrokerTopic topic in _broker.AllTopics)
        {
            byLabel[_broker.TopicLabels.LabelOf(topic.Name)] = default;
        }

        return byLabel;
    }

    private static IEnumerable<Measurement<T>> ToMeasurements<T>(Dictionary<string, T> byLabel)
        where T : struct
    {
        foreach (var (label, value) in byLabel)
        {
            yield return new(value, new KeyValuePair<string, object?>(TopicTag, label));
        }
    }
}
