using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Topics;

/// <summary>
/// One event as the ring holds it: stored once, shared read-only by every delivery to every subscriber. It keeps the
/// event's wire bytes (serialized once, at publish, and copied into every envelope) and the three fields the filters
/// and the job-id index read, not the parsed <see cref="EventData"/>: a parsed event is a protobuf object graph
/// (some 30 objects, with the payload), and a ring of thousands of them per topic would have every garbage
/// collection copy and mark them, with long pauses under load (docs/performance.md). The parsed object is used
/// while the event is dispatched; after that, <see cref="Data"/> parses the bytes (replay buffer, metadata filters on
/// replay). The bytes live in the topic's <see cref="EventSlab"/> and the strings come from its
/// <see cref="StringPool"/>, so an event the ring holds is this one object for the collector, not six.
/// </summary>
internal sealed class StoredEvent
{
    private EventData? _published;

    private readonly byte[] _buffer;
    private readonly int _offset;
    private readonly int _dataLength;
    private readonly int _publishedAtLength;

    /// <summary>The trace context's bytes after the publish time (<see cref="TraceContextBytes"/>), 0 when none.
    /// </summary>
    private readonly int _traceLength;

    /// <summary>An event with bytes of its own (benchmarks, tests).</summary>
    public StoredEvent(string topic, long sequence, EventData data, Timestamp publishedAt)
        : this(topic, sequence, data, publishedAt.ToDateTimeOffset(), new EventSlab(), null)
    {
    }

    /// <summary>Serializes <paramref name="data"/> and <paramref name="publishedAt"/> into <paramref name="slab"/>;
    /// <paramref name="strings"/> (if any) supplies the shared name, source and job id strings.</summary>
    public StoredEvent(
        string topic,
        long sequence,
        EventData data,
        DateTimeOffset publishedAt,
        EventSlab slab,
        StringPool? strings)
    {
        Topic = topic;
        Sequence = sequence;
        _publishedAtLength = TimestampBytes.Size(publishedAt);
        if (data.TraceContext is null)
        {
            _dataLength = data.CalculateSize();
            _buffer = slab.Reserve(_dataLength + _publishedAtLength, out _offset);
            data.WriteTo(_buffer.AsSpan(_offset, _dataLength));
        }
        else
        {
            // Only an event with a trace context pays for the extra copy that takes it out of the event's bytes.
            var whole = data.ToByteArray();
            var context = data.TraceContext;
            var size = context.CalculateSize();
            // Field 10's tag (one byte), its length and the message.
            var trace = TraceLayout.Of(1 + CodedOutputStream.ComputeLengthSize(size) + size, context.Traceparent,
                context.Tracestate);
            _dataLength = whole.Length - trace.Raw;
            _traceLength = trace.Length;
            _buffer = slab.Reserve(_dataLength + _publishedAtLength + _traceLength, out _offset);
            CopyData(whole, trace);
        }

        TimestampBytes.Write(publishedAt, _buffer.AsSpan(_offset + _dataLength, _publishedAtLength));
        Name = strings?.Intern(data.Event) ?? data.Event;
        Source = strings?.Intern(data.Source) ?? data.Source;
        JobId = strings?.Intern(data.Jobid) ?? data.Jobid;
        _published = data;
    }

    /// <summary>Copies the serialized event <paramref name="data"/> and <paramref name="publishedAt"/> into
    /// <paramref name="slab"/> and reads the name, source and job id from the bytes, without parsing the
    /// event.</summary>
    /// <exception cref="InvalidDataException"><paramref name="data"/> is not a well-formed message.</exception>
    public StoredEvent(
        string topic,
        long sequence,
        ReadOnlySpan<byte> data,
        DateTimeOffset publishedAt,
        EventSlab slab,
        StringPool strings)
    {
        EventDataFields.Read(data, strings, out var name, out var source, out var jobId, out var traceRaw);
        var trace = TraceLayout.Of(data, traceRaw);
        Topic = topic;
        Sequence = sequence;
        _dataLength = data.Length - traceRaw;
        _traceLength = trace.Length;
        _publishedAtLength = TimestampBytes.Size(publishedAt);
        _buffer = slab.Reserve(_dataLength + _publishedAtLength + _traceLength, out _offset);
        CopyData(data, trace);
        TimestampBytes.Write(publishedAt, _buffer.AsSpan(_offset + _dataLength, _publishedAtLength));
        Name = name;
        Source = source;
        JobId = jobId;
    }

    /// <summary>
    /// A copy of <paramref name="source"/> whose bytes are <paramref name="buffer"/> (see <see cref="Detach"/>).
    /// </summary>
    private StoredEvent(StoredEvent source, byte[] buffer)
    {
        Topic = source.Topic;
        Sequence = source.Sequence;
        Name = source.Name;
        Source = source.Source;
        JobId = source.JobId;
        _buffer = buffer;
        _dataLength = source._dataLength;
        _publishedAtLength = source._publishedAtLength;
        _traceLength = source._traceLength;
    }

    /// <summary>An event with an array of exactly its size (a replayed dead letter): the serialized
    /// <paramref name="data"/> and <paramref name="publishedAt"/>, the name, source and job id read from the bytes.
    /// </summary>
    /// <exception cref="InvalidDataException"><paramref name="data"/> is not a well-formed message.</exception>
    public static StoredEvent FromBytes(
        string topic,
        long sequence,
        ReadOnlySpan<byte> data,
        DateTimeOffset publishedAt,
        StringPool strings)
    {
        Topics.TraceContextBytes.Extract(data, out var traceParent, out var traceState, out var traceRaw);
        var whole = new byte[data.Length - traceRaw + TimestampBytes.Size(publishedAt)
            + Topics.TraceContextBytes.EntriesSize(traceParent, traceState)];
        return new StoredEvent(topic, sequence, data, publishedAt, whole, strings);
    }

