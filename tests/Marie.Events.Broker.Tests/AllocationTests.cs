using Marie.Events.Broker.Connections;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>The dispatch path's allocation budget (issue 3): per published event the stored event and its bytes;
/// per delivery nothing beyond the bytes written. Measured on the test's own thread (publish, dispatch and the
/// writer's frames all run on it here) in steady state, after the pools, rings and queues have grown.</summary>
public sealed class AllocationTests
{
    /// <summary>Events per measurement (and of warm-up before it).</summary>
    private const int Events = 4_000;

    /// <summary>Cumulative ack every 64 events per subscription, as the load test's subscribers do.</summary>
    private const int AckEvery = 64;

    [Fact]
    public async Task PublishAndWrite_MoreSubscriptions_NoMoreAllocatedPerEvent()
    {
        var one = await BytesPerEventAsync(subscriptions: 1);
        var many = await BytesPerEventAsync(subscriptions: 40);

        // Per delivery: (many - one) / 39 extra deliveries per event. Less than a byte means nothing is allocated per
        // delivery (a single 24-byte object per delivery would add 24).
        Assert.True((many - one) / 39 < 1.0, $"bytes per event: {one:F1} with 1 subscription, {many:F1} with 40");
    }

    /// <summary>Bytes allocated per published event (<paramref name="evt"/>, by default ~256 bytes of payload),
    /// delivered to and acked by <paramref name="subscriptions"/> subscriptions, in steady state (after as many
    /// events of warm-up as measured).</summary>
    internal static async Task<double> BytesPerEventAsync(
        int subscriptions,
        EventData? evt = null,
        int events = Events)
    {
        using var t = new TestBroker(o => o.MaxInFlight = 1_000);
        var connections = new BrokerConnection[subscriptions];
        for (var i = 0; i < subscriptions; i++)
        {
            connections[i] = t.Broker.Connect();
            await connections[i].HandleAsync(Msg.Subscribe($"s{i}", "a"));
        }

        var acks = Enumerable.Range(0, subscriptions).Select(i => Msg.AckUpTo($"s{i}", "a", 0)).ToArray();
        evt ??= Ev.Make("a", payloadJson: $$"""{"text": "{{new string('x', 200)}}"}""");
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

                if (sequence % AckEvery == 0)
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
