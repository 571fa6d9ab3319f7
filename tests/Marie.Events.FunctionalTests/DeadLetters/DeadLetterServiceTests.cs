using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.DeadLetters;

/// <summary><c>marieai.events.DeadLetterService</c> over real streams: list, get, replay, purge, per key.</summary>
public sealed class DeadLetterServiceTests
{
    private static Task<GatewayFixture> StartAsync() =>
        GatewayFixture.StartAsync(s =>
        {
            // Long: these tests settle by terminate, and no ack timeout should interfere.
            s.Config["toast:grpc:broker:ack_timeout_s"] = "30";
        });

    /// <summary>Publishes <paramref name="count"/> events to <paramref name="topic"/> and terminates each on
    /// subscription <paramref name="subscription"/> of <paramref name="stream"/>.</summary>
    private static async Task<List<string>> DeadLetterAsync(GatewayFixture gateway, SettleStream stream,
        string subscription, string topic, int count, string reason = "bad")
    {
        var ids = new List<string>();
        for (var i = 0; i < count; i++)
        {
            ids.Add((await SettleVerbStreamTests.PublishAsync(gateway, topic)).Id);
            var delivered = await stream.NextEventAsync(subscription);
            await stream.TerminateAsync(subscription, delivered.AckId, reason);
        }

        await stream.BarrierAsync();
        return ids;
    }

    [Fact]
    public async Task ListDeadLetters_PagesAndFilters_OldestFirstWithTotals()
    {
        await using var gateway = await StartAsync();
        var client = DeadLetterClient.For(gateway);
        using var stream = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        await stream.SubscribeAsync("a", "dl-a");
        await stream.SubscribeAsync("b", "dl-b");
        var aIds = await DeadLetterAsync(gateway, stream, "a", "dl-a", 3);
        await DeadLetterAsync(gateway, stream, "b", "dl-b", 1);
        var auth = GatewayFixture.Auth(gateway.Keys.Subscriber);

        var first = await client.ListDeadLettersAsync(new ListDeadLettersRequest { PageSize = 2 }, auth);
        var second = await client.ListDeadLettersAsync(
            new ListDeadLettersRequest { PageSize = 2, PageToken = first.NextPageToken }, auth);
        var byTopic = await client.ListDeadLettersAsync(
            new ListDeadLettersRequest { Filter = new DeadLetterFilter { Topic = "dl-a" } }, auth);
        var bySubscription = await client.ListDeadLettersAsync(
            new ListDeadLettersRequest { Filter = new DeadLetterFilter { Subscription = "b" } }, auth);
        var byReason = await client.ListDeadLettersAsync(
            new ListDeadLettersRequest { Filter = new DeadLetterFilter { ReasonCode = "max_attempts" } }, auth);

        Assert.Equal(4, first.Total);
        Assert.Equal(2, first.DeadLetters.Count);
        Assert.NotEmpty(first.NextPageToken);
        Assert.Equal(2, second.DeadLetters.Count);
        Assert.Empty(second.NextPageToken);
        Assert.Equal(aIds, byTopic.DeadLetters.Select(d => d.Event.Id));
        Assert.Equal("dl-b", Assert.Single(bySubscription.DeadLetters).Topic);
        Assert.Equal(0, byReason.Total);
    }

