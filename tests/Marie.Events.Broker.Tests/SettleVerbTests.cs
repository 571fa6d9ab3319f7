using Marie.Events.Broker.Connections;
using Marie.Events.Broker.DeadLetters;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>Nack, terminate and extend on fake time. Unless a test says otherwise: ack timeout 10 s, a redelivery
/// check every second, max_ack_extension_s 60, five attempts.</summary>
public sealed class SettleVerbTests
{
    private static TestBroker NewBroker(Action<BrokerOptions>? more = null) => new(o =>
    {
        o.AckTimeoutSeconds = 10;
        o.RedeliveryDelaySeconds = 1;
        o.MaxAckExtensionSeconds = 60;
        more?.Invoke(o);
    });

    private static async Task<(BrokerConnection Connection, EventEnvelope First)> DeliverOneAsync(TestBroker t,
        SubscribeRequest? request = null)
    {
        var connection = await t.ConnectAndSubscribeAsync(request ?? Msg.Sub("s1", "a"));
        t.Publish("a");
        return (connection, Assert.Single(connection.All().Events()));
    }

    [Fact]
    public async Task Nack_DelayZero_RedeliveredAtOnceWithNextAttempt()
    {
        using var t = NewBroker();
        var (connection, first) = await DeliverOneAsync(t);

        var messages = await connection.SendAndDrainAsync(Msg.Nack(0, "retry", first.AckId));

        var again = Assert.Single(messages.Events());
        Assert.Equal(first.AckId, again.AckId);
        Assert.Equal(2, again.DeliveryAttempt);
        Assert.Empty(messages.Errors());
    }

    [Fact]
    public async Task Nack_WithDelay_RedeliveredOnlyAfterTheDelay()
    {
        using var t = NewBroker();
        var (connection, first) = await DeliverOneAsync(t);
        Assert.Empty(await connection.SendAndDrainAsync(Msg.Nack(3000, "", first.AckId)));

        t.AdvanceSeconds(2.9);
        Assert.Empty(connection.All().Events());
        t.AdvanceSeconds(0.2);

        var again = Assert.Single(connection.All().Events());
        Assert.Equal(2, again.DeliveryAttempt);
    }

    [Fact]
    public async Task Nack_OnLastAttempt_DeadLetteredWithMaxAttemptsAndTheClientsReason()
    {
        using var t = NewBroker(o => o.MaxRedeliveryAttempts = 2);
        var (connection, first) = await DeliverOneAsync(t);
        await connection.SendAndDrainAsync(Msg.Nack(0, "first try failed", first.AckId));

        var messages = await connection.SendAndDrainAsync(Msg.Nack(0, "parser crashed", first.AckId));

        Assert.Empty(messages.Events());
        var letter = Assert.Single(t.Broker.ListDeadLetters("", DeadLetterQuery.All, null, 10).Items);
        Assert.Equal(DeadLetterReason.MaxAttempts, letter.Last.Reason);
        Assert.Equal("parser crashed", letter.Last.ClientReason);
        Assert.Equal(2, letter.Last.Attempts);
        Assert.Equal(0, t.Stats().InFlightEvents);
    }

    [Fact]
    public async Task Terminate_InFlightEvent_DeadLetteredNowWithWholeEventAndRoomFreed()
    {
        using var t = NewBroker(o => o.MaxInFlight = 1);
        var (connection, first) = await DeliverOneAsync(t);
        t.Publish("a");
        Assert.Empty(connection.All().Events());

        var messages = await connection.SendAndDrainAsync(Msg.Terminate("bad document", first.AckId));

        // The freed room lets the waiting event through.
        Assert.Equal([2L], messages.Events().Seqs());
        var letter = Assert.Single(t.Broker.ListDeadLetters("", DeadLetterQuery.All, null, 10).Items);
        Assert.Equal(DeadLetterReason.Terminated, letter.Last.Reason);
        Assert.Equal("bad document", letter.Last.ClientReason);
        Assert.Equal(first.Event, letter.Event);
        Assert.Equal("a", letter.Topic);
        Assert.Equal(1, letter.Sequence);
        Assert.Equal("s1", letter.Subscription.SubscriptionId);
        Assert.Equal(first.PublishedAt.ToDateTimeOffset(), letter.PublishedAt);
    }

    [Fact]
    public async Task Extend_BeforeAckTimeout_RedeliveryWaitsForTheExtension()
    {
        using var t = NewBroker();
        var (connection, first) = await DeliverOneAsync(t);
        t.AdvanceSeconds(8);

        Assert.Empty(await connection.SendAndDrainAsync(Msg.Extend(30_000, first.AckId)));
        t.AdvanceSeconds(29.5);
        Assert.Empty(connection.All().Events());
        t.AdvanceSeconds(1);

        Assert.Equal(2, Assert.Single(connection.All().Events()).DeliveryAttempt);
    }

