using System.Text.Json;
using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.Cli.Tests;

/// <summary><c>durables list|delete</c> against a gateway holding a durable subscription made over a real
/// stream.</summary>
public sealed class DurableCommandTests : CliTestBase
{
    private const string Topic = "durable-cli";

    /// <summary>Makes durable <paramref name="name"/> of the subscriber key with one unacknowledged event; the stream
    /// is returned (holding it) or, with <paramref name="release"/>, ended and the durable seen unheld.</summary>
    private async Task<AsyncDuplexStreamingCall<ClientMessage, ServerMessage>?> MakeAsync(string name, bool release)
    {
        var call = Gateway.Streams.StreamEvents(GatewayFixture.Auth(Gateway.Keys.Subscriber));
        var subscribe = Streams.Subscribe("s1", Topic);
        subscribe.Subscribe.DurableName = name;
        await call.RequestStream.WriteAsync(subscribe);
        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        await Gateway.Publisher.PublishAsync(new PublishRequest { Event = Streams.Event(Topic) },
            GatewayFixture.Auth(Gateway.Keys.Publisher));
        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);
        if (!release)
        {
            return call;
        }

        call.Dispose();
        var deadline = DateTime.UtcNow + GatewayFixture.Timeout;
        while ((await ListAsync()).Durables.Any(d => d.Name == name && d.Members > 0))
        {
            Assert.True(DateTime.UtcNow < deadline, "the durable was not released in time");
            // Polling interval of the condition, not a wait for it.
            await Task.Delay(10);
        }

        return null;
    }

    private async Task<ListDurablesResponse> ListAsync() =>
        await new DurableService.DurableServiceClient(Gateway.Channel).ListDurablesAsync(
            new ListDurablesRequest(), GatewayFixture.Auth(Gateway.Keys.Subscriber));

    [Fact]
    public async Task List_OneDurable_TableWithPositionsAndCount()
    {
        using var call = await MakeAsync("cli-listed", release: false);

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "durables", "list");

        Assert.Equal(0, result.ExitCode);
        var row = Assert.Single(result.Out.Split('\n'), l => l.Contains("cli-listed", StringComparison.Ordinal));
        Assert.Contains($"{Topic} 0/1", row, StringComparison.Ordinal);
        Assert.Contains("(held)", row, StringComparison.Ordinal);
        Assert.Contains("1 durable subscriptions", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_Json_OneObjectADurable()
    {
        await MakeAsync("cli-json", release: true);

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "durables", "list", "--json");

        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.Out.Trim());
        Assert.Equal("cli-json", json.RootElement.GetProperty("name").GetString());
        Assert.Equal(1, json.RootElement.GetProperty("pending").GetInt32());
        Assert.True(json.RootElement.TryGetProperty("expires_at", out _));
    }

    [Fact]
    public async Task List_AnotherKey_NoneShown()
    {
        await MakeAsync("cli-private", release: true);

        var result = await Cli.RunAsync(Gateway.Keys.User, "durables", "list");

        Assert.Equal(0, result.ExitCode);
        Assert.DoesNotContain("cli-private", result.Out, StringComparison.Ordinal);
        Assert.Contains("0 durable subscriptions", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_WithoutYes_SaysWhatAndChangesNothing()
    {
        await MakeAsync("cli-dry", release: true);

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "durables", "delete", "cli-dry");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("would delete durable subscription 'cli-dry' of key 'test-subscriber'", result.Out,
            StringComparison.Ordinal);
        Assert.Contains("1 unacknowledged events", result.Out, StringComparison.Ordinal);
        Assert.Contains("nothing deleted: run again with --yes to go on", result.Out, StringComparison.Ordinal);
        Assert.Contains((await ListAsync()).Durables, d => d.Name == "cli-dry");
    }

    [Fact]
    public async Task Delete_WithYes_Deleted()
    {
        await MakeAsync("cli-gone", release: true);

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "durables", "delete", "cli-gone", "--yes");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("deleted durable subscription 'cli-gone' of key 'test-subscriber'", result.Out,
            StringComparison.Ordinal);
        Assert.DoesNotContain((await ListAsync()).Durables, d => d.Name == "cli-gone");
    }

    [Fact]
    public async Task Delete_WhileHeld_OneLineExitOneAndKept()
    {
        using var call = await MakeAsync("cli-held", release: false);

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "durables", "delete", "cli-held", "--yes");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("marie-events: durable subscription 'cli-held' is held by a stream: end it (or unsubscribe) first",
            Assert.Single(result.ErrorLines));
        Assert.Contains((await ListAsync()).Durables, d => d.Name == "cli-held");
    }

    [Fact]
    public async Task Delete_AnotherKeysDurable_NotFoundAndKept()
    {
        await MakeAsync("cli-theirs", release: true);

        var result = await Cli.RunAsync(Gateway.Keys.User, "durables", "delete", "cli-theirs", "--yes");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("marie-events: no durable subscription 'cli-theirs' for this key (see 'durables list')",
            Assert.Single(result.ErrorLines));
        Assert.Contains((await ListAsync()).Durables, d => d.Name == "cli-theirs");
    }

    [Fact]
    public async Task Subscribe_DurableCountTwoTwice_SecondRunShowsTheNextTwoThenListed()
    {
        for (var i = 0; i < 4; i++)
        {
            await Gateway.Publisher.PublishAsync(new PublishRequest { Event = Streams.Event("durable-tail") },
                GatewayFixture.Auth(Gateway.Keys.Publisher));
        }

        var first = await Cli.RunAsync(Gateway.Keys.Subscriber, "subscribe", "--topics", "durable-tail",
            "--durable", "cli-tail", "--from-seq", "0", "--count", "2");
        var second = await Cli.RunAsync(Gateway.Keys.Subscriber, "subscribe", "--topics", "durable-tail",
            "--durable", "cli-tail", "--count", "2");
        var listed = await Cli.RunAsync(Gateway.Keys.Subscriber, "durables", "list");

        Assert.Equal((0, 0), (first.ExitCode, second.ExitCode));
        Assert.Equal(["#1", "#2"], first.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l[..2]));
        Assert.Equal(["#3", "#4"], second.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l[..2]));
        Assert.StartsWith("subscribed to durable-tail as durable cli-tail (head 4)", first.Error,
            StringComparison.Ordinal);
        Assert.Contains("durable-tail 4/4", listed.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Subscribe_GroupWithoutDurable_OneLineExitTwo()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "subscribe", "--group", "pool", "--count", "1");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("marie-events: --group needs --durable (a consumer group shares a durable subscription)",
            Assert.Single(result.ErrorLines));
    }

    [Fact]
    public async Task Subscribe_DurableHeldByAnotherStream_ConflictExitOne()
    {
        using var call = await MakeAsync("cli-busy", release: false);

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "subscribe", "--topics", Topic,
            "--durable", "cli-busy", "--count", "1");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("marie-events: gateway: ERROR_DURABLE_CONFLICT", result.ErrorLines[^1],
            StringComparison.Ordinal);
    }
}
