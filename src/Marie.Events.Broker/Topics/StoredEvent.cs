using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Topics;

/// <summary>
/// One event as the ring holds it: stored once, shared read-only by every delivery to every subscriber. Its wire
/// form is serialized once, on first write, and copied into every envelope after that.
/// </summary>
internal sealed class StoredEvent(string topic, long sequence, EventData data, Timestamp publishedAt)
{
    private byte[]? _dataBytes;
    private byte[]? _publishedAtBytes;

    public string Topic { get; } = topic;

    public long Sequence { get; } = sequence;

    /// <summary>The event as published. Never changed after it is stored.</summary>
    public EventData Data { get; } = data;

    public Timestamp PublishedAt { get; } = publishedAt;

    /// <summary><see cref="Data"/> serialized; computed once (a race computes identical bytes twice, harmlessly).</summary>
    public byte[] DataBytes => _dataBytes ??= Data.ToByteArray();

    /// <summary><see cref="PublishedAt"/> serialized.</summary>
    public byte[] PublishedAtBytes => _publishedAtBytes ??= PublishedAt.ToByteArray();
}
