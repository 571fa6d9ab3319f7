using System.Diagnostics;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>The trace context of an event crosses the cluster's fan-out: published on one gateway, delivered by
/// another from Redis.</summary>
public sealed class ClusterTracingTests
{
    [Fact]
    public async Task PublishOnA_SubscriberOnB_EnvelopeCarriesTheProducersContext()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var kit = new ClusterKit(redis);
        await using var a = await kit.StartAsync("gw-a");
        await using var b = await kit.StartAsync("gw-b");
        await using var onB = ClusterKit.Client(kit.Keys.Subscriber, ClusterKit.AddressOf(b));
        await using var publisher = ClusterKit.Client(kit.Keys.Admin, ClusterKit.AddressOf(a));
        await using var subscription = await onB.SubscribeAsync(new SubscriptionOptions { Topics = { "fan-t" } });
        var traceParent = $"00-{ActivityTraceId.CreateRandom()}-{ActivitySpanId.CreateRandom()}-01";
        var traced = Gateways.Event("fan-t");
        traced.TraceContext = new TraceContext { Traceparent = traceParent, Tracestate = "c=1" };

        await publisher.PublishAsync(traced);
        await publisher.PublishAsync(Gateways.Event("fan-t"));
        var received = await Gateways.ReadAsync(subscription, 2);

        Assert.Equal(traceParent, received[0].TraceContext["traceparent"]);
        Assert.Equal("c=1", received[0].TraceContext["tracestate"]);
        Assert.Empty(received[1].TraceContext);
        Assert.Null(received[0].Event.TraceContext);
    }
}
