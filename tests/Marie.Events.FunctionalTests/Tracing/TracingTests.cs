using System.Diagnostics;
using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.FunctionalTests.Tracing;

/// <summary>Traces through the real gateway: a publish with a producer's traceparent, its delivery, redelivery and
/// ack give spans of the producer's trace; the envelope carries the context; the file backend keeps it over a
/// restart; an event published without one carries none.</summary>
[Collection(TraceListenerGroup.Name)]
public sealed class TracingTests
{
    private static Metadata Headers(string key, string? traceParent, string? traceState = null)
    {
        var headers = new Metadata { { "authorization", $"Bearer {key}" } };
        if (traceParent is not null)
        {
            headers.Add("traceparent", traceParent);
        }

        if (traceState is not null)
        {
            headers.Add("tracestate", traceState);
        }

        return headers;
    }

    private static Task<PublishResponse> PublishAsync(
        GatewayFixture gateway,
        EventData evt,
        string? traceParent,
        string? traceState = null) =>
        gateway.Publisher.PublishAsync(
            new PublishRequest { Event = evt },
            new CallOptions(
                Headers(gateway.Keys.Publisher, traceParent, traceState),
                DateTime.UtcNow.Add(GatewayFixture.Timeout))).ResponseAsync;

    private static ClientMessage Ack(string subscriptionId, string ackId) => new()
    {
        Ack = new AckMessage { SubscriptionId = subscriptionId, Individual = new IndividualAck { AckIds = { ackId } } },
    };

    private static object? Tag(Activity span, string name) => span.GetTagItem(name);

