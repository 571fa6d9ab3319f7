using Marie.Events.Broker.Limits;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>Per-client limits: over one, ERROR_RATE_LIMITED naming it, and the stream stays usable.</summary>
public sealed class LimitTests
{
    private static ErrorMessage SingleLimitError(List<ServerMessage> messages, string limit)
    {
        var error = Assert.Single(messages.Errors());
        Assert.Equal(ErrorCode.ErrorRateLimited, error.Code);
        Assert.Equal(limit, error.Details["limit"]);
        Assert.Contains(limit, error.Message, StringComparison.Ordinal);
        return error;
    }

    [Fact]
    public async Task Subscribe_OverSubscriptionsPerStream_RefusedStreamStillUsable()
    {
        using var t = new TestBroker(o => o.Limits.MaxSubscriptionsPerStream = 2);
        var connection = t.Connect();
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        await connection.HandleAsync(Msg.Subscribe("s2", "a"));
        connection.All();

        var refused = await connection.SendAndDrainAsync(Msg.Subscribe("s3", "a"));
        await connection.HandleAsync(Msg.Unsubscribe("s1"));
        var accepted = await connection.SendAndDrainAsync(Msg.Subscribe("s3", "a"));

        var error = SingleLimitError(refused, LimitNames.MaxSubscriptionsPerStream);
        Assert.Equal("2", error.Details["max"]);
        Assert.Equal("s3", error.SubscriptionId);
        Assert.Single(accepted.Confirms());
    }

    [Fact]
    public async Task Subscribe_ThousandsOfTopics_RefusedAndNoTopicCreated()
    {
        using var t = new TestBroker();
        var connection = t.Connect();
        var topics = Enumerable.Range(0, 5000).Select(i => $"t{i}").ToArray();

        var messages = await connection.SendAndDrainAsync(Msg.Subscribe("s1", topics));

        SingleLimitError(messages, LimitNames.MaxTopicsPerSubscription);
        Assert.Equal(0, t.Stats().Topics);
    }

    [Fact]
    public async Task Subscribe_OverMaxTopics_RefusedExistingTopicsStillWork()
    {
        using var t = new TestBroker(o => o.Limits.MaxTopics = 2);
        t.Publish("a");
        var connection = t.Connect();

        var refused = await connection.SendAndDrainAsync(Msg.Subscribe("s1", "b", "c"));
        var accepted = await connection.SendAndDrainAsync(Msg.Subscribe("s1", "a", "b"));

        SingleLimitError(refused, LimitNames.MaxTopics);
        Assert.Single(accepted.Confirms());
        Assert.Throws<BrokerLimitException>(() => t.Publish("c"));
        Assert.Equal(2, t.Stats().Topics);
    }

    [Fact]
    public async Task Subscribe_TooManyFilterEntries_Refused()
    {
        using var t = new TestBroker(o => o.Limits.MaxFilterEntries = 3);
        var connection = t.Connect();
        var request = Msg.Sub("s1", "a");
        request.Events.Add(["x", "y"]);
        request.Filter = Msg.Filter(jobids: ["j1", "j2"]);

        SingleLimitError(await connection.SendAndDrainAsync(Msg.Subscribe(request)), LimitNames.MaxFilterEntries);
        var update = await connection.SendAndDrainAsync(Msg.FilterUpdate(
            "s1",
            Msg.Filter(include: ["a", "b", "c", "d"])));
        SingleLimitError(update, LimitNames.MaxFilterEntries);
    }

    [Fact]
    public async Task Subscribe_LongSubscriptionId_RefusedWithoutEchoingIt()
    {
        using var t = new TestBroker(o => o.Limits.MaxIdLength = 8);
        var connection = t.Connect();

        var error = SingleLimitError(
            await connection.SendAndDrainAsync(Msg.Subscribe(new string('x', 9), "a")),
            LimitNames.MaxIdLength);

        Assert.Equal("", error.SubscriptionId);
    }

