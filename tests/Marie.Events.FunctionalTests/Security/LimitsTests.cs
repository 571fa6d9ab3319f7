using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.FunctionalTests.Security;

/// <summary>gateway.limits.*: over a limit, ERROR_RATE_LIMITED on the stream (which stays usable) or
/// RESOURCE_EXHAUSTED for the call, each naming the limit.</summary>
public sealed class LimitsTests
{
    private static Task<GatewayFixture> StartAsync(params (string Key, string Value)[] limits) =>
        GatewayFixture.StartAsync(s =>
        {
            foreach (var (key, value) in limits)
            {
                s.Config[$"gateway:limits:{key}"] = value;
            }
        });

    private static void AssertLimit(ServerMessage answer, string limit)
    {
        Assert.Equal(ErrorCode.ErrorRateLimited, answer.Error.Code);
        Assert.Equal(limit, answer.Error.Details["limit"]);
        Assert.Contains(limit, answer.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamEvents_OverStreamsPerKey_ResourceExhaustedNamingTheLimit()
    {
        await using var gateway = await StartAsync(("max_streams_per_key", "2"));
        using var first = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        using var second = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        await SecurityStreams.SubscribeAsync(first, "s", "a");
        await SecurityStreams.SubscribeAsync(second, "s", "a");

        using var third = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        var refused = await Assert.ThrowsAsync<RpcException>(() => third.ResponseStream.MoveNext());
        using var otherKey = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.User));
        var otherKeyAnswer = await SecurityStreams.SubscribeAsync(otherKey, "s", "a");

        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("max_streams_per_key (2)", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(MessageOneofCase.SubscriptionConfirm, otherKeyAnswer.MessageCase);
        await first.RequestStream.CompleteAsync();
        first.Dispose();
        await TenantGateway.WaitForAsync(
            () => gateway.Logs.Entries.Any(e => e.EventId.Id == 1002),
            "the first stream to close");
        using var fourth = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        Assert.Equal(
            MessageOneofCase.SubscriptionConfirm,
            (await SecurityStreams.SubscribeAsync(fourth, "s", "a")).MessageCase);
    }

    [Fact]
    public async Task Subscribe_OverSubscriptionsPerStream_RateLimitedStreamStillUsable()
    {
        await using var gateway = await StartAsync(("max_subscriptions_per_stream", "2"));
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        await SecurityStreams.SubscribeAsync(call, "s1", "a");
        await SecurityStreams.SubscribeAsync(call, "s2", "a");

        var refused = await SecurityStreams.SubscribeAsync(call, "s3", "a");
        await call.RequestStream.WriteAsync(
            new ClientMessage { Unsubscribe = new UnsubscribeRequest { SubscriptionId = "s1" } });
        var accepted = await SecurityStreams.SubscribeAsync(call, "s3", "a");

        AssertLimit(refused, "max_subscriptions_per_stream");
        Assert.Equal(MessageOneofCase.SubscriptionConfirm, accepted.MessageCase);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Subscribe_ThousandsOfTopics_RateLimitedAndNoTopicCreated()
    {
        await using var gateway = await StartAsync();
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        var request = new SubscribeRequest { SubscriptionId = "many" };
        request.Topics.AddRange(Enumerable.Range(0, 5000).Select(i => $"topic-{i}"));

        var refused = await SecurityStreams.SubscribeAsync(call, request);
        using var stats = await gateway.GetStatsAsync(gateway.Keys.Admin);

        AssertLimit(refused, "max_topics_per_subscription");
        Assert.Contains("\"topics\":0", await stats.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Subscribe_FilterEntriesIdAndStringLengths_EachRateLimitedNamingItsLimit()
    {
        await using var gateway = await StartAsync(
            ("max_filter_entries", "3"),
            ("max_id_length", "16"),
            ("max_string_length", "32"));
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        var filters = new SubscribeRequest
        {
            SubscriptionId = "f",
            Topics = { "a" },
            Filter = new FilterConfig { Jobids = { "1", "2", "3", "4" } },
        };
        var longId = new SubscribeRequest { SubscriptionId = new string('i', 17), Topics = { "a" } };
        var longTopic = new SubscribeRequest { SubscriptionId = "t", Topics = { new string('t', 33) } };

        var tooManyFilters = await SecurityStreams.SubscribeAsync(call, filters);
        await call.RequestStream.WriteAsync(new ClientMessage { Subscribe = longId });
        var tooLongId = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Error);
        var tooLongTopic = await SecurityStreams.SubscribeAsync(call, longTopic);
        var fine = await SecurityStreams.SubscribeAsync(call, "ok", "a");

        AssertLimit(tooManyFilters, "max_filter_entries");
        AssertLimit(tooLongId, "max_id_length");
        Assert.Equal("", tooLongId.Error.SubscriptionId);
        AssertLimit(tooLongTopic, "max_string_length");
        Assert.Equal(MessageOneofCase.SubscriptionConfirm, fine.MessageCase);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task StreamEvents_MessageFlood_RateLimitedThenUsableAgain()
    {
        await using var gateway = await StartAsync(("client_messages_per_second", "2"), ("client_message_burst", "5"));
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        for (var i = 0; i < 30; i++)
        {
            await call.RequestStream.WriteAsync(
                new ClientMessage { Unsubscribe = new UnsubscribeRequest { SubscriptionId = $"none-{i}" } });
        }

        var answers = new List<ErrorMessage>();
        while (answers.Count < 30)
        {
            answers.Add((await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Error)).Error);
        }

        // Tokens come back at 2 a second: a well-behaved retry is served.
        ServerMessage answer;
        do
        {
            answer = await SecurityStreams.SubscribeAsync(call, "later", "a");
        }
        while (answer.Error?.Code == ErrorCode.ErrorRateLimited);

        var limited = answers.Where(e => e.Code == ErrorCode.ErrorRateLimited).ToList();
        Assert.InRange(answers.Count(e => e.Code == ErrorCode.ErrorInvalidSubscription), 5, 29);
        Assert.NotEmpty(limited);
        Assert.All(limited, e => Assert.Equal("client_messages_per_second", e.Details["limit"]));
        Assert.True(
            int.Parse(limited[0].Details["retry_after_ms"], System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Equal(MessageOneofCase.SubscriptionConfirm, answer.MessageCase);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task StreamEvents_OversizedMessage_ResourceExhausted()
    {
        await using var gateway = await StartAsync(("max_message_bytes", "4096"));
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));

        await call.RequestStream.WriteAsync(new ClientMessage
        {
            Subscribe = new SubscribeRequest { SubscriptionId = "big", Topics = { new string('x', 10_000) } },
        });
        var (end, _) = await SecurityStreams.ReadToEndAsync(call.ResponseStream);
        var publish = await Assert.ThrowsAsync<RpcException>(() => gateway.Publisher.PublishAsync(
            new PublishRequest { Event = new EventData { ApiKey = "a", Jobtag = new string('j', 10_000) } },
            GatewayFixture.Auth(gateway.Keys.Publisher)).ResponseAsync);
        var small = await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("a") },
            GatewayFixture.Auth(gateway.Keys.Publisher));

        Assert.Equal(StatusCode.ResourceExhausted, end?.StatusCode);
        Assert.Equal(StatusCode.ResourceExhausted, publish.StatusCode);
        Assert.Equal(1, small.SequenceNum);
    }

    [Fact]
    public async Task ReplayLimits_ReplayCountRateLimitedMaxEventsResourceExhausted()
    {
        await using var gateway = await StartAsync(("max_replay_count", "10"), ("max_replay_events", "20"));
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));

        var replayCount = await SecurityStreams.SubscribeAsync(
            call,
            new SubscribeRequest { SubscriptionId = "r", Topics = { "a" }, ReplayCount = 11 });
        var maxEvents = await Assert.ThrowsAsync<RpcException>(() => gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = "a", MaxEvents = 21 }, GatewayFixture.Auth(
                gateway.Keys.Subscriber)).ResponseAsync);
        var withinLimit = await gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = "a", MaxEvents = 20 },
            GatewayFixture.Auth(gateway.Keys.Subscriber));

        AssertLimit(replayCount, "max_replay_count");
        Assert.Equal(StatusCode.ResourceExhausted, maxEvents.StatusCode);
        Assert.Contains("max_replay_events (20)", maxEvents.Status.Detail, StringComparison.Ordinal);
        Assert.False(withinLimit.HasMore);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Publish_OverMaxTopics_ResourceExhaustedExistingTopicsStillServed()
    {
        await using var gateway = await StartAsync(("max_topics", "2"));
        var auth = GatewayFixture.Auth(gateway.Keys.Publisher);
        await gateway.Publisher.PublishAsync(new PublishRequest { Event = Streams.Event("a") }, auth);
        await gateway.Publisher.PublishAsync(new PublishRequest { Event = Streams.Event("b") }, auth);

        var refused = await Assert.ThrowsAsync<RpcException>(
            () =>
                gateway.Publisher.PublishAsync(new PublishRequest { Event = Streams.Event("c") }, auth).ResponseAsync);
        var existing = await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("a") },
            GatewayFixture.Auth(gateway.Keys.Publisher));

        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("max_topics (2)", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(2, existing.SequenceNum);
    }

    [Fact]
    public async Task StartAsync_ZeroLimit_FailsNamingTheKey()
    {
        var settings = new GatewaySettings();
        settings.Config["gateway:limits:max_topics"] = "0";
        settings.Config["gateway:limits:max_message_bytes"] = "10";
        await using var app = GatewayFixture.Build(settings);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());

        Assert.Contains(
            "gateway.limits.max_topics must be at least 1 (got 0)",
            error.Message,
            StringComparison.Ordinal);
        Assert.Contains(
            "gateway.limits.max_message_bytes must be at least 1024 (got 10)",
            error.Message,
            StringComparison.Ordinal);
    }
}
