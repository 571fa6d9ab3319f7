using System.Diagnostics;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.DeadLetters;

/// <summary>The settle verbs (nack, terminate, extend) over a real stream, with short configured intervals.</summary>
public sealed class SettleVerbStreamTests
{
    /// <summary>Short enough that a redelivery comes quickly, long enough that a test sees it did not come
    /// early.</summary>
    private const string AckTimeoutSeconds = "0.5";

    private static Task<GatewayFixture> StartAsync(string maxExtensionSeconds = "300",
        string ackTimeoutSeconds = AckTimeoutSeconds) =>
        GatewayFixture.StartAsync(s =>
        {
            s.Config["toast:grpc:broker:ack_timeout_s"] = ackTimeoutSeconds;
            // The redelivery check runs this often (seconds), so a due event goes out within 50 ms.
            s.Config["toast:grpc:broker:redelivery_delay_s"] = "0.05";
            s.Config["toast:grpc:broker:max_redelivery_attempts"] = "3";
            s.Config["toast:grpc:broker:max_ack_extension_s"] = maxExtensionSeconds;
        });

    internal static async Task<PublishResponse> PublishAsync(GatewayFixture gateway, string topic) =>
        await gateway.Publisher.PublishAsync(new PublishRequest { Event = Streams.Event(topic) },
            GatewayFixture.Auth(gateway.Keys.Publisher));