    [Fact]
    public async Task Subscribe_LongTopicName_Refused()
    {
        using var t = new TestBroker(o => o.Limits.MaxStringLength = 10);
        var connection = t.Connect();

        SingleLimitError(
            await connection.SendAndDrainAsync(Msg.Subscribe("s1", new string('t', 11))),
            LimitNames.MaxStringLength);
    }

    [Fact]
    public async Task Subscribe_ReplayCountOverLimit_Refused()
    {
        using var t = new TestBroker(o => o.Limits.MaxReplayCount = 10);
        var connection = t.Connect();
        var request = Msg.Sub("s1", "a");
        request.ReplayCount = 11;

        SingleLimitError(await connection.SendAndDrainAsync(Msg.Subscribe(request)), LimitNames.MaxReplayCount);
    }

    [Fact]
    public void GetReplayBuffer_MaxEventsOverLimit_Throws()
    {
        using var t = new TestBroker(o => o.Limits.MaxReplayEvents = 50);

        var error = Assert.Throws<BrokerLimitException>(
            () => t.Broker.GetReplayBuffer(new ReplayRequest { Topic = "a", MaxEvents = 51 }));

        Assert.Equal(LimitNames.MaxReplayEvents, error.Limit);
        Assert.Empty(t.Broker.GetReplayBuffer(new ReplayRequest { Topic = "a", MaxEvents = 50 }).Events);
    }

    [Fact]
    public async Task Ack_TooManyAckIds_Refused()
    {
        using var t = new TestBroker(o => o.Limits.MaxAckIdsPerMessage = 2);
        var connection = t.Connect();

        SingleLimitError(
            await connection.SendAndDrainAsync(Msg.Ack("", "x", "y", "z")),
            LimitNames.MaxAckIdsPerMessage);
    }

    [Fact]
    public async Task HandleAsync_OverMessageRate_RateLimitedUntilTokensRefill()
    {
        using var t = new TestBroker(o =>
        {
            o.Limits.ClientMessagesPerSecond = 10;
            o.Limits.ClientMessageBurst = 3;
        });
        var connection = t.Connect();
        for (var i = 0; i < 3; i++)
        {
            await connection.HandleAsync(Msg.Heartbeat());
        }

        var limited = await connection.SendAndDrainAsync(Msg.Subscribe("s1", "a"));
        t.Time.Advance(TimeSpan.FromMilliseconds(100)); // one token at 10 per second
        var accepted = await connection.SendAndDrainAsync(Msg.Subscribe("s1", "a"));

        var error = SingleLimitError(limited, LimitNames.ClientMessagesPerSecond);
        Assert.Equal("s1", error.SubscriptionId);
        Assert.Equal("100", error.Details["retry_after_ms"]);
        Assert.Single(accepted.Confirms());
    }

    [Fact]
    public async Task HandleAsync_BurstRefillsOnlyUpToCapacity()
    {
        using var t = new TestBroker(o =>
        {
            o.Limits.ClientMessagesPerSecond = 100;
            o.Limits.ClientMessageBurst = 2;
        });
        var connection = t.Connect();
        t.Time.Advance(TimeSpan.FromSeconds(60)); // a long pause does not bank more than the burst

        for (var i = 0; i < 3; i++)
        {
            await connection.HandleAsync(Msg.Unsubscribe($"none-{i}"));
        }

        var errors = connection.All().Errors();
        Assert.Equal(2, errors.Count(e => e.Code == ErrorCode.ErrorInvalidSubscription));
        Assert.Equal(1, errors.Count(e => e.Code == ErrorCode.ErrorRateLimited));
    }

    [Fact]
    public void BrokerOptions_ZeroLimit_InvalidNamingIt()
    {
        var options = new BrokerOptions();
        options.Limits.MaxTopics = 0;

        var error = Assert.Throws<ArgumentException>(() => new GrpcEventBroker(options));

        Assert.Contains("max_topics", error.Message, StringComparison.Ordinal);
    }
}