    /// <summary>See <see cref="FromBytes"/>: the bytes go into <paramref name="buffer"/>, of exactly their size.
    /// </summary>
    private StoredEvent(
        string topic,
        long sequence,
        ReadOnlySpan<byte> data,
        DateTimeOffset publishedAt,
        byte[] buffer,
        StringPool strings)
    {
        EventDataFields.Read(data, strings, out var name, out var source, out var jobId, out var traceRaw);
        var trace = TraceLayout.Of(data, traceRaw);
        Topic = topic;
        Sequence = sequence;
        _dataLength = data.Length - traceRaw;
        _traceLength = trace.Length;
        _publishedAtLength = TimestampBytes.Size(publishedAt);
        _buffer = buffer;
        _offset = 0;
        CopyData(data, trace);
        TimestampBytes.Write(publishedAt, _buffer.AsSpan(_dataLength, _publishedAtLength));
        Name = name;
        Source = source;
        JobId = jobId;
    }

    /// <summary>Copies the serialized event into the buffer: as it is, or without its trace context, whose
    /// envelope entries go after the publish time.</summary>
    private void CopyData(ReadOnlySpan<byte> data, TraceLayout trace)
    {
        if (trace.Raw == 0)
        {
            data.CopyTo(_buffer.AsSpan(_offset, _dataLength));
            return;
        }

        Topics.TraceContextBytes.Strip(data, _buffer.AsSpan(_offset, _dataLength));
        Topics.TraceContextBytes.WriteEntries(trace.Parent, trace.State, TraceSpan());
    }

    /// <summary>Where an event's trace context is: <see cref="Raw"/> bytes of <c>EventData.trace_context</c> in
    /// its serialized form (0: none), <see cref="Length"/> bytes of envelope entries in the ring.</summary>
    private readonly record struct TraceLayout(int Raw, string Parent, string State, int Length)
    {
        public static TraceLayout Of(int raw, string parent, string state) =>
            new(raw, parent, state, Topics.TraceContextBytes.EntriesSize(parent, state));

        public static TraceLayout Of(ReadOnlySpan<byte> data, int raw)
        {
            if (raw == 0)
            {
                return default;
            }

            Topics.TraceContextBytes.Extract(data, out var parent, out var state, out _);
            return Of(raw, parent, state);
        }
    }

    private Span<byte> TraceSpan() => _buffer.AsSpan(_offset + _dataLength + _publishedAtLength, _traceLength);

    public string Topic { get; }

    public long Sequence { get; }

    /// <summary><c>event.event</c>: the event's name.</summary>
    public string Name { get; }

    /// <summary><c>event.source</c>.</summary>
    public string Source { get; }

    /// <summary><c>event.jobid</c>.</summary>
    public string JobId { get; }

    /// <summary>The event serialized (the <c>EventData</c> bytes of every envelope).</summary>
    public ReadOnlySpan<byte> DataBytes => new(_buffer, _offset, _dataLength);

    /// <summary>The publish time serialized (a <c>google.protobuf.Timestamp</c>).</summary>
    public ReadOnlySpan<byte> PublishedAtBytes => new(_buffer, _offset + _dataLength, _publishedAtLength);

    /// <summary>The trace context as <c>EventEnvelope.trace_context</c> entries (field 7, tags included), ready to
    /// copy into an envelope; empty for an event published without one.</summary>
    public ReadOnlySpan<byte> TraceContextBytes =>
        new(_buffer, _offset + _dataLength + _publishedAtLength, _traceLength);

    /// <summary>Whether the event was published with a trace context.</summary>
    public bool HasTraceContext => _traceLength != 0;

    /// <summary>The event: the published object while it is dispatched, else parsed from <see cref="DataBytes"/> (a new
    /// object each call: callers must not change it, and should not call this on a hot path), its trace context
    /// included.</summary>
    public EventData Data => Volatile.Read(ref _published) ?? Parse();

    /// <summary>The event's bytes as published, its trace context included (what a dead letter keeps).</summary>
    public byte[] EncodeData() => _traceLength == 0
        ? DataBytes.ToArray()
        : Topics.TraceContextBytes.Join(DataBytes, TraceContextBytes);

    private EventData Parse()
    {
        var data = EventData.Parser.ParseFrom(_buffer, _offset, _dataLength);
        if (_traceLength != 0)
        {
            data.TraceContext = Topics.TraceContextBytes.ToMessage(TraceContextBytes);
        }

        return data;
    }

    /// <summary>The publish time (parsed from <see cref="PublishedAtBytes"/>).</summary>
    public Timestamp PublishedAt => Timestamp.Parser.ParseFrom(_buffer, _offset + _dataLength, _publishedAtLength);

    /// <summary>Whether the bytes sit in a chunk shared with other events (an event larger than a quarter of its
    /// chunk, or a detached one, has an array of exactly its size).</summary>
    public bool SharesChunk => _buffer.Length != _dataLength + _publishedAtLength + _traceLength;

    /// <summary>The same event with an array of its own: a delivery still in flight after the ring overwrote its
    /// event holds this instead, so it no longer keeps the whole chunk (up to 64 KiB) alive.</summary>
    public StoredEvent Detach()
    {
        var bytes = new byte[_dataLength + _publishedAtLength + _traceLength];
        _buffer.AsSpan(_offset, bytes.Length).CopyTo(bytes);
        return new StoredEvent(this, bytes);
    }

    /// <summary>Called once the publish has dispatched the event: the ring no longer holds the parsed object.</summary>
    public void Dispatched() => Volatile.Write(ref _published, null);
}
