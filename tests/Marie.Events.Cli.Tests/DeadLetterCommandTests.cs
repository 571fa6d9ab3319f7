using System.Text.Json;
using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.Cli.Tests;

/// <summary><c>dead-letters list|show|replay|purge</c> against a gateway holding dead letters made over a real
/// stream (events terminated by a subscriber).</summary>
public sealed class DeadLetterCommandTests : CliTestBase, IDisposable
{
    private AsyncDuplexStreamingCall<ClientMessage, ServerMessage>? _stream;

    /// <summary>Opens a subscriber stream (once) with subscription <paramref name="subscription"/> on
    /// <paramref name="topic"/>, publishes <paramref name="count"/> events and terminates each; returns their event
    /// ids.</summary>
    private async Task<List<string>> DeadLetterAsync(string topic, int count, string reason = "cannot parse",
        string subscription = "worker")
    {
        _stream ??= Gateway.Streams.StreamEvents(new CallOptions(
            new Metadata { { "authorization", $"Bearer {Gateway.Keys.Subscriber}" } }));
        await _stream.RequestStream.WriteAsync(Streams.Subscribe(subscription, topic));
        await Streams.NextAsync(_stream.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        var ids = new List<string>();
        for (var i = 0; i < count; i++)
        {
            ids.Add((await Gateway.Publisher.PublishAsync(new PublishRequest { Event = Streams.Event(topic) },
                GatewayFixture.Auth(Gateway.Keys.Publisher))).Id);
            var delivered = await Streams.NextAsync(_stream.ResponseStream, MessageOneofCase.Event);
            await _stream.RequestStream.WriteAsync(new ClientMessage
            {
                Ack = new AckMessage
                {
                    SubscriptionId = subscription,
                    Terminate = new Terminate { AckIds = { delivered.Event.AckId }, Reason = reason },
                },
            });
        }

        // The stream handles messages in order: a later subscribe's confirm means the terminates were handled.
        var barrier = "barrier-" + Guid.NewGuid().ToString("N");
        await _stream.RequestStream.WriteAsync(Streams.Subscribe(barrier, barrier));
        await Streams.ReadUntilAsync(_stream.ResponseStream, m => m.SubscriptionConfirm?.SubscriptionId == barrier);
        return ids;
    }

    private async Task<int> TotalAsync() =>
        (await new DeadLetterService.DeadLetterServiceClient(Gateway.Channel).ListDeadLettersAsync(
            new ListDeadLettersRequest(), GatewayFixture.Auth(Gateway.Keys.Subscriber))).Total;

    [Fact]
    public async Task List_TwoDeadLetters_TableAndTotal()
    {
        await DeadLetterAsync("dl-cli", 2);

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "dead-letters", "list");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(2, result.Out.Split('\n').Count(l => l.Contains("dl-cli", StringComparison.Ordinal)));
        Assert.Contains("terminated", result.Out, StringComparison.Ordinal);
        Assert.Contains("cannot parse", result.Out, StringComparison.Ordinal);
        Assert.Contains("2 of 2 dead letters", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_PageSizeOne_NextPageTokenThenLastPage()
    {
        await DeadLetterAsync("dl-page", 2);

        var first = await Cli.RunAsync(Gateway.Keys.Subscriber, "dead-letters", "list", "--page-size", "1");
        var token = first.Out.Split("--page-token ")[1].Trim();
        var second = await Cli.RunAsync(Gateway.Keys.Subscriber, "dead-letters", "list", "--page-size", "1",
            "--page-token", token);
        var all = await Cli.RunAsync(Gateway.Keys.Subscriber, "dead-letters", "list", "--page-size", "1", "--all",
            "--json");

        Assert.Contains("1 of 2 dead letters; next page: --page-token", first.Out, StringComparison.Ordinal);
        Assert.Contains("1 of 2 dead letters", second.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("next page", second.Out, StringComparison.Ordinal);
        Assert.Equal(2, all.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task List_Json_OneDeadLetterMessageALine()
    {
        var ids = await DeadLetterAsync("dl-json", 2);

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "dead-letters", "list", "--json", "--topic",
            "dl-json");

        Assert.Equal(0, result.ExitCode);
        var lines = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(ids, lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("event")
            .GetProperty("id").GetString()));
        Assert.Equal("terminated", JsonDocument.Parse(lines[0]).RootElement.GetProperty("reason_code").GetString());
    }

    [Fact]
    public async Task List_UnknownReason_ExitTwoOneLine()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "dead-letters", "list", "--reason", "expired");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("marie-events: --reason must be max_attempts or terminated (got 'expired')",
            Assert.Single(result.ErrorLines));
    }

    [Fact]
    public async Task Show_KnownAndUnknownId_DetailsAndClearError()
    {
        var ids = await DeadLetterAsync("dl-show", 1, reason: "schema v3 unsupported");
        var list = await Cli.RunAsync(Gateway.Keys.Subscriber, "dead-letters", "list", "--json");
        var id = JsonDocument.Parse(list.Out).RootElement.GetProperty("id").GetString()!;

        var shown = await Cli.RunAsync(Gateway.Keys.Subscriber, "dead-letters", "show", id);
        var missing = await Cli.RunAsync(Gateway.Keys.Subscriber, "dead-letters", "show", "no-such-id");

        Assert.Equal(0, shown.ExitCode);
        Assert.Contains($"dead letter {id} (key test-subscriber)", shown.Out, StringComparison.Ordinal);
        Assert.Contains("reason:         terminated: schema v3 unsupported", shown.Out, StringComparison.Ordinal);
        Assert.Contains($"id={ids[0]}", shown.Out, StringComparison.Ordinal);
        Assert.Contains("subscription:   worker (stream", shown.Out, StringComparison.Ordinal);
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal("marie-events: no dead letter 'no-such-id' for this key (see 'dead-letters list')",
            Assert.Single(missing.ErrorLines));
    }

    [Fact]
    public async Task Replay_WithoutYes_DryRunCountAndNothingReplayed()
    {
        await DeadLetterAsync("dl-dry", 2);

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "dead-letters", "replay", "--topic", "dl-dry");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("dry run: 2 of 2 matching dead letters would be replayed (topic dl-dry)", result.Out,
            StringComparison.Ordinal);
        Assert.Contains("nothing replayed: run again with --yes to go on", result.Out, StringComparison.Ordinal);
        Assert.Equal(2, await TotalAsync());
    }

