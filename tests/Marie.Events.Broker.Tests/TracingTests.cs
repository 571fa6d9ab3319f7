using System.Diagnostics;
using Google.Protobuf;
using Marie.Events.Broker.Connections;
using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Storage;
using Marie.Events.Broker.Telemetry;
using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>The trace context stored with an event (ring, frame bytes, dead letters) and the broker's delivery and
/// settle spans, on fake time with an <see cref="ActivityListener"/>.</summary>
public sealed class TracingTests
{
    private const string State = "vendor=opaque";

    private static TestBroker NewBroker() => new(o =>
    {
        o.AckTimeoutSeconds = 10;
        o.RedeliveryDelaySeconds = 4;
    });

    private static EventData Traced(string topic, ProducerContext producer, string? state = State)
    {
        var evt = Ev.Make(topic);
        evt.TraceContext = new TraceContext { Traceparent = producer.TraceParent, Tracestate = state ?? "" };
        return evt;
    }

    /// <summary>The next frame's bytes, as the stream writer writes them.</summary>
    private static byte[] NextFrameBytes(BrokerConnection connection)
    {
        var frame = new OutboundFrame();
        while (connection.TryReadFrame(frame))
        {
            if (frame.IsEvent)
            {
                var bytes = new byte[frame.CalculateSize()];
                Assert.Equal(bytes.Length, frame.WriteTo(bytes));
                Assert.Equal(frame.ToMessage().ToByteArray(), bytes);
                return bytes;
            }
        }

        throw new InvalidOperationException("no event frame was ready");
    }

    [Fact]
    public async Task Frame_EventWithTraceContext_EnvelopeCarriesItOnceInField7()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        var producer = ProducerContext.New();
        t.Publish(Traced("a", producer));

        var envelope = ServerMessage.Parser.ParseFrom(NextFrameBytes(connection)).Event;

