using Marie.Events.Broker.Connections;

namespace Marie.Events.Broker.Tests;

/// <summary>Tracing's cost for events without a trace context: with a listener on the source, a delivery still
/// allocates nothing (the writer and ack paths check the event, not the listener, first).</summary>
public sealed class TracingAllocationTests
{
    [Fact]
    public async Task Delivery_ListenerButEventWithoutContext_NothingAllocatedPerDelivery()
    {
        using var spans = new SpanCollector();

        var one = await BytesPerEventAsync(subscriptions: 1);
        var many = await BytesPerEventAsync(subscriptions: 20);

        // As AllocationTests: less than a byte per extra delivery means nothing is allocated per delivery.
        Assert.True((many - one) / 19 < 1.0, $"bytes per event: {one:F1} with 1 subscription, {many:F1} with 20");
    }

    /// <summary>Bytes allocated per published event without a context, delivered to and acked by
    /// <paramref name="subscriptions"/> subscriptions, in steady state (after as many events of warm-up).</summary>
    private static async Task<double> BytesPerEventAsync(int subscriptions)
    {
        // Events per measurement; a cumulative ack every 64 events per subscription, as the load test's.
        const int events = 2_000;
        const int ackEvery = 64;
        using var t = new TestBroker(o => o.MaxInFlight = 1_000);
        var connections = new BrokerConnection[subscriptions];
        for (var i = 0; i < subscriptions; i++)
        {
            connections[i] = t.Broker.Connect();
            await connections[i].HandleAsync(Msg.Subscribe($"s{i}", "a"));
        }

        var acks = Enumerable.Range(0, subscriptions).Select(i => Msg.AckUpTo($"s{i}", "a", 0)).ToArray();
        var evt = Ev.Make("a");
        var frame = new OutboundFrame();
        var buffer = new byte[4096];

        void Run(int count)
        {
            for (var n = 0; n < count; n++)
            {
                var sequence = t.Broker.Publish(evt.Clone()).SequenceNum;
                foreach (var connection in connections)
                {
                    while (connection.TryReadFrame(frame))
                    {
                        frame.WriteTo(buffer);
                    }
                }

                if (sequence % ackEvery == 0)
                {
                    for (var i = 0; i < connections.Length; i++)
                    {
                        acks[i].Ack.Cumulative.UpToSequenceNum = sequence;
                        var handled = connections[i].HandleAsync(acks[i]);
                        Assert.True(handled.IsCompletedSuccessfully);
                    }
                }
            }
        }

        Run(events);
        var before = GC.GetAllocatedBytesForCurrentThread();
        Run(events);
        var perEvent = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)events;
        foreach (var connection in connections)
        {
            connection.Dispose();
        }

        return perEvent;
    }
}
