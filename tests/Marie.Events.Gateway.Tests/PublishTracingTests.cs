using System.Collections.Concurrent;
using System.Diagnostics;
using Marie.Events.Broker.Telemetry;
using Marie.Events.Gateway.Services;
using Marie.Events.Protocol;

namespace Marie.Events.Gateway.Tests;

/// <summary>The publish call's trace context (metadata, the event's own, normalisation) and the publish span.</summary>
public sealed class PublishTracingTests
{
    private static readonly string Parent = $"00-{ActivityTraceId.CreateRandom()}-{ActivitySpanId.CreateRandom()}-01";

    private static EventData Event(string? ownParent = null)
    {
        var evt = new EventData { ApiKey = "tenant-a", Id = "e1", Event = "x" };
        if (ownParent is not null)
        {
            evt.TraceContext = new TraceContext { Traceparent = ownParent };
        }

        return evt;
    }

    [Fact]
    public void ApplyTo_CallMetadataAndEventWithout_EventTakesTheCallsContext()
    {
        var evt = Event();

        new PublishTraceContext(Parent, "v=1").ApplyTo(evt);

        Assert.Equal(Parent, evt.TraceContext.Traceparent);
        Assert.Equal("v=1", evt.TraceContext.Tracestate);
    }

    [Fact]
    public void ApplyTo_EventHasItsOwn_EventsWins()
    {
        var own = $"00-{ActivityTraceId.CreateRandom()}-{ActivitySpanId.CreateRandom()}-00";
        var evt = Event(own);

        new PublishTraceContext(Parent, "v=1").ApplyTo(evt);

        Assert.Equal(own, evt.TraceContext.Traceparent);
        Assert.Equal("", evt.TraceContext.Tracestate);
    }

    [Theory]
    [InlineData("00-zz-01")]
    [InlineData("")]
    [InlineData("00-00000000000000000000000000000000-0000000000000000-01")]
    public void ApplyTo_MalformedTraceparent_ContextDropped(string traceParent)
    {
        var evt = Event();

        new PublishTraceContext(traceParent, "v=1").ApplyTo(evt);

        Assert.Null(evt.TraceContext);
    }

    [Fact]
    public void ApplyTo_LongTracestate_OnlyTraceparentKept()
    {
        var evt = Event(Parent);
        evt.TraceContext.Tracestate = new string('a', TraceHeaders.MaxTraceStateLength + 1);

        default(PublishTraceContext).ApplyTo(evt);

        Assert.Equal(new TraceContext { Traceparent = Parent }, evt.TraceContext);
    }

    [Fact]
    public void ApplyTo_NoContextAnywhere_EventUnchanged()
    {
        var evt = Event();

        default(PublishTraceContext).ApplyTo(evt);

        Assert.Null(evt.TraceContext);
    }

    [Fact]
    public void Start_RemoteProducerContext_ServerSpanWhoseContextTheEventCarries()
    {
        var producer = ActivityContext.Parse(Parent, "v=1");
        var ended = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == MarieTelemetry.Name,
            // Only this test's trace: other tests' spans in this process are not sampled.
            Sample = (ref ActivityCreationOptions<ActivityContext> o) => o.Parent.TraceId == producer.TraceId
                ? ActivitySamplingResult.AllDataAndRecorded
                : ActivitySamplingResult.None,
            ActivityStopped = ended.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var evt = Event(Parent);
        evt.TraceContext.Tracestate = "v=1";

        var span = PublishTracing.Start(evt);
        PublishTracing.Filed(span, 7);

        Assert.NotNull(span);
        Assert.Null(Activity.Current);
        var recorded = Assert.Single(ended, s => s.TraceId == producer.TraceId);
        Assert.Equal("send tenant-a", recorded.DisplayName);
        Assert.Equal(ActivityKind.Server, recorded.Kind);
        Assert.Equal(producer.SpanId, recorded.ParentSpanId);
        Assert.Equal(7L, recorded.GetTagItem("messaging.marie.sequence_num"));
        Assert.Equal("e1", recorded.GetTagItem("messaging.message.id"));
        Assert.Equal($"00-{producer.TraceId}-{recorded.SpanId}-01", evt.TraceContext.Traceparent);
        Assert.Equal("v=1", evt.TraceContext.Tracestate);
    }

    [Fact]
    public void Start_NotSampled_EventKeepsTheProducersContext()
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == MarieTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.None,
        };
        ActivitySource.AddActivityListener(listener);
        var evt = Event(Parent);

        var span = PublishTracing.Start(evt);

        Assert.Null(span);
        Assert.Equal(Parent, evt.TraceContext.Traceparent);
    }
}
