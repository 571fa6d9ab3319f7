using Google.Protobuf;
using Marie.Events.Broker.Connections;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>What a connection queues for a client that does not read its stream, and the frames the writer
/// serializes.</summary>
public sealed class WriteQueueTests
{
    [Fact]
    public async Task Heartbeat_ClientNotReading_AtMostOneQueued()
    {
        using var t = new TestBroker(o => o.HeartbeatIntervalSeconds = 1);
        // Opened on the broker directly: TestBroker.Advance does not read it.
        using var connection = t.Broker.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));

        t.AdvanceSeconds(10);

        Assert.Single(connection.All().Heartbeats());
    }

    [Fact]
    public async Task Redelivery_PreviousSendStillQueued_NotQueuedAgain()
    {
        using var t = new TestBroker(o =>
        {
            o.AckTimeoutSeconds = 1;
            o.RedeliveryDelaySeconds = 1;
            o.MaxRedeliveryAttempts = 3;
        });
        using var connection = t.Broker.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        t.Publish("a");

        t.AdvanceSeconds(10);

        // Only the first send is queued: no timeout runs while it waits, so nothing is redelivered or dropped.
        Assert.Equal([1], connection.All().Events().Select(e => e.DeliveryAttempt));
        Assert.Equal(0, t.Stats().EventsDropped);
        Assert.Equal(1, t.Stats().InFlightEvents);
    }

    [Fact]
    public async Task Redelivery_AckedWhileQueued_SkippedByWriter()
    {
        using var t = new TestBroker(o =>
        {
            o.AckTimeoutSeconds = 1;
            o.RedeliveryDelaySeconds = 1;
        });
        using var connection = t.Broker.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        t.Publish("a");
        var first = Assert.Single(connection.All().Events());
        t.AdvanceSeconds(1);

        await connection.HandleAsync(Msg.Ack("s1", first.AckId));

        Assert.Empty(connection.All().Events());
    }

    [Fact]
    public async Task TryReadFrame_EventDelivery_BytesEqualTheServerMessage()
    {
        using var t = new TestBroker();
        using var connection = t.Broker.Connect();
        await connection.HandleAsync(Msg.Subscribe("sübscription-1", "a"));
        var confirm = new OutboundFrame();
        Assert.True(connection.TryReadFrame(confirm));
        Assert.False(confirm.IsEvent);
        t.Publish(Ev.Make(
            "a",
            "extract.completed",
            "job://extract.completed/ü-1",
            "job-1",
            """{"doc": {"pages": [1, 2.5, "x"], "ok": true, "none": null}}"""));

        var frame = new OutboundFrame();
        Assert.True(connection.TryReadFrame(frame));
        var bytes = new byte[frame.CalculateSize()];
        var written = frame.WriteTo(bytes);

        Assert.True(frame.IsEvent);
        Assert.Equal(bytes.Length, written);
        Assert.Equal(frame.ToMessage().ToByteArray(), bytes);
        Assert.Equal(frame.ToMessage(), ServerMessage.Parser.ParseFrom(bytes));
    }

    [Fact]
    public async Task Clear_EventFrame_EmptyAndRefusesToWrite()
    {
        using var t = new TestBroker();
        using var connection = t.Broker.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        var frame = new OutboundFrame();
        Assert.True(connection.TryReadFrame(frame));
        t.Publish("a");
        Assert.True(connection.TryReadFrame(frame));
        Assert.True(frame.IsEvent);

        frame.Clear();

        Assert.False(frame.IsEvent);
        Assert.Throws<InvalidOperationException>(() => frame.CalculateSize());
        Assert.Throws<InvalidOperationException>(() => frame.ToMessage());
    }

    [Fact]
    public async Task Heartbeat_WriteQueueGrownByABurstAndDrained_ShrinksBack()
    {
        using var t = new TestBroker(o =>
        {
            o.HeartbeatIntervalSeconds = 1;
            o.MaxInFlight = 1_000;
        });
        using var connection = t.Broker.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        t.PublishMany("a", 500);
        var frame = new OutboundFrame();
        while (connection.TryReadFrame(frame))
        {
        }

        var grown = connection.WriteQueueCapacity;
        t.AdvanceSeconds(1);

        Assert.True(grown >= 500, $"capacity after the burst: {grown}");
        Assert.True(
            connection.WriteQueueCapacity <= 4,
            $"capacity after the heartbeat: {connection.WriteQueueCapacity}");
        Assert.Single(connection.All().Heartbeats());
    }
}