    [Fact]
    public async Task Extend_ZeroMs_RestartsTheUsualWait()
    {
        using var t = NewBroker();
        var (connection, first) = await DeliverOneAsync(t);
        t.AdvanceSeconds(8);

        await connection.SendAndDrainAsync(Msg.Extend(0, first.AckId));
        t.AdvanceSeconds(9.5);
        Assert.Empty(connection.All().Events());
        t.AdvanceSeconds(1);

        Assert.Single(connection.All().Events());
    }

    [Fact]
    public async Task Extend_PastTheMaximum_ErrorAckExtensionLimitAndNothingExtended()
    {
        using var t = NewBroker();
        var (connection, first) = await DeliverOneAsync(t);

        var error = Assert.Single((await connection.SendAndDrainAsync(Msg.Extend(60_001, first.AckId))).Errors());

        Assert.Equal(ErrorCode.ErrorAckExtensionLimit, error.Code);
        Assert.Equal("extend.extend_ms", error.Details["field"]);
        Assert.Equal("60000", error.Details["max_ms"]);
        t.AdvanceSeconds(10.5);
        Assert.Single(connection.All().Events());
    }

    [Fact]
    public async Task Nack_DelayPastTheMaximum_ErrorAckExtensionLimit()
    {
        using var t = NewBroker();
        var (connection, first) = await DeliverOneAsync(t);

        var error = Assert.Single((await connection.SendAndDrainAsync(Msg.Nack(61_000, "", first.AckId))).Errors());

        Assert.Equal(ErrorCode.ErrorAckExtensionLimit, error.Code);
        Assert.Equal("nack.delay_ms", error.Details["field"]);
    }

    [Theory]
    [InlineData("nack")]
    [InlineData("terminate")]
    [InlineData("extend")]
    public async Task Verb_UnknownAndForeignAckIds_ErrorUnknownAckIdAndTheOthersSettled(string verb)
    {
        using var t = NewBroker();
        var other = await t.ConnectAndSubscribeAsync(Msg.Sub("s2", "a"));
        var (connection, first) = await DeliverOneAsync(t);
        var foreign = Assert.Single(other.All().Events());
        string[] ids = [first.AckId, foreign.AckId, "not-an-ack-id"];
        var message = verb switch
        {
            "nack" => Msg.Nack(5000, "", ids),
            "terminate" => Msg.Terminate("", ids),
            _ => Msg.Extend(5000, ids),
        };

        var error = Assert.Single((await connection.SendAndDrainAsync(message)).Errors());

        Assert.Equal(ErrorCode.ErrorUnknownAckId, error.Code);
        Assert.Equal("2", error.Details["unknown"]);
        Assert.Equal(foreign.AckId, error.Details["first"]);
        Assert.Equal(verb + ".ack_ids", error.Details["field"]);
        // The foreign stream's event is untouched, and this stream still works.
        Assert.Empty(t.Broker.ListDeadLetters("", new DeadLetterQuery(Subscription: "s2"), null, 10).Items);
        Assert.Equal(verb == "terminate" ? 1 : 2, (int)t.Stats().InFlightEvents);
        Assert.Empty((await connection.SendAndDrainAsync(Msg.Ack("", first.AckId))).Errors());
    }

    [Fact]
    public async Task Nack_ReasonOver1KiB_ErrorInvalidRequestAndTheStreamStaysUp()
    {
        using var t = NewBroker();
        var (connection, first) = await DeliverOneAsync(t);

        // 513 two-byte characters: 1026 bytes of UTF-8, fewer than 1024 characters.
        var error = Assert.Single(
            (await connection.SendAndDrainAsync(Msg.Nack(0, new string('é', 513), first.AckId))).Errors());

        Assert.Equal(ErrorCode.ErrorInvalidRequest, error.Code);
        Assert.Equal("nack.reason", error.Details["field"]);
        Assert.Equal("1024", error.Details["max_bytes"]);
        var ok = await connection.SendAndDrainAsync(Msg.Terminate(new string('é', 512), first.AckId));
        Assert.Empty(ok.Errors());
        Assert.Single(t.Broker.ListDeadLetters("", DeadLetterQuery.All, null, 10).Items);
    }

    [Fact]
    public async Task Nack_NegativeDelay_ErrorInvalidRequest()
    {
        using var t = NewBroker();
        var (connection, first) = await DeliverOneAsync(t);

        var error = Assert.Single((await connection.SendAndDrainAsync(Msg.Nack(-1, "", first.AckId))).Errors());

        Assert.Equal(ErrorCode.ErrorInvalidRequest, error.Code);
        Assert.Equal("nack.delay_ms", error.Details["field"]);
    }
}
