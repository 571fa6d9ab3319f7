using System.Text.Json;
using Marie.Events.FunctionalTests.Infrastructure;

namespace Marie.Events.Cli.Tests;

/// <summary><c>marie-events publish</c>: one event from flags, many from a file or standard input.</summary>
public sealed class PublishCommandTests : CliTestBase
{
    [Fact]
    public async Task Publish_Flags_PrintsWhereTheEventWasFiled()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Publisher,
            "publish", "--topic", "tenant-a", "--event", "extract.completed", "--jobid", "job-1", "--status", "OK",
            "--payload", """{"pages": 3}""", "--id", "evt-1");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("published evt-1 to tenant-a as #1", result.Out.Trim());
        var replay = await Gateway.Streams.GetReplayBufferAsync(
            new() { Topic = "tenant-a" },
            GatewayFixture.Auth(Gateway.Keys.Subscriber));
        var evt = Assert.Single(replay.Events).Event;
        Assert.Equal(
            ("extract.completed", "job-1", "OK", 3.0),
            (evt.Event, evt.Jobid, evt.Status, evt.Payload.Fields["pages"].NumberValue));
    }

    [Fact]
    public async Task Publish_AddressAndKeyFromTheEnvironment_Published()
    {
        var cli = new CliRunner();
        cli.Environment["MARIE_EVENTS_ADDRESS"] = $"127.0.0.1:{Gateway.Ports.Grpc}";
        cli.Environment["MARIE_EVENTS_API_KEY"] = Gateway.Keys.Publisher;

        var result = await cli.RunAsync(null, "publish", "--topic", "tenant-env", "--event", "run.success");

        Assert.Equal(0, result.ExitCode);
        Assert.EndsWith("to tenant-env as #1", result.Out.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publish_UnknownKey_OneLineExitOne()
    {
        var result = await Cli.RunAsync(TestKeys.NewKey(), "publish", "--topic", "t", "--event", "e");

        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.ErrorLines);
        Assert.StartsWith(
            "marie-events: the gateway refused the API key (UNAUTHENTICATED",
            line,
            StringComparison.Ordinal);
        Assert.Empty(result.Out);
    }

    [Fact]
    public async Task Publish_SubscriberKey_PermissionDeniedExitOne()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "publish", "--topic", "t", "--event", "e");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith(
            "marie-events: permission denied (PERMISSION_DENIED",
            Assert.Single(result.ErrorLines),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publish_NoKey_OneLineExitTwo()
    {
        var result = await Cli.RunAsync(null, "publish", "--topic", "t", "--event", "e");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal(
            "marie-events: an API key is needed: --api-key KEY or MARIE_EVENTS_API_KEY",
            Assert.Single(result.ErrorLines));
    }

    [Fact]
    public async Task Publish_PayloadNotJson_OneLineExitTwo()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Publisher,
            "publish", "--topic", "t", "--event", "e", "--payload", "{pages");

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith(
            "marie-events: --payload is not a JSON object:",
            Assert.Single(result.ErrorLines),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publish_UnreachableGateway_OneLineExitOne()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Publisher,
            "publish", "--topic", "t", "--event", "e", "--address", $"127.0.0.1:{ClosedPort()}");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith(
            "marie-events: cannot reach the gateway at http://127.0.0.1:",
            Assert.Single(result.ErrorLines),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publish_File_SendsEveryLineInOrderWithASummary()
    {
        var file = Path.Combine(Gateway.StateDir, "events.jsonl");
        var lines = Enumerable.Range(0, 25)
            .Select(i => $$"""{"id": "bulk-{{i}}", "api_key": "tenant-bulk","""
                + $$""" "event": "extract.completed", "jobid": "job-{{i}}"}""");
        await File.WriteAllLinesAsync(file, ["", .. lines, ""]);

        var result = await Cli.RunAsync(Gateway.Keys.Publisher, "publish", "--file", file);

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^sent 25, failed 0 in \d+\.\d\d s \(\d+ events/s\)$", result.Out.Trim());
        var replay = await Gateway.Streams.GetReplayBufferAsync(
            new() { Topic = "tenant-bulk" },
            GatewayFixture.Auth(Gateway.Keys.Subscriber));
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"bulk-{i}"), replay.Events.Select(e => e.Event.Id));
        Assert.Equal(Enumerable.Range(1, 25).Select(i => (long)i), replay.Events.Select(e => e.SequenceNum));
    }

    [Fact]
    public async Task Publish_StandardInput_SendsEveryLine()
    {
        Cli.Input = """
            {"api_key": "tenant-stdin", "event": "a"}
            {"apiKey": "tenant-stdin", "event": "b", "payload": {"n": 1}}
            """;

        var result = await Cli.RunAsync(Gateway.Keys.Publisher, "publish");

        Assert.Equal(0, result.ExitCode);
        Assert.StartsWith("sent 2, failed 0", result.Out.Trim(), StringComparison.Ordinal);
        var replay = await Gateway.Streams.GetReplayBufferAsync(
            new() { Topic = "tenant-stdin" },
            GatewayFixture.Auth(Gateway.Keys.Subscriber));
        Assert.Equal(["a", "b"], replay.Events.Select(e => e.Event.Event));
    }

    [Fact]
    public async Task Publish_FileWithABadLine_NamesTheLineAndSendsNothing()
    {
        var file = Path.Combine(Gateway.StateDir, "bad.jsonl");
        await File.WriteAllLinesAsync(
            file,
            ["""{"api_key": "tenant-bad", "event": "ok"}""", """{"api_key": "tenant-bad", "event": }"""]);

        var result = await Cli.RunAsync(Gateway.Keys.Publisher, "publish", "--file", file);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith(
            $"marie-events: {file} line 2: bad JSON:",
            Assert.Single(result.ErrorLines),
            StringComparison.Ordinal);
        var stats = await StatsAsync();
        Assert.Equal(0, stats.GetProperty("events_published").GetInt64());
    }

    [Fact]
    public async Task Publish_LineWithoutTopic_NamesTheLine()
    {
        Cli.Input = """{"event": "no-topic"}""";

        var result = await Cli.RunAsync(Gateway.Keys.Publisher, "publish", "--file", "-");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal(
            "marie-events: standard input line 1: api_key (the topic) is missing",
            Assert.Single(result.ErrorLines));
    }

    [Fact]
    public async Task Publish_MissingFile_OneLineExitTwo()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Publisher,
            "publish", "--file", Path.Combine(Gateway.StateDir, "nope.jsonl"));

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("marie-events: cannot read", Assert.Single(result.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publish_FileAndFlags_OneLineExitTwo()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Publisher, "publish", "--file", "x.jsonl", "--topic", "t");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("marie-events: give either --file or --topic/--event, not both", Assert.Single(result.ErrorLines));
    }

    private async Task<JsonElement> StatsAsync()
    {
        using var response = await Gateway.GetStatsAsync(Gateway.Keys.Admin);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
    }

    /// <summary>A loopback port nothing listens on (bound, then released).</summary>
    internal static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
