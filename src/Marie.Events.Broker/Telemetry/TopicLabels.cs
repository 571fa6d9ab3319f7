namespace Marie.Events.Broker.Telemetry;

/// <summary>
/// The metric <c>topic</c> label of each topic: its name for the first <see cref="Max"/> topic names the broker
/// creates, <c>_other</c> for the rest, so that a broker with a million topics still exports a bounded number of
/// series. A name keeps its label for the broker's lifetime (a topic reset does not move it).
/// </summary>
internal sealed class TopicLabels
{
    /// <summary>The label of every topic past <see cref="Max"/>.</summary>
    public const string Other = "_other";

    /// <summary><c>gateway.telemetry.max_topic_labels</c>'s default.</summary>
    public const int DefaultMax = MarieTelemetry.DefaultMaxTopicLabels;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, TopicCounters> _byName = new(StringComparer.Ordinal);
    private readonly TopicCounters _other = new(Other);
    private TopicCounters[] _all;

    public TopicLabels()
    {
        _all = [_other];
    }

    /// <summary>Topic names that get a label of their own; set before the first topic exists.</summary>
    public int Max { get; set; } = DefaultMax;

    /// <summary>The counters of <paramref name="topic"/>'s label, given one when there is room. Called when a topic
    /// is created (under the topology lock, never on a publish or delivery path).</summary>
    public TopicCounters For(string topic)
    {
        lock (_gate)
        {
            if (_byName.TryGetValue(topic, out var counters))
            {
                return counters;
            }

            if (_byName.Count >= Max)
            {
                return _other;
            }

            counters = new TopicCounters(topic);
            _byName[topic] = counters;
            _all = [.. _all, counters];
            return counters;
        }
    }

    /// <summary>The label of <paramref name="topic"/> (<c>_other</c> for one without a label of its own).</summary>
    public string LabelOf(string topic)
    {
        lock (_gate)
        {
            return _byName.TryGetValue(topic, out var counters) ? counters.Label : Other;
        }
    }

    /// <summary>Every label's counters, <c>_other</c> first.</summary>
    public IReadOnlyList<TopicCounters> All => Volatile.Read(ref _all);
}
