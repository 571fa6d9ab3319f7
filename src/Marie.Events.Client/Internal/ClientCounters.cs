using System.Diagnostics.Metrics;

namespace Marie.Events.Client.Internal;

/// <summary>A client's counters (Interlocked), mirrored on the shared <c>Marie.Events.Client</c> meter.</summary>
internal sealed class ClientCounters
{
    /// <summary>The meter every client reports on.</summary>
    public const string MeterName = "Marie.Events.Client";

    private static readonly Meter Meter = new(MeterName);
    private static readonly Counter<long> ReceivedCounter = Meter.CreateCounter<long>(
        "marie.events.client.events_received",
        description: "Event deliveries read from the stream");
    private static readonly Counter<long> DuplicatesCounter = Meter.CreateCounter<long>(
        "marie.events.client.duplicates_dropped",
        description: "Deliveries dropped as duplicates");
    private static readonly Counter<long> AckedCounter = Meter.CreateCounter<long>(
        "marie.events.client.events_acked",
        description: "Events acknowledged");
    private static readonly Counter<long> ReconnectCounter = Meter.CreateCounter<long>(
        "marie.events.client.disconnections",
        description: "Streams that ended and were replaced");
    private static readonly Counter<long> BackpressureCounter = Meter.CreateCounter<long>(
        "marie.events.client.backpressure_signals",
        description: "BackpressureSignals received");
    private static readonly Histogram<int> BackpressureDelay = Meter.CreateHistogram<int>(
        "marie.events.client.backpressure_recommended_delay",
        unit: "ms",
        description: "Recommended delay of BackpressureSignals");
    private static readonly Counter<long> ErrorCounter = Meter.CreateCounter<long>(
        "marie.events.client.errors",
        description: "ErrorMessages received");
    private static readonly Counter<long> PublishedCounter = Meter.CreateCounter<long>(
        "marie.events.client.events_published",
        description: "Events published");

    private long _received;
    private long _delivered;
    private long _duplicates;
    private long _acked;
    private long _ackMessages;
    private long _connections;
    private long _disconnections;
    private long _silent;
    private long _backpressure;
    private long _errors;
    private long _epochChanges;
    private long _lost;
    private long _published;

    public void Received() { Interlocked.Increment(ref _received); ReceivedCounter.Add(1); }

    public void Delivered() => Interlocked.Increment(ref _delivered);

    public void Duplicate() { Interlocked.Increment(ref _duplicates); DuplicatesCounter.Add(1); }

    public void Acked(long events, int messages)
    {
        Interlocked.Add(ref _acked, events);
        Interlocked.Add(ref _ackMessages, messages);
        AckedCounter.Add(events);
    }

    public void Connected() => Interlocked.Increment(ref _connections);

    public void Disconnected() { Interlocked.Increment(ref _disconnections); ReconnectCounter.Add(1); }

    public void SilentGateway() => Interlocked.Increment(ref _silent);

    public void Backpressure(int delayMs)
    {
        Interlocked.Increment(ref _backpressure);
        BackpressureCounter.Add(1);
        BackpressureDelay.Record(delayMs);
    }

    public void Error(string code)
    {
        Interlocked.Increment(ref _errors);
        ErrorCounter.Add(1, new KeyValuePair<string, object?>("code", code));
    }

    public void EpochChanged() => Interlocked.Increment(ref _epochChanges);

    public void Lost(long events) => Interlocked.Add(ref _lost, events);

    public void Published(int events) { Interlocked.Add(ref _published, events); PublishedCounter.Add(events); }

    public EventStreamClientStatistics Snapshot() => new()
    {
        EventsReceived = Interlocked.Read(ref _received),
        EventsDelivered = Interlocked.Read(ref _delivered),
        DuplicatesDropped = Interlocked.Read(ref _duplicates),
        EventsAcked = Interlocked.Read(ref _acked),
        AckMessagesSent = Interlocked.Read(ref _ackMessages),
        Connections = Interlocked.Read(ref _connections),
        Disconnections = Interlocked.Read(ref _disconnections),
        SilentGatewayTimeouts = Interlocked.Read(ref _silent),
        BackpressureSignals = Interlocked.Read(ref _backpressure),
        Errors = Interlocked.Read(ref _errors),
        EpochChanges = Interlocked.Read(ref _epochChanges),
        EventsLost = Interlocked.Read(ref _lost),
        EventsPublished = Interlocked.Read(ref _published),
    };
}