        Assert.Equal(producer.TraceParent, envelope.TraceContext[TraceHeaders.TraceParent]);
        Assert.Equal(State, envelope.TraceContext[TraceHeaders.TraceState]);
        Assert.Null(envelope.Event.TraceContext);
        Assert.Equal(Ev.DefaultName, envelope.Event.Event);
    }

    [Fact]
    public async Task Frame_EventWithoutTraceContext_EnvelopeHasNoneAndSameBytesAsBefore()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        connection.All();
        t.Publish(Ev.Make("a"));

        var bytes = NextFrameBytes(connection);
        var envelope = ServerMessage.Parser.ParseFrom(bytes).Event;

        Assert.Empty(envelope.TraceContext);
        var expected = new ServerMessage
        {
            Event = new EventEnvelope
            {
                AckId = envelope.AckId,
                SubscriptionId = "s1",
                SequenceNum = 1,
                Event = envelope.Event,
                PublishedAt = envelope.PublishedAt,
                DeliveryAttempt = 1,
            },
        };
        Assert.Equal(expected.ToByteArray(), bytes);
    }

    [Fact]
    public void StoredEvent_FromEncodedBytes_TraceContextKeptApartAndDataRestoresIt()
    {
        var producer = ProducerContext.New();
        var evt = Traced("a", producer);
        evt.Id = "e1";
        var bytes = evt.ToByteArray();

        var stored = new StoredEvent("a", 1, bytes, TestBroker.StartTime, new EventSlab(), new StringPool());

        Assert.True(stored.HasTraceContext);
        Assert.Null(EventData.Parser.ParseFrom(stored.DataBytes).TraceContext);
        // Field 10 out: its tag, its one-byte length (under 128) and the message.
        Assert.Equal(bytes.Length - evt.TraceContext.CalculateSize() - 2, stored.DataBytes.Length);
        Assert.Equal(evt, stored.Data);
        Assert.Equal(evt, EventData.Parser.ParseFrom(stored.EncodeData()));
        Assert.Equal(Ev.DefaultName, stored.Name);
        Assert.Equal("e1", EventDataFields.ReadId(stored.DataBytes));
    }

    [Fact]
    public void StoredEvent_FromBytesOfExactSize_TraceContextKept()
    {
        var evt = Traced("a", ProducerContext.New());

        var stored = StoredEvent.FromBytes("a", 1, evt.ToByteArray(), TestBroker.StartTime, new StringPool());

        Assert.False(stored.SharesChunk);
        Assert.Equal(evt, stored.Data);
    }

    [Fact]
    public void StoredEvent_Detached_KeepsTraceContext()
    {
        var evt = Traced("a", ProducerContext.New());
        var stored = new StoredEvent("a", 1, evt, TestBroker.StartTime, new EventSlab(), new StringPool());

        var detached = stored.Detach();

        Assert.False(detached.SharesChunk);
        Assert.Equal(stored.TraceContextBytes.ToArray(), detached.TraceContextBytes.ToArray());
        Assert.Equal(evt.TraceContext, detached.Data.TraceContext);
    }

    [Fact]
    public void StoredEvent_WithoutTraceContext_HasNoTraceBytes()
    {
        var evt = Ev.Make("a");
        var bytes = evt.ToByteArray();

        var stored = new StoredEvent("a", 1, bytes, TestBroker.StartTime, new EventSlab(), new StringPool());

        Assert.False(stored.HasTraceContext);
        Assert.True(stored.TraceContextBytes.IsEmpty);
        Assert.Equal(bytes, stored.DataBytes.ToArray());
    }

    [Fact]
    public async Task Spans_DeliveryRedeliveryAndAck_OneTraceParentedToTheProducer()
    {
        using var spans = new SpanCollector();
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        var producer = ProducerContext.New();
        var published = t.Publish(Traced("a", producer));
        var first = Assert.Single(connection.All().Events());
        t.AdvanceSeconds(12);
        var again = Assert.Single(connection.All().Events());

        await connection.HandleAsync(Msg.Ack("s1", again.AckId));

        var trace = spans.Of(producer.TraceId);
        Assert.Equal(["deliver a", "deliver a", "ack a"], trace.Select(s => s.DisplayName));
        Assert.All(trace, s => Assert.Equal(producer.SpanId, s.ParentSpanId));
        Assert.All(trace, s => Assert.Equal(State, s.TraceStateString));
        Assert.All(trace, s => Assert.Equal("marie", s.GetTagItem("messaging.system")));
        Assert.All(trace, s => Assert.Equal("a", s.GetTagItem("messaging.destination.name")));
        Assert.All(trace, s => Assert.Equal(published.Id, s.GetTagItem("messaging.message.id")));
        Assert.All(trace, s => Assert.Equal("s1", s.GetTagItem("messaging.destination.subscription.name")));
        Assert.Equal(
            [(ActivityKind.Producer, "send", 1, "live"), (ActivityKind.Producer, "send", 2, "redelivery")],
            trace.Take(2).Select(s => (s.Kind, s.GetTagItem("messaging.operation.type"),
                s.GetTagItem("messaging.marie.delivery.attempt"), s.GetTagItem("messaging.marie.delivery.reason"))));
        Assert.Equal(ActivityKind.Server, trace[2].Kind);
        Assert.Equal("settle", trace[2].GetTagItem("messaging.operation.type"));
        Assert.Equal("ack", trace[2].GetTagItem("messaging.operation.name"));
        Assert.Equal(2, trace[2].GetTagItem("messaging.marie.delivery.attempt"));
        Assert.Equal(first.AckId, again.AckId);
    }

    [Fact]
    public async Task Spans_ReplayedThenCumulativeAck_ReasonReplayAndOneSettlePerEvent()
    {
        using var spans = new SpanCollector();
        using var t = NewBroker();
        var producer = ProducerContext.New();
        t.Publish(Traced("a", producer, state: null));
        t.Publish(Traced("a", producer, state: null));
        var request = Msg.Sub("s1", "a");
        request.LastSequenceNum = 0;
        var connection = await t.ConnectAndSubscribeAsync(request);
        Assert.Equal(2, connection.All().Events().Count);

        await connection.HandleAsync(Msg.AckUpTo("s1", "a", 2));

        var trace = spans.Of(producer.TraceId);
        Assert.Equal(["deliver a", "deliver a", "ack a", "ack a"], trace.Select(s => s.DisplayName));
        Assert.All(trace.Take(2), s => Assert.Equal("replay", s.GetTagItem("messaging.marie.delivery.reason")));
        Assert.Equal([1L, 2L], trace.Skip(2).Select(s => (long)s.GetTagItem("messaging.marie.sequence_num")!));
    }

    [Fact]
    public async Task Spans_NackAndTerminate_SettleSpansNamedByVerb()
    {
        using var spans = new SpanCollector();
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        var producer = ProducerContext.New();
        t.Publish(Traced("a", producer));
        var first = Assert.Single(connection.All().Events());

        await connection.HandleAsync(Msg.Nack(0, "busy", first.AckId));
        var again = Assert.Single(connection.All().Events());
        await connection.HandleAsync(Msg.Terminate("bad", again.AckId));

        var trace = spans.Of(producer.TraceId);
        Assert.Equal(["deliver a", "nack a", "deliver a", "terminate a"], trace.Select(s => s.DisplayName));
        Assert.Equal("redelivery", trace[2].GetTagItem("messaging.marie.delivery.reason"));
    }

    [Fact]
    public async Task DeadLetter_OfTracedEvent_KeepsItsTraceContext()
    {
        using var t = NewBroker();
        var connection = t.ConnectAs("k1");
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        var producer = ProducerContext.New();
        t.Publish(Traced("a", producer));
        var first = Assert.Single(connection.All().Events());

        await connection.HandleAsync(Msg.Terminate("bad", first.AckId));

        var letter = Assert.Single(t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, null, 10).Items);
        Assert.Equal(producer.TraceParent, letter.Event.TraceContext.Traceparent);
    }

    [Fact]
    public async Task DeadLetterReplay_OfTracedEvent_EnvelopeCarriesContextAndSpanSaysDeadLetterReplay()
    {
        using var spans = new SpanCollector();
        using var t = NewBroker();
        var connection = t.ConnectAs("k1");
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        var producer = ProducerContext.New();
        t.Publish(Traced("a", producer));
        await connection.HandleAsync(Msg.Terminate("bad", Assert.Single(connection.All().Events()).AckId));

        var result = await t.Broker.ReplayDeadLettersAsync("k1", DeadLetterQuery.All, dryRun: false, 0);

        Assert.Equal(1, result.Replayed);
        var again = Assert.Single(connection.All().Events());
        Assert.Equal(producer.TraceParent, again.TraceContext[TraceHeaders.TraceParent]);
        var replayed = spans.Of(producer.TraceId).Last();
        Assert.Equal("deliver a", replayed.DisplayName);
        Assert.Equal("dead_letter_replay", replayed.GetTagItem("messaging.marie.delivery.reason"));
    }

    [Fact]
    public async Task Spans_EventWithoutTraceContext_NoSpanEvenWithAListener()
    {
        using var spans = new SpanCollector();
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        var current = new Activity("test").Start();
        t.Publish(Ev.Make("a"));
        var envelope = Assert.Single(connection.All().Events());

        await connection.HandleAsync(Msg.Ack("s1", envelope.AckId));
        current.Stop();

        Assert.Empty(spans.Of(current.TraceId));
        Assert.Empty(envelope.TraceContext);
    }

    [Fact]
    public void Apply_EncodedEventWithTraceContext_RingKeepsIt()
    {
        using var t = NewBroker();
        var producer = ProducerContext.New();
        var evt = Traced("a", producer);
        evt.Id = "e1";
        var one = new BackendEvent(1, evt.ToByteArray(), TestBroker.StartTime);

        t.Broker.Apply("a", t.Broker.Backend.InitialEpoch("a"), new ReadOnlySpan<BackendEvent>(in one), true);

        var replay = t.Broker.GetReplayBuffer(new ReplayRequest { Topic = "a" });
        var envelope = Assert.Single(replay.Events);
        Assert.Equal(producer.TraceParent, envelope.TraceContext[TraceHeaders.TraceParent]);
        Assert.Null(envelope.Event.TraceContext);
    }
}