    [Fact]
    public async Task Nack_WithDelay_RedeliveredAfterDelayWithNextAttempt()
    {
        await using var gateway = await StartAsync();
        using var stream = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        await stream.SubscribeAsync("s", "nack-t");
        await PublishAsync(gateway, "nack-t");
        var first = await stream.NextEventAsync("s");

        var clock = Stopwatch.StartNew();
        // Longer than the ack timeout, so a redelivery before it would be the ack timer's, not the nack's.
        await stream.NackAsync("s", first.AckId, delayMs: 1200, reason: "downstream busy");
        var second = await stream.NextEventAsync("s");

        Assert.Equal(first.AckId, second.AckId);
        Assert.Equal(first.DeliveryAttempt + 1, second.DeliveryAttempt);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(1100), $"redelivered after {clock.Elapsed}");
    }

    [Fact]
    public async Task Nack_ZeroDelay_RedeliveredBeforeAckTimeout()
    {
        // A long ack timeout: a redelivery well before it is the nack's.
        await using var gateway = await StartAsync(ackTimeoutSeconds: "8");
        using var stream = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        await stream.SubscribeAsync("s", "nack-0");
        await PublishAsync(gateway, "nack-0");
        var first = await stream.NextEventAsync("s");

        var clock = Stopwatch.StartNew();
        await stream.NackAsync("s", first.AckId);
        var second = await stream.NextEventAsync("s");

        Assert.Equal(2, second.DeliveryAttempt);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(7), $"redelivered after {clock.Elapsed}");
    }

    [Fact]
    public async Task Terminate_InFlightEvent_DeadLetteredAtOnceWithReason()
    {
        await using var gateway = await StartAsync();
        using var stream = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        await stream.SubscribeAsync("s", "term-t");
        var published = await PublishAsync(gateway, "term-t");
        var delivered = await stream.NextEventAsync("s");

        await stream.TerminateAsync("s", delivered.AckId, "poison: unparseable payload");
        await stream.BarrierAsync();

        var list = await DeadLetterClient.For(gateway).ListDeadLettersAsync(new ListDeadLettersRequest(),
            GatewayFixture.Auth(gateway.Keys.Subscriber));
        var letter = Assert.Single(list.DeadLetters);
        Assert.Equal("terminated", letter.ReasonCode);
        Assert.Equal("poison: unparseable payload", letter.Reason);
        Assert.Equal(published.Id, letter.Event.Id);
        Assert.Equal("term-t", letter.Topic);
        Assert.Equal(1, letter.Attempts);
        Assert.Equal("s", letter.Subscription.SubscriptionId);
    }

    [Fact]
    public async Task MaxRedeliveryAttempts_NeverAcked_DeadLetteredAfterLastAttempt()
    {
        await using var gateway = await StartAsync();
        using var stream = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        var confirm = await stream.SubscribeAsync("s", "max-t", r =>
        {
            r.MaxRedeliveryAttempts = 2;
            r.RedeliveryBackoffMs.Add(100);
        });
        Assert.Equal(2, confirm.MaxRedeliveryAttempts);
        Assert.Equal([100L], confirm.RedeliveryBackoffMs);
        await PublishAsync(gateway, "max-t");

        var first = await stream.NextEventAsync("s");
        var second = await stream.NextEventAsync("s");
        await gateway.Logs.WaitForAsync(e => e.EventId.Id == 1112, GatewayFixture.Timeout);

        Assert.Equal([1, 2], new[] { first.DeliveryAttempt, second.DeliveryAttempt });
        var list = await DeadLetterClient.For(gateway).ListDeadLettersAsync(new ListDeadLettersRequest(),
            GatewayFixture.Auth(gateway.Keys.Subscriber));
        var letter = Assert.Single(list.DeadLetters);
        Assert.Equal("max_attempts", letter.ReasonCode);
        Assert.Equal(2, letter.Attempts);
        Assert.True(letter.LastDeliveredAt.ToDateTimeOffset() >= letter.FirstDeliveredAt.ToDateTimeOffset());
        Assert.Contains(gateway.Logs.Entries, e => e.EventId.Id == 1103);
    }

    [Fact]
    public async Task Extend_BeforeAckTimeout_RedeliveryWaitsForExtension()
    {
        await using var gateway = await StartAsync();
        using var stream = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        await stream.SubscribeAsync("s", "ext-t");
        await PublishAsync(gateway, "ext-t");
        var first = await stream.NextEventAsync("s");

        var clock = Stopwatch.StartNew();
        // Three ack timeouts: without the extension the event would be back after one.
        await stream.ExtendAsync("s", first.AckId, extendMs: 1500);
        var second = await stream.NextEventAsync("s");

        Assert.Equal(first.AckId, second.AckId);
        Assert.Equal(2, second.DeliveryAttempt);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(1400), $"redelivered after {clock.Elapsed}");
    }

    [Fact]
    public async Task Extend_PastMaxAckExtension_ErrorAckExtensionLimitAndStreamStaysUp()
    {
        await using var gateway = await StartAsync(maxExtensionSeconds: "2");
        using var stream = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        var confirm = await stream.SubscribeAsync("s", "ext-max");
        Assert.Equal(2000, confirm.MaxAckExtensionMs);
        await PublishAsync(gateway, "ext-max");
        var first = await stream.NextEventAsync("s");

        await stream.ExtendAsync("s", first.AckId, extendMs: 2001);
        var error = await stream.NextErrorAsync();

        Assert.Equal(ErrorCode.ErrorAckExtensionLimit, error.Code);
        Assert.Equal("2000", error.Details["max_ms"]);
        Assert.Equal("extend.extend_ms", error.Details["field"]);
        // Nothing was extended: the ack timer still runs, and the stream still works.
        var again = await stream.NextEventAsync("s");
        Assert.Equal(2, again.DeliveryAttempt);
        await stream.AckAsync("s", again.AckId);
        await stream.BarrierAsync();
    }

    [Theory]
    [InlineData("nack")]
    [InlineData("terminate")]
    [InlineData("extend")]
    public async Task SettleVerb_UnknownAckId_ErrorUnknownAckIdAndOthersSettled(string verb)
    {
        await using var gateway = await StartAsync();
        using var stream = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        await stream.SubscribeAsync("s", "unk-t");
        await PublishAsync(gateway, "unk-t");
        var delivered = await stream.NextEventAsync("s");
        var ids = new[] { "not-an-ack-id", delivered.AckId };

        await stream.WriteAsync(new ClientMessage { Ack = Verb(verb, "s", ids) });
        var error = await stream.NextErrorAsync();

        Assert.Equal(ErrorCode.ErrorUnknownAckId, error.Code);
        Assert.Equal("1", error.Details["unknown"]);
        Assert.Equal("not-an-ack-id", error.Details["first"]);
        Assert.Equal(verb + ".ack_ids", error.Details["field"]);
        await stream.BarrierAsync();
        if (verb == "nack")
        {
            Assert.Equal(2, (await stream.NextEventAsync("s")).DeliveryAttempt);
        }
        else if (verb == "terminate")
        {
            var list = await DeadLetterClient.For(gateway).ListDeadLettersAsync(new ListDeadLettersRequest(),
                GatewayFixture.Auth(gateway.Keys.Subscriber));
            Assert.Equal(1, list.Total);
        }
    }

    [Fact]
    public async Task Terminate_AnotherStreamsAckId_ErrorUnknownAckIdAndEventStaysInFlight()
    {
        await using var gateway = await StartAsync();
        using var owner = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        using var other = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        await owner.SubscribeAsync("s", "foreign-t");
        await other.SubscribeAsync("s", "other-topic-" + Guid.NewGuid().ToString("N"));
        await PublishAsync(gateway, "foreign-t");
        var delivered = await owner.NextEventAsync("s");

        await other.TerminateAsync("s", delivered.AckId, "not mine");
        var error = await other.NextErrorAsync();

        Assert.Equal(ErrorCode.ErrorUnknownAckId, error.Code);
        await other.BarrierAsync();
        var list = await DeadLetterClient.For(gateway).ListDeadLettersAsync(new ListDeadLettersRequest(),
            GatewayFixture.Auth(gateway.Keys.Subscriber));
        Assert.Empty(list.DeadLetters);
        // Still the owner's: its ack timer brings it back.
        var again = await owner.NextEventAsync("s");
        Assert.Equal(delivered.AckId, again.AckId);
    }

    [Theory]
    [InlineData("nack")]
    [InlineData("terminate")]
    public async Task SettleVerb_ReasonOverOneKiB_ErrorInvalidRequestAndNothingChanged(string verb)
    {
        await using var gateway = await StartAsync();
        using var stream = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        await stream.SubscribeAsync("s", "long-t");
        await PublishAsync(gateway, "long-t");
        var delivered = await stream.NextEventAsync("s");
        // 1 KiB of UTF-8 is the most a reason may be: one byte more.
        var reason = new string('r', 1025);

        await stream.WriteAsync(new ClientMessage { Ack = Verb(verb, "s", [delivered.AckId], reason) });
        var error = await stream.NextErrorAsync();

        Assert.Equal(ErrorCode.ErrorInvalidRequest, error.Code);
        Assert.Equal(verb + ".reason", error.Details["field"]);
        Assert.Equal("1024", error.Details["max_bytes"]);
        // Nothing changed: the event is still in flight and a terminate with a reason of exactly 1 KiB works.
        await stream.TerminateAsync("s", delivered.AckId, new string('r', 1024));
        await stream.BarrierAsync();
        var list = await DeadLetterClient.For(gateway).ListDeadLettersAsync(new ListDeadLettersRequest(),
            GatewayFixture.Auth(gateway.Keys.Subscriber));
        Assert.Equal(1024, Assert.Single(list.DeadLetters).Reason.Length);
    }

    private static AckMessage Verb(string verb, string subscription, string[] ids, string reason = "")
    {
        var ack = new AckMessage { SubscriptionId = subscription };
        switch (verb)
        {
            case "nack":
                ack.Nack = new Nack { AckIds = { ids }, Reason = reason };
                break;
            case "terminate":
                ack.Terminate = new Terminate { AckIds = { ids }, Reason = reason };
                break;
            default:
                ack.Extend = new Extend { AckIds = { ids }, ExtendMs = 1000 };
                break;
        }

        return ack;
    }
}