    [Fact]
    public async Task Publish_WithTraceparent_SendDeliverRedeliverAndAckSpansOfOneTrace()
    {
        using var recorder = new TraceRecorder();
        await using var gateway = await GatewayFixture.StartAsync(s =>
        {
            // 1 s: the ack of the second delivery must reach the gateway before a third one is due, also on a
            // loaded machine.
            s.Config["toast:grpc:broker:ack_timeout_s"] = "1";
            s.Config["toast:grpc:broker:redelivery_delay_s"] = "0.1";
        });
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        await call.RequestStream.WriteAsync(Streams.Subscribe("sub-t", "tenant-t"));
        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        var producer = recorder.NewProducer();

        var published = await PublishAsync(gateway, Streams.Event("tenant-t"), producer.TraceParent, "v=1");
        var first = (await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event)).Event;
        var again = (await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event)).Event;
        await call.RequestStream.WriteAsync(Ack("sub-t", again.AckId));
        var spans = await recorder.WaitForAsync(producer.TraceId, 4);
        await call.RequestStream.CompleteAsync();

        var send = Assert.Single(spans, s => s.DisplayName == "send tenant-t");
        var deliveries = spans.Where(s => s.DisplayName == "deliver tenant-t").ToList();
        var ack = Assert.Single(spans, s => s.DisplayName == "ack tenant-t");
        // The host traces the request (ASP.NET Core's span continues the traceparent header): send nests in it.
        var request = send.Parent;
        Assert.NotNull(request);
        Assert.Equal(producer.TraceId, request.TraceId);
        Assert.Equal(producer.SpanId, request.ParentSpanId);
        Assert.Equal(ActivityKind.Internal, send.Kind);
        Assert.Equal("marie", Tag(send, "messaging.system"));
        Assert.Equal("send", Tag(send, "messaging.operation.type"));
        Assert.Equal("tenant-t", Tag(send, "messaging.destination.name"));
        Assert.Equal(published.Id, Tag(send, "messaging.message.id"));
        Assert.Equal(published.SequenceNum, Tag(send, "messaging.marie.sequence_num"));
        Assert.Equal([1, 2], deliveries.Select(s => Tag(s, "messaging.marie.delivery.attempt")));
        Assert.Equal(["live", "redelivery"], deliveries.Select(s => Tag(s, "messaging.marie.delivery.reason")));
        Assert.All(deliveries, s => Assert.Equal(send.SpanId, s.ParentSpanId));
        Assert.All(deliveries, s => Assert.Equal(ActivityKind.Producer, s.Kind));
        Assert.Equal(send.SpanId, ack.ParentSpanId);
        Assert.Equal("settle", Tag(ack, "messaging.operation.type"));
        Assert.Equal("v=1", ack.TraceStateString);

        // The envelope carries the context the deliveries continue: the gateway's send span, in the producer's trace.
        var expected = $"00-{producer.TraceId}-{send.SpanId}-01";
        Assert.Equal(expected, first.TraceContext["traceparent"]);
        Assert.Equal("v=1", first.TraceContext["tracestate"]);
        Assert.Equal(first.TraceContext, again.TraceContext);
        Assert.Null(first.Event.TraceContext);
    }

    [Fact]
    public async Task Publish_WithoutContext_EnvelopeCarriesNone()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        await call.RequestStream.WriteAsync(Streams.Subscribe("sub-n", "tenant-n"));
        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);

        await PublishAsync(gateway, Streams.Event("tenant-n"), traceParent: null);
        var delivered = (await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event)).Event;
        await call.RequestStream.CompleteAsync();

        Assert.Empty(delivered.TraceContext);
        Assert.Null(delivered.Event.TraceContext);
    }

    [Fact]
    public async Task Publish_MalformedTraceparent_Ignored()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        var evt = Streams.Event("tenant-m");
        evt.TraceContext = new TraceContext { Traceparent = "00-not-a-trace-01", Tracestate = "x" };

        await PublishAsync(gateway, evt, traceParent: null);
        var replay = await gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = "tenant-m" },
            GatewayFixture.Auth(gateway.Keys.Subscriber));

        Assert.Empty(Assert.Single(replay.Events).TraceContext);
    }

    [Fact]
    public async Task PublishStream_EventContextWinsOverCallMetadata()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        var (traceA, traceB) = (ActivityTraceId.CreateRandom(), ActivityTraceId.CreateRandom());
        var spanId = ActivitySpanId.CreateRandom();
        var own = Streams.Event("tenant-s");
        own.TraceContext = new TraceContext { Traceparent = $"00-{traceB}-{spanId}-01" };
        using var call = gateway.Publisher.PublishStream(new CallOptions(
            Headers(gateway.Keys.Publisher, $"00-{traceA}-{spanId}-01"),
            DateTime.UtcNow.Add(GatewayFixture.Timeout)));

        await call.RequestStream.WriteAsync(new PublishRequest { Event = Streams.Event("tenant-s") });
        await call.RequestStream.WriteAsync(new PublishRequest { Event = own });
        await call.RequestStream.CompleteAsync();
        await foreach (var _ in call.ResponseStream.ReadAllAsync())
        {
        }

        var replay = await gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = "tenant-s" },
            GatewayFixture.Auth(gateway.Keys.Subscriber));
        Assert.Equal(
            [$"00-{traceA}-{spanId}-01", $"00-{traceB}-{spanId}-01"],
            replay.Events.Select(e => e.TraceContext["traceparent"]));
    }

    [Fact]
    public async Task FileBackend_Restart_TraceContextSurvives()
    {
        using var temp = new TempDirectory();
        var traceParent = $"00-{ActivityTraceId.CreateRandom()}-{ActivitySpanId.CreateRandom()}-01";
        void Configure(GatewaySettings s)
        {
            s.Config["toast:grpc:broker:backend"] = "file";
            s.Config["toast:grpc:broker:file:path"] = temp.Path;
        }

        await using (var first = await GatewayFixture.StartAsync(Configure))
        {
            await PublishAsync(first, Streams.Event("tenant-f"), traceParent, "v=2");
            await PublishAsync(first, Streams.Event("tenant-f"), traceParent: null);
        }

        await using var second = await GatewayFixture.StartAsync(Configure);
        using var call = second.Streams.StreamEvents(GatewayFixture.Auth(second.Keys.Subscriber));
        var subscribe = Streams.Subscribe("sub-f", "tenant-f");
        subscribe.Subscribe.LastSequenceNum = 0;
        await call.RequestStream.WriteAsync(subscribe);
        var traced = (await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event)).Event;
        var plain = (await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event)).Event;
        await call.RequestStream.CompleteAsync();

        Assert.Equal(traceParent, traced.TraceContext["traceparent"]);
        Assert.Equal("v=2", traced.TraceContext["tracestate"]);
        Assert.Empty(plain.TraceContext);
    }
}
