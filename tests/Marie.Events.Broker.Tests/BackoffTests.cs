using Marie.Events.Broker.Connections;
using Marie.Events.Broker.DeadLetters;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>A subscription's redelivery_backoff_ms and max_redelivery_attempts, on fake time (ack timeout 10 s,
/// redelivery checks every 0.5 s, five attempts at most).</summary>
public sealed class BackoffTests
{
    private static TestBroker NewBroker() => new(o =>
    {
        o.AckTimeoutSeconds = 10;
        o.RedeliveryDelaySeconds = 0.5;
        o.MaxAckExtensionSeconds = 60;
    });

    private static SubscribeRequest Sub(int maxAttempts, params long[] backoffMs)
    {
        var request = Msg.Sub("s1", "a");
        request.MaxRedeliveryAttempts = maxAttempts;
        request.RedeliveryBackoffMs.AddRange(backoffMs);
        return request;
    }

    /// <summary>When each delivery of one event arrives (seconds after the first), advancing 0.5 s at a time.
    /// </summary>
    private static List<double> DeliveryTimes(TestBroker t, BrokerConnection connection, double seconds)
    {
        var times = new List<double>();
        for (var at = 0.5; at <= seconds; at += 0.5)
        {
            t.AdvanceSeconds(0.5);
            times.AddRange(connection.All().Events().Select(_ => at));
        }

        return times;
    }

    [Fact]
    public async Task Backoff_List_EachEntryWaitsAfterItsAttemptAndTheLastRepeats()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync(Sub(5, 1000, 3000));
        t.Publish("a");
        Assert.Single(connection.All().Events());

        var times = DeliveryTimes(t, connection, 13.5);

        // Sent at 0; +1 s -> 1; +3 s -> 4; +3 s (last entry again) -> 7; +3 s -> 10.
        Assert.Equal([1.0, 4.0, 7.0, 10.0], times);
        var letter = Assert.Single(t.Broker.ListDeadLetters("", DeadLetterQuery.All, null, 10).Items);
        Assert.Equal(5, letter.Last.Attempts);
        Assert.Equal(TimeSpan.FromSeconds(10), letter.Last.LastDeliveredAt - letter.Last.FirstDeliveredAt);
        Assert.Equal(TimeSpan.FromSeconds(13), letter.Last.DeadLetteredAt - letter.Last.FirstDeliveredAt);
    }

    [Fact]
    public async Task Subscribe_MaxAttemptsOverTheServers_ClampedAndConfirmedWithTheLimits()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync(Sub(50, 2000, 4000));

        var confirm = Assert.Single(connection.All().Confirms());

        Assert.Equal(5, confirm.MaxRedeliveryAttempts);
        Assert.Equal([2000L, 4000L], confirm.RedeliveryBackoffMs);
        Assert.Equal(10_000, confirm.AckTimeoutMs);
        Assert.Equal(60_000, confirm.MaxAckExtensionMs);
    }

    [Fact]
    public async Task Subscribe_FewerAttempts_DeadLetteredAfterThoseAndNoBackoffReported()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync(Sub(2));
        Assert.Empty(Assert.Single(connection.All().Confirms()).RedeliveryBackoffMs);
        t.Publish("a");
        Assert.Single(connection.All().Events());

        var times = DeliveryTimes(t, connection, 25);

        Assert.Equal([10.0], times);
        Assert.Equal(2, Assert.Single(t.Broker.ListDeadLetters("", DeadLetterQuery.All, null, 10).Items).Last.Attempts);
    }

    [Theory]
    [InlineData(-1, new long[0], "max_redelivery_attempts")]
    [InlineData(0, new long[] { 0 }, "redelivery_backoff_ms")]
    [InlineData(0, new long[] { 60_001 }, "redelivery_backoff_ms")]
    public async Task Subscribe_BadSettleLimits_ErrorInvalidRequestNamingTheField(int attempts, long[] backoff,
        string field)
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync(Sub(attempts, backoff));

        var messages = connection.All();

        Assert.Empty(messages.Confirms());
        var error = Assert.Single(messages.Errors());
        Assert.Equal(ErrorCode.ErrorInvalidRequest, error.Code);
        Assert.Equal(field, error.Details["field"]);
    }

    [Fact]
    public async Task Subscribe_TooManyBackoffEntries_ErrorInvalidRequest()
    {
        using var t = NewBroker();
        var connection = await t.ConnectAndSubscribeAsync(Sub(0, [.. Enumerable.Repeat(100L, 33)]));

        Assert.Equal("redelivery_backoff_ms", Assert.Single(connection.All().Errors()).Details["field"]);
    }
}
