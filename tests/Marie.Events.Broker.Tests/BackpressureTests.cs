using Marie.Events.Broker.Connections;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>Backpressure: threshold = ceil(max_in_flight * pct / 100); one signal on reaching it; again after falling
/// below and rising, or at most once a second while at/above; recommended_delay_ms formula.</summary>
public sealed class BackpressureTests
{
    private static int ExpectedDelay(BrokerOptions o, long pending)
    {
        var threshold = (long)Math.Ceiling(o.MaxInFlight * o.BackpressureThresholdPct / 100.0);
        return (int)(100 + (900 * (pending - threshold) / Math.Max(1, o.MaxInFlight - threshold)));
    }

    private static async Task<(TestBroker Broker, BrokerConnection Connection)> SubscribedAsync(
        int maxInFlight,
        int pct)
    {
        var t = new TestBroker(o =>
        {
            o.MaxInFlight = maxInFlight;
            o.BackpressureThresholdPct = pct;
        });
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        connection.All();
        return (t, connection);
    }

    /// <summary>
    /// Acks the oldest in-flight event so the next waiting one is delivered: pending stays at the cap.
    /// </summary>
    private static async Task<List<ServerMessage>> AckOldestAsync(
        BrokerConnection connection,
        Queue<EventEnvelope> inFlight)
    {
        var messages = await connection.SendAndDrainAsync(Msg.Ack("s1", inFlight.Dequeue().AckId));
        foreach (var e in messages.Events()) inFlight.Enqueue(e);
        return messages;
    }

    [Fact]
    public async Task Publish_BelowThreshold_NoSignal()
    {
        var (t, connection) = await SubscribedAsync(10, 80);
        using var _ = t;

        t.PublishMany("a", 7);

        Assert.Empty(connection.All().Backpressure());
        Assert.Equal(0, t.Stats().BackpressureSignals);
    }

    [Fact]
    public async Task Publish_ReachesThreshold_OneSignalWithPendingAndBaseDelay()
    {
        var (t, connection) = await SubscribedAsync(10, 80);
        using var _ = t;

        t.PublishMany("a", 8);

        var signal = Assert.Single(connection.All().Backpressure());
        Assert.Equal("s1", signal.SubscriptionId);
        Assert.Equal(8, signal.PendingEvents);
        Assert.Equal(100, signal.RecommendedDelayMs);
        Assert.Equal(1, t.Stats().BackpressureSignals);
    }

    [Fact]
    public async Task Publish_ThresholdNotWhole_RoundedUp()
    {
        var (t, connection) = await SubscribedAsync(10, 71);
        using var _ = t;

        t.PublishMany("a", 7);
        var atSeven = connection.All().Backpressure();
        t.Publish("a");
        var atEight = connection.All().Backpressure();

        Assert.Empty(atSeven);
        Assert.Equal(8, Assert.Single(atEight).PendingEvents);
    }

    [Fact]
    public async Task Publish_StaysAboveWithinOneSecond_NoSecondSignal()
    {
        var (t, connection) = await SubscribedAsync(10, 80);
        using var _ = t;
        t.PublishMany("a", 20);
        var messages = connection.All();
        var inFlight = new Queue<EventEnvelope>(messages.Events());

        for (var i = 0; i < 3; i++)
        {
            t.Advance(TimeSpan.FromMilliseconds(300));
            messages.AddRange(await AckOldestAsync(connection, inFlight));
        }

        Assert.Single(messages.Backpressure());
        Assert.Equal(10, inFlight.Count);
    }

