using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Broker;
using Marie.Events.Broker.Connections;
using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;

namespace Marie.Events.Benchmarks;

/// <summary>
/// One event delivery's bytes: an <see cref="OutboundFrame"/> copying the event's cached bytes, against building and
/// serializing a <see cref="ServerMessage"/> (what a generated-stub writer does per delivery).
/// </summary>
[MemoryDiagnoser]
public class EnvelopeBenchmarks
{
    private readonly byte[] _buffer = new byte[4096];
    private readonly OutboundFrame _frame = new();
    private EventData _event = null!;
    private Timestamp _publishedAt = null!;
    private StoredEvent _stored = null!;

    [GlobalSetup]
    public void Setup()
    {
        _event = BenchBroker.Event("t");
        _publishedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch.AddDays(20_000));
        _stored = new StoredEvent("t", 123_456, _event, _publishedAt);
        FrameSetup.Set(_frame, _stored, "0a1b2c3d.1.1.", "subscription-1");
    }

    [Benchmark(Baseline = true)]
    public byte[] ServerMessageToByteArray() => new ServerMessage
    {
        Event = new EventEnvelope
        {
            AckId = "0a1b2c3d.1.1.123456",
            SubscriptionId = "subscription-1",
            SequenceNum = _stored.Sequence,
            Event = _event,
            PublishedAt = _publishedAt,
            DeliveryAttempt = 1,
        },
    }.ToByteArray();

    [Benchmark]
    public int OutboundFrameWriteTo() => _frame.WriteTo(_buffer);
}
