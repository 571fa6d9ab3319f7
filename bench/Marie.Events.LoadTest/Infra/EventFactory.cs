using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Protocol;

namespace Marie.Events.LoadTest.Infra;

/// <summary>
/// The events every target carries: an <see cref="EventData"/> of about 256 bytes serialized, with the publish
/// timestamp (Stopwatch ticks of this process) in <c>jobtag</c> for latency. JetStream carries the same serialized
/// bytes as its message body.
/// </summary>
internal sealed class EventFactory
{
    /// <summary>The serialized size the payload filler aims at (the "about 256 bytes").</summary>
    public const int TargetSize = 256;

    private readonly string _idPrefix;
    private readonly Struct _payload;
    private long _counter;

    public EventFactory(int producer)
    {
        _idPrefix = producer.ToString("x8", CultureInfo.InvariantCulture);
        _payload = new Struct();
        _payload.Fields["pages"] = Value.ForNumber(12);
        _payload.Fields["kind"] = Value.ForString("invoice");
        var probe = Create("w1-t0", "job-000000");
        // The filler string adds itself plus its field's key ("data") and length prefixes: about 8 bytes.
        var filler = Math.Max(0, TargetSize - probe.CalculateSize() - 8);
        _payload.Fields["data"] = Value.ForString(new string('x', filler));
        _counter = 0;
    }

    public EventData Create(string topic, string jobId) => new()
    {
        Id = string.Create(CultureInfo.InvariantCulture, $"{_idPrefix}{++_counter:x24}"),
        Source = "job://extract.pdf",
        ApiKey = topic,
        Jobid = jobId,
        Event = "extract.completed",
        Jobtag = Stopwatch.GetTimestamp().ToString(CultureInfo.InvariantCulture),
        Status = "OK",
        Timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        Payload = _payload,
    };

    /// <summary>W6's events: a job id and a source of their own each (as long as <see cref="Create"/>'s, so the size
    /// stays about <see cref="TargetSize"/>): no string repeats from one event to the next.</summary>
    public EventData CreateDistinct(string topic)
    {
        var evt = Create(topic, string.Create(CultureInfo.InvariantCulture, $"job-{_counter % 1_000_000:D6}"));
        evt.Source = string.Create(CultureInfo.InvariantCulture, $"job://b{_idPrefix[^2..]}{_counter:x8}");
        return evt;
    }

    public static int SerializedSize() => new EventFactory(0).Create("w1-t0", "job-000000").ToByteArray().Length;
}
