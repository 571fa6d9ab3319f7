using System.Collections.Concurrent;
using System.Diagnostics;
using Marie.Events.Client.Tests.Infrastructure;

namespace Marie.Events.Client.Tests.Functional;

/// <summary>The client's part of a trace against the real gateway: the caller's Activity.Current goes with a publish
/// (unary and stream), the gateway continues it, and the handler runs inside a <c>process</c> span parented to the
/// context the envelope carries.</summary>
public sealed class ClientTracingTests : IDisposable
{
    private const string ProducerSource = "Marie.Events.Client.Tests.Producer";

    private readonly ActivitySource _producer = new(ProducerSource);
    private readonly ConcurrentDictionary<ActivityTraceId, byte> _traces = new();
    private readonly ConcurrentQueue<Activity> _ended = new();
    private readonly ActivityListener _listener;

    public ClientTracingTests()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is ProducerSource or "Marie.Events" or EventStreamClient.ActivitySourceName,
            // Only this class's traces: other tests' gateways and clients run in this process at the same time.
            Sample = (ref ActivityCreationOptions<ActivityContext> o) =>
                o.Source.Name == ProducerSource || _traces.ContainsKey(o.Parent.TraceId)
                    ? ActivitySamplingResult.AllDataAndRecorded
                    : ActivitySamplingResult.None,
            ActivityStarted = a =>
            {
                if (a.Source.Name == ProducerSource)
                {
                    _traces[a.TraceId] = 0;
                }
            },
            ActivityStopped = _ended.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    private List<Activity> Spans(ActivityTraceId trace, string name) =>
        _ended.Where(s => s.TraceId == trace && s.DisplayName == name).ToList();

    [Fact]
    public async Task Publish_UnderAnActivity_HandlerRunsInProcessSpanOfTheSameTrace()
    {
        await using var gateway = await Gateways.StartAsync();
        await using var client = Gateways.Client(gateway);
        var inHandler = new TaskCompletionSource<(Activity? Current, ReceivedEvent Event)>(
            TaskCreationOptions.RunContinuationsAsynchronously);
        await using var subscription = await client.SubscribeAsync(
            new SubscriptionOptions { Topics = { "traced" } },
            (e, _) =>
            {
                inHandler.TrySetResult((Activity.Current, e));
                return ValueTask.CompletedTask;
            });

        ActivityTraceId trace;
        using (var publish = _producer.StartActivity("publish", ActivityKind.Producer)!)
        {
            trace = publish.TraceId;
            await client.PublishAsync(Gateways.Event("traced"));
        }

        var (current, received) = await inHandler.Task.WaitAsync(Wait.Timeout);
        await Wait.UntilAsync(() => Spans(trace, "process traced").Count == 1, "the process span ends");

        var send = Assert.Single(Spans(trace, "send traced"));
        var process = Assert.Single(Spans(trace, "process traced"));
        Assert.Same(process, current);
        Assert.Equal(ActivityKind.Consumer, process.Kind);
        Assert.Equal(send.SpanId, process.ParentSpanId);
        Assert.Equal("process", process.GetTagItem("messaging.operation.type"));
        Assert.Equal("traced", process.GetTagItem("messaging.destination.name"));
        Assert.Equal(received.Event.Id, process.GetTagItem("messaging.message.id"));
        Assert.Equal($"00-{trace}-{send.SpanId}-01", received.TraceContext["traceparent"]);
    }

    [Fact]
    public async Task PublishBatch_UnderAnActivity_EventsCarryTheTrace()
    {
        await using var gateway = await Gateways.StartAsync();
        await using var client = Gateways.Client(gateway);
        await using var subscription = await client.SubscribeAsync(new SubscriptionOptions { Topics = { "batch-t" } });

        ActivityTraceId trace;
        using (var publish = _producer.StartActivity("publish", ActivityKind.Producer)!)
        {
            trace = publish.TraceId;
            await client.PublishBatchAsync([Gateways.Event("batch-t"), Gateways.Event("batch-t")]);
        }

        var received = await Gateways.ReadAsync(subscription, 2);

        Assert.All(
            received,
            e => Assert.Contains($"-{trace}-", e.TraceContext["traceparent"], StringComparison.Ordinal));
        await Wait.UntilAsync(() => Spans(trace, "process batch-t").Count == 2, "both process spans end");
    }

    [Fact]
    public async Task Publish_WithoutActivity_EventHasNoContextAndNoProcessSpan()
    {
        await using var gateway = await Gateways.StartAsync();
        await using var client = Gateways.Client(gateway);
        await using var subscription = await client.SubscribeAsync(new SubscriptionOptions { Topics = { "plain" } });
        Assert.Null(Activity.Current);

        await client.PublishAsync(Gateways.Event("plain"));
        var received = Assert.Single(await Gateways.ReadAsync(subscription, 1));

        Assert.Empty(received.TraceContext);
        Assert.DoesNotContain(_ended, s => s.DisplayName == "process plain");
    }

    public void Dispose()
    {
        _listener.Dispose();
        _producer.Dispose();
    }
}