    [Fact]
    public async Task Publish_StaysAboveForSeconds_AtMostOneSignalPerSecond()
    {
        var (t, connection) = await SubscribedAsync(10, 80);
        using var _ = t;
        t.PublishMany("a", 40);
        var messages = connection.All();
        var inFlight = new Queue<EventEnvelope>(messages.Events());
        var perSecond = new List<int>();
        t.Advance(TimeSpan.FromMilliseconds(1000));

        // Four windows of one second each; within a window, acks (and so deliveries at the cap)
        // at +0, +200, +400, +600 ms.
        for (var second = 0; second < 4; second++)
        {
            var thisSecond = new List<ServerMessage>();
            for (var i = 0; i < 4; i++)
            {
                thisSecond.AddRange(await AckOldestAsync(connection, inFlight));
                if (i < 3) t.Advance(TimeSpan.FromMilliseconds(200));
            }
            perSecond.Add(thisSecond.Backpressure().Count);
            Assert.All(
                thisSecond.Backpressure(),
                s => Assert.Equal(ExpectedDelay(t.Options, s.PendingEvents), s.RecommendedDelayMs));
            Assert.All(thisSecond.Backpressure(), s => Assert.InRange(s.PendingEvents, 8, 10));
            t.Advance(TimeSpan.FromMilliseconds(400));
        }

        Assert.Single(messages.Backpressure());
        Assert.All(perSecond, n => Assert.InRange(n, 0, 1));
    }

    [Fact]
    public async Task Ack_FallsBelowThenRisesAgain_SignalsAgain()
    {
        var (t, connection) = await SubscribedAsync(10, 80);
        using var _ = t;
        t.PublishMany("a", 8);
        var first = connection.All().Backpressure();

        await connection.HandleAsync(Msg.AckUpTo("s1", "a", 2));
        var whileBelow = connection.All().Backpressure();
        t.PublishMany("a", 2);
        var second = connection.All().Backpressure();

        Assert.Single(first);
        Assert.Empty(whileBelow);
        var signal = Assert.Single(second);
        Assert.Equal(8, signal.PendingEvents);
        Assert.Equal(100, signal.RecommendedDelayMs);
        Assert.Equal(2, t.Stats().BackpressureSignals);
    }

    [Fact]
    public async Task Ack_FallsBelowAndStaysBelow_NoSignalAsTimePasses()
    {
        var (t, connection) = await SubscribedAsync(10, 80);
        using var _ = t;
        t.PublishMany("a", 8);
        connection.All();

        await connection.HandleAsync(Msg.AckUpTo("s1", "a", 5));
        t.AdvanceSeconds(5);
        t.Publish("a");

        Assert.Empty(connection.All().Backpressure());
    }

    [Theory]
    [InlineData(10, 80)]
    [InlineData(20, 50)]
    [InlineData(4, 50)]
    public async Task Signal_RecommendedDelay_FollowsFormula(int maxInFlight, int pct)
    {
        var (t, connection) = await SubscribedAsync(maxInFlight, pct);
        using var _ = t;
        t.PublishMany("a", maxInFlight * 3);
        var messages = connection.All();
        var inFlight = new Queue<EventEnvelope>(messages.Events());

        for (var i = 0; i < 3; i++)
        {
            t.AdvanceSeconds(1.5);
            messages.AddRange(await AckOldestAsync(connection, inFlight));
        }

        var signals = messages.Backpressure();
        Assert.NotEmpty(signals);
        Assert.Equal(100, signals[0].RecommendedDelayMs);
        Assert.All(signals, s => Assert.Equal(ExpectedDelay(t.Options, s.PendingEvents), s.RecommendedDelayMs));
        Assert.All(signals.Where(s => s.PendingEvents == maxInFlight), s => Assert.Equal(1000, s.RecommendedDelayMs));
    }

    [Fact]
    public async Task Signal_ThresholdAtCap_DelayIsBase()
    {
        var (t, connection) = await SubscribedAsync(5, 100);
        using var _ = t;

        t.PublishMany("a", 5);

        var signal = Assert.Single(connection.All().Backpressure());
        Assert.Equal(5, signal.PendingEvents);
        Assert.Equal(100, signal.RecommendedDelayMs);
    }

    [Fact]
    public async Task Signal_PerSubscription_OnlyTheLoadedOneSignals()
    {
        using var t = new TestBroker(o =>
        {
            o.MaxInFlight = 4;
            o.BackpressureThresholdPct = 50;
        });
        var connection = t.Connect();
        await connection.HandleAsync(Msg.Subscribe("busy", "a"));
        await connection.HandleAsync(Msg.Subscribe("quiet", "b"));

        t.PublishMany("a", 3);
        t.Publish("b");

        var signal = Assert.Single(connection.All().Backpressure());
        Assert.Equal("busy", signal.SubscriptionId);
        Assert.Equal(2, signal.PendingEvents);
    }
}