    [Fact]
    public async Task ListDeadLetters_BadReasonCode_InvalidArgument()
    {
        await using var gateway = await StartAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(() => DeadLetterClient.For(gateway).ListDeadLettersAsync(
            new ListDeadLettersRequest { Filter = new DeadLetterFilter { ReasonCode = "expired" } },
            GatewayFixture.Auth(gateway.Keys.Subscriber)).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("reason_code", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetDeadLetter_KnownAndUnknownId_LetterAndNotFound()
    {
        await using var gateway = await StartAsync();
        var client = DeadLetterClient.For(gateway);
        using var stream = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        await stream.SubscribeAsync("a", "dl-get");
        var eventIds = await DeadLetterAsync(gateway, stream, "a", "dl-get", 1, reason: "schema v3 unsupported");
        var auth = GatewayFixture.Auth(gateway.Keys.Subscriber);
        var listed = Assert.Single((await client.ListDeadLettersAsync(new ListDeadLettersRequest(), auth))
            .DeadLetters);

        var letter = await client.GetDeadLetterAsync(new GetDeadLetterRequest { Id = listed.Id }, auth);
        var missing = await Assert.ThrowsAsync<RpcException>(() => client.GetDeadLetterAsync(
            new GetDeadLetterRequest { Id = "no-such-letter" }, GatewayFixture.Auth(gateway.Keys.Subscriber))
            .ResponseAsync);

        Assert.Equal(eventIds[0], letter.Event.Id);
        Assert.Equal("schema v3 unsupported", letter.Reason);
        Assert.Equal("test-subscriber", letter.Key);
        Assert.Equal(1, letter.DeadLetterCount);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task ReplayDeadLetters_DryRunThenReplay_OnlyFailingSubscriptionReceivesIt()
    {
        await using var gateway = await StartAsync();
        var client = DeadLetterClient.For(gateway);
        using var failing = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        using var bystander = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        await failing.SubscribeAsync("worker", "dl-replay");
        await bystander.SubscribeAsync("audit", "dl-replay");
        var eventIds = await DeadLetterAsync(gateway, failing, "worker", "dl-replay", 2);
        // The bystander got both events too, and acks them.
        for (var i = 0; i < 2; i++)
        {
            await bystander.AckAsync("audit", (await bystander.NextEventAsync("audit")).AckId);
        }

        var auth = GatewayFixture.Auth(gateway.Keys.Subscriber);
        var dry = await client.ReplayDeadLettersAsync(new ReplayDeadLettersRequest { DryRun = true }, auth);
        var stillThere = await client.ListDeadLettersAsync(new ListDeadLettersRequest(), auth);
        var replay = await client.ReplayDeadLettersAsync(new ReplayDeadLettersRequest(),
            GatewayFixture.Auth(gateway.Keys.Subscriber));
        var first = await failing.NextEventAsync("worker");
        var second = await failing.NextEventAsync("worker");
        // A marker after the replay: the bystander's next event is the marker, not a replayed one.
        var marker = await SettleVerbStreamTests.PublishAsync(gateway, "dl-replay");

        Assert.True(dry.DryRun);
        Assert.Equal(2, dry.Matched);
        Assert.Equal(2, dry.Selected);
        Assert.Equal(0, dry.Replayed);
        Assert.Equal(2, stillThere.Total);
        Assert.Equal(2, replay.Replayed);
        Assert.Empty(replay.Failures);
        Assert.Equal(eventIds, new[] { first.Event.Id, second.Event.Id });
        Assert.Equal(marker.Id, (await bystander.NextEventAsync("audit")).Event.Id);
        Assert.Equal(marker.Id, (await failing.NextEventAsync("worker")).Event.Id);
        Assert.Equal(0, (await client.ListDeadLettersAsync(new ListDeadLettersRequest(),
            GatewayFixture.Auth(gateway.Keys.Subscriber))).Total);
    }

    [Fact]
    public async Task ReplayDeadLetters_FailsAgain_DeadLetteredAgainWithCountAndHistory()
    {
        await using var gateway = await StartAsync();
        var client = DeadLetterClient.For(gateway);
        using var stream = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        await stream.SubscribeAsync("w", "dl-again");
        await DeadLetterAsync(gateway, stream, "w", "dl-again", 1, reason: "first");
        var auth = GatewayFixture.Auth(gateway.Keys.Subscriber);
        var before = Assert.Single((await client.ListDeadLettersAsync(new ListDeadLettersRequest(), auth))
            .DeadLetters);

        await client.ReplayDeadLettersAsync(new ReplayDeadLettersRequest(),
            GatewayFixture.Auth(gateway.Keys.Subscriber));
        var replayed = await stream.NextEventAsync("w");
        await stream.TerminateAsync("w", replayed.AckId, "second");
        await stream.BarrierAsync();
        var after = await client.GetDeadLetterAsync(new GetDeadLetterRequest { Id = before.Id },
            GatewayFixture.Auth(gateway.Keys.Subscriber));

        Assert.Equal(before.Event.Id, replayed.Event.Id);
        Assert.Equal(2, after.DeadLetterCount);
        Assert.Equal("second", after.Reason);
        Assert.Equal("first", Assert.Single(after.History).Reason);
    }

    [Fact]
    public async Task ReplayDeadLetters_SubscriptionGone_FailureCodeAndLetterKept()
    {
        await using var gateway = await StartAsync();
        var client = DeadLetterClient.For(gateway);
        using (var stream = SettleStream.Open(gateway, gateway.Keys.Subscriber))
        {
            await stream.SubscribeAsync("w", "dl-gone");
            await DeadLetterAsync(gateway, stream, "w", "dl-gone", 1);
            await stream.WriteAsync(new ClientMessage
            {
                Unsubscribe = new UnsubscribeRequest { SubscriptionId = "w" },
            });
            await stream.BarrierAsync();
        }

        var replay = await client.ReplayDeadLettersAsync(new ReplayDeadLettersRequest(),
            GatewayFixture.Auth(gateway.Keys.Subscriber));

        Assert.Equal(0, replay.Replayed);
        Assert.Equal("subscription_gone", Assert.Single(replay.Failures).Code);
        Assert.Equal(1, (await client.ListDeadLettersAsync(new ListDeadLettersRequest(),
            GatewayFixture.Auth(gateway.Keys.Subscriber))).Total);
    }

    [Fact]
    public async Task ReplayDeadLetters_UnknownIds_NothingMatchedAndOthersUntouched()
    {
        await using var gateway = await StartAsync();
        var client = DeadLetterClient.For(gateway);
        using var stream = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        await stream.SubscribeAsync("w", "dl-unknown");
        await DeadLetterAsync(gateway, stream, "w", "dl-unknown", 1);

        var replay = await client.ReplayDeadLettersAsync(
            new ReplayDeadLettersRequest { Filter = new DeadLetterFilter { Ids = { "no-such-letter" } } },
            GatewayFixture.Auth(gateway.Keys.Subscriber));

        Assert.Equal(0, replay.Matched);
        Assert.Equal(0, replay.Replayed);
        Assert.Empty(replay.Failures);
        Assert.Equal(1, (await client.ListDeadLettersAsync(new ListDeadLettersRequest(),
            GatewayFixture.Auth(gateway.Keys.Subscriber))).Total);
    }

    [Fact]
    public async Task PurgeDeadLetters_DryRunThenPurge_CountsThenRemovesOnlyMatching()
    {
        await using var gateway = await StartAsync();
        var client = DeadLetterClient.For(gateway);
        using var stream = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        await stream.SubscribeAsync("a", "dl-pa");
        await stream.SubscribeAsync("b", "dl-pb");
        await DeadLetterAsync(gateway, stream, "a", "dl-pa", 2);
        await DeadLetterAsync(gateway, stream, "b", "dl-pb", 1);
        var filter = new DeadLetterFilter { Topic = "dl-pa" };

        var dry = await client.PurgeDeadLettersAsync(new PurgeDeadLettersRequest { Filter = filter, DryRun = true },
            GatewayFixture.Auth(gateway.Keys.Subscriber));
        var purge = await client.PurgeDeadLettersAsync(new PurgeDeadLettersRequest { Filter = filter },
            GatewayFixture.Auth(gateway.Keys.Subscriber));
        var left = await client.ListDeadLettersAsync(new ListDeadLettersRequest(),
            GatewayFixture.Auth(gateway.Keys.Subscriber));

        Assert.True(dry.DryRun);
        Assert.Equal(2, dry.Purged);
        Assert.Equal(2, purge.Purged);
        Assert.Equal("dl-pb", Assert.Single(left.DeadLetters).Topic);
    }

    [Fact]
    public async Task DeadLetterService_TwoKeys_EachSeesOnlyItsOwn()
    {
        await using var gateway = await StartAsync();
        var client = DeadLetterClient.For(gateway);
        using var subscriber = SettleStream.Open(gateway, gateway.Keys.Subscriber);
        using var user = SettleStream.Open(gateway, gateway.Keys.User);
        await subscriber.SubscribeAsync("s", "dl-keys");
        await user.SubscribeAsync("s", "dl-keys");
        await SettleVerbStreamTests.PublishAsync(gateway, "dl-keys");
        await subscriber.TerminateAsync("s", (await subscriber.NextEventAsync("s")).AckId, "subscriber's");
        await user.AckAsync("s", (await user.NextEventAsync("s")).AckId);
        await subscriber.BarrierAsync();
        await user.BarrierAsync();

        var mine = await client.ListDeadLettersAsync(new ListDeadLettersRequest(),
            GatewayFixture.Auth(gateway.Keys.Subscriber));
        var theirs = await client.ListDeadLettersAsync(new ListDeadLettersRequest(),
            GatewayFixture.Auth(gateway.Keys.User));
        var getForeign = await Assert.ThrowsAsync<RpcException>(() => client.GetDeadLetterAsync(
            new GetDeadLetterRequest { Id = mine.DeadLetters[0].Id }, GatewayFixture.Auth(gateway.Keys.User))
            .ResponseAsync);
        var nameOther = await Assert.ThrowsAsync<RpcException>(() => client.ListDeadLettersAsync(
            new ListDeadLettersRequest { Key = "test-subscriber" }, GatewayFixture.Auth(gateway.Keys.User))
            .ResponseAsync);
        var purgeForeign = await client.PurgeDeadLettersAsync(new PurgeDeadLettersRequest(),
            GatewayFixture.Auth(gateway.Keys.User));
        var asAdmin = await client.ListDeadLettersAsync(new ListDeadLettersRequest { Key = "test-subscriber" },
            GatewayFixture.Auth(gateway.Keys.Admin));

        Assert.Equal(1, mine.Total);
        Assert.Equal(0, theirs.Total);
        Assert.Equal(StatusCode.NotFound, getForeign.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, nameOther.StatusCode);
        Assert.Equal(0, purgeForeign.Purged);
        Assert.Equal(1, asAdmin.Total);
    }
}
