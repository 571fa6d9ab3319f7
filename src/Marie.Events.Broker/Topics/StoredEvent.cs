using Google.Protobuf.WellKnownTypes;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Topics;

/// <summary>
/// One event as the ring holds it: stored once, shared read-only by every delivery to every subscriber.
/// </summary>
internal sealed class StoredEvent(string topic, long sequence, EventData data, Timestamp publishedAt)
{
    public string Topic { get; } = topic;

    public long Sequence { get; } = sequence;

    /// <summary>The event as published. Never changed after it is stored.</summary>
    public EventData Data { get; } = data;

    public Timestamp PublishedAt { get; } = publishedAt;
}