    [Fact]
    public async Task Replay_Yes_SentToTheFailingSubscription()
    {
        var ids = await DeadLetterAsync("dl-yes", 2);

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "dead-letters", "replay", "--yes");
        var first = await Streams.NextAsync(_stream!.ResponseStream, MessageOneofCase.Event);
        var second = await Streams.NextAsync(_stream.ResponseStream, MessageOneofCase.Event);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("dry run: 2 of 2 matching dead letters would be replayed (all)", result.Out,
            StringComparison.Ordinal);
        Assert.Contains("replayed 2 of 2; 0 not replayed", result.Out, StringComparison.Ordinal);
        Assert.Equal(ids, new[] { first.Event.Event.Id, second.Event.Event.Id });
        Assert.Equal("worker", first.Event.SubscriptionId);
        Assert.Equal(0, await TotalAsync());
    }

    [Fact]
    public async Task Replay_SubscriptionGone_ExitOneWithTheFailureCode()
    {
        await DeadLetterAsync("dl-gone", 1);
        await _stream!.RequestStream.WriteAsync(new ClientMessage
        {
            Unsubscribe = new UnsubscribeRequest { SubscriptionId = "worker" },
        });
        await Streams.NextAsync(_stream.ResponseStream, MessageOneofCase.UnsubscriptionConfirm);

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "dead-letters", "replay", "--yes");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("replayed 0 of 1; 1 not replayed", result.Out, StringComparison.Ordinal);
        Assert.Contains(": subscription_gone: ", result.Out, StringComparison.Ordinal);
        Assert.Equal(1, await TotalAsync());
    }

    [Fact]
    public async Task Purge_WithoutYesThenYes_CountsThenRemovesMatching()
    {
        await DeadLetterAsync("dl-purge-a", 2);
        await DeadLetterAsync("dl-purge-b", 1, subscription: "worker-2");

        var dry = await Cli.RunAsync(Gateway.Keys.Subscriber, "dead-letters", "purge", "--topic", "dl-purge-a");
        var afterDry = await TotalAsync();
        var purge = await Cli.RunAsync(Gateway.Keys.Subscriber, "dead-letters", "purge", "--topic", "dl-purge-a",
            "--yes");

        Assert.Equal(0, dry.ExitCode);
        Assert.Contains("dry run: 2 dead letters would be purged (topic dl-purge-a)", dry.Out,
            StringComparison.Ordinal);
        Assert.Contains("nothing purged: run again with --yes to go on", dry.Out, StringComparison.Ordinal);
        Assert.Equal(3, afterDry);
        Assert.Equal(0, purge.ExitCode);
        Assert.Contains("purged 2 dead letters", purge.Out, StringComparison.Ordinal);
        Assert.Equal(1, await TotalAsync());
    }

    [Fact]
    public async Task List_OtherKey_SeesNoneAndMayNotNameAnother()
    {
        await DeadLetterAsync("dl-keys", 1);

        var other = await Cli.RunAsync(Gateway.Keys.User, "dead-letters", "list");
        var naming = await Cli.RunAsync(Gateway.Keys.User, "dead-letters", "list", "--key", "test-subscriber");
        var admin = await Cli.RunAsync(Gateway.Keys.Admin, "dead-letters", "list", "--key", "test-subscriber");

        Assert.Contains("0 of 0 dead letters", other.Out, StringComparison.Ordinal);
        Assert.Equal(1, naming.ExitCode);
        Assert.StartsWith("marie-events: permission denied (PERMISSION_DENIED: ", Assert.Single(naming.ErrorLines),
            StringComparison.Ordinal);
        Assert.Contains("1 of 1 dead letters", admin.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_DeadLetters_ListsTheSubcommandsWithExamples()
    {
        var result = await Cli.RunAsync(null, "dead-letters", "--help");

        Assert.Equal(0, result.ExitCode);
        foreach (var sub in new[] { "list", "show", "replay", "purge" })
        {
            Assert.Contains(sub, result.Out, StringComparison.Ordinal);
        }

        Assert.Contains("marie-events dead-letters replay --subscription worker-1 --yes", result.Out,
            StringComparison.Ordinal);
    }

    public void Dispose() => _stream?.Dispose();
}
