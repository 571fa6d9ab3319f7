namespace Marie.Events.Broker.Telemetry;

/// <summary>
/// Deliveries of one metric topic label, by kind, updated with Interlocked on the delivery path. Topics beyond
/// <c>gateway.telemetry.max_topic_labels</c> share the one <c>_other</c> instance, and a topic reset or re-created
/// keeps its name's instance, so the counters the <c>marie.events.delivered</c> instrument reports never go down.
/// </summary>
internal sealed class TopicCounters(string label)
{
    private long _live;
    private long _replay;
    private long _redelivery;

    /// <summary>The <c>topic</c> label: the topic's name, or <c>_other</c>.</summary>
    public string Label { get; } = label;

    /// <summary>First deliveries offered as the event was published.</summary>
    public long Live => Interlocked.Read(ref _live);

    /// <summary>First deliveries read back from the replay ring (resume, catching up after the in-flight cap, a
    /// dead letter replayed).</summary>
    public long Replay => Interlocked.Read(ref _replay);

    /// <summary>Deliveries after the first (ack timeout, nack, backoff).</summary>
    public long Redelivery => Interlocked.Read(ref _redelivery);

    public void Delivered(bool replay, int attempt)
    {
        if (attempt > 1)
        {
            Interlocked.Increment(ref _redelivery);
        }
        else if (replay)
        {
            Interlocked.Increment(ref _replay);
        }
        else
        {
            Interlocked.Increment(ref _live);
        }
    }
}
