using System.Text.Json;
using Google.Protobuf;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.Cli.Tests;

/// <summary><c>marie-events subscribe</c> and <c>replay</c>.</summary>
public sealed class SubscribeAndReplayTests : CliTestBase
{
    [Fact]
    public async Task Subscribe_FromSeqWithCount_PrintsTheEventsAndAcknowledgesThem()
    {
        await PublishAsync("tenant-s", "extract.completed", "job-1", "e1");
        await PublishAsync("tenant-s", "extract.failed", "job-2", "e2");
        await PublishAsync("tenant-s", "run.success", "job-3", "e3");

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber,
            "subscribe", "--topics", "tenant-s", "--from-seq", "0", "--count", "3");

        Assert.Equal(0, result.ExitCode);
        var lines = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith(
            "#1 tenant-s extract.completed id=e1 job=job-1 status=OK",
            lines[0],
            StringComparison.Ordinal);
        Assert.StartsWith("#3 tenant-s run.success id=e3", lines[2], StringComparison.Ordinal);
        Assert.StartsWith("subscribed to tenant-s (head 3)", result.Error, StringComparison.Ordinal);
        var stats = await StatsAsync();
        Assert.Equal(3, stats.GetProperty("events_acked").GetInt64());
    }

    [Fact]
    public async Task Subscribe_AllTopicsFromSeq_ReplaysEveryTopic()
    {
        await PublishAsync("tenant-w1", "a", "j", "w1");
        await PublishAsync("tenant-w2", "b", "j", "w2");

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "subscribe", "--from-seq", "0", "--count", "2");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
            ["w1", "w2"],
            result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[3][3..]).Order());
    }

    [Fact]
    public async Task Subscribe_NoAck_NothingAcknowledged()
    {
        await PublishAsync("tenant-n", "a", "j", "n1");
        await PublishAsync("tenant-n", "b", "j", "n2");

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber,
            "subscribe", "--topics", "tenant-n", "--from-seq", "0", "--count", "2", "--no-ack");

        Assert.Equal(0, result.ExitCode);
        var stats = await StatsAsync();
        Assert.Equal(
            (0L, 2L),
            (stats.GetProperty("events_acked").GetInt64(), stats.GetProperty("events_delivered").GetInt64()));
    }

    [Fact]
    public async Task Subscribe_Json_OneEnvelopeObjectPerLine()
    {
        await PublishAsync("tenant-j", "extract.completed", "job-1", "j1");

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber,
            "subscribe", "--topics", "tenant-j", "--from-seq", "0", "--count", "1", "--json");

        Assert.Equal(0, result.ExitCode);
        var envelope = JsonParser.Default.Parse<EventEnvelope>(result.Out.Trim());
        Assert.Equal(
            ("j1", "tenant-j", 1L, 1),
            (envelope.Event.Id, envelope.Event.ApiKey, envelope.SequenceNum, envelope.DeliveryAttempt));
        Assert.NotEmpty(envelope.AckId);
    }

    [Fact]
    public async Task Subscribe_EventAndJobFilters_OnlyMatchingEvents()
    {
        await PublishAsync("tenant-f", "extract.completed", "job-1", "f1");
        await PublishAsync("tenant-f", "run.success", "job-1", "f2");
        await PublishAsync("tenant-f", "extract.failed", "job-2", "f3");
        await PublishAsync("tenant-f", "extract.started", "job-1", "f4");

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber,
            "subscribe", "--topics", "tenant-f", "--events", "extract.*", "--jobids", "job-1",
            "--from-seq", "0", "--count", "2");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
            ["f1", "f4"],
            result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[3][3..]));
    }

    [Fact]
    public async Task Subscribe_Live_CtrlCEndsItCleanly()
    {
        using var interrupt = new CancellationTokenSource();
        var tail = Cli.RunAsync(Gateway.Keys.Subscriber, interrupt.Token, "subscribe", "--topics", "tenant-live");
        await Gateway.Logs.WaitForAsync(
            e => e.Message.StartsWith("Subscription created: cli-", StringComparison.Ordinal),
            GatewayFixture.Timeout);

        await PublishAsync("tenant-live", "extract.completed", "job-9", "live-1");
        var shown = await Task.Run(() => SpinWait.SpinUntil(
            () => Cli.Out.ToString().Contains("id=live-1", StringComparison.Ordinal),
            GatewayFixture.Timeout));
        await interrupt.CancelAsync();
        var result = await tail;

        Assert.True(shown, "the live event was shown");
        Assert.Equal(0, result.ExitCode);
        Assert.EndsWith("stopped after 1 events", result.Error.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Subscribe_UnknownKey_OneLineExitOne()
    {
        var result = await Cli.RunAsync(TestKeys.NewKey(), "subscribe", "--count", "1");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith(
            "marie-events: the gateway refused the API key",
            Assert.Single(result.ErrorLines),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Subscribe_UnreachableGateway_OneLineExitOneAfterBoundedRetries()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Subscriber,
            "subscribe", "--address", $"127.0.0.1:{PublishCommandTests.ClosedPort()}");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith(
            "marie-events: cannot reach the gateway at http://127.0.0.1:",
            Assert.Single(result.ErrorLines),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Subscribe_ConnectionBroken_ReconnectsAndShowsEachEventOnce()
    {
        await using var proxy = new TcpChaosProxy(Gateway.Ports.Grpc);
        using var interrupt = new CancellationTokenSource();
        var tail = Cli.RunAsync(Gateway.Keys.Subscriber, interrupt.Token,
            "subscribe", "--topics", "tenant-cut", "--address", proxy.Address.ToString());
        await Gateway.Logs.WaitForAsync(
            e => e.Message.StartsWith("Subscription created: cli-", StringComparison.Ordinal),
            GatewayFixture.Timeout);
        await PublishAsync("tenant-cut", "a", "j", "cut-1");
        var first = await Task.Run(() => SpinWait.SpinUntil(
            () => Cli.Out.ToString().Contains("id=cut-1", StringComparison.Ordinal),
            GatewayFixture.Timeout));

        proxy.CutAll();
        await PublishAsync("tenant-cut", "b", "j", "cut-2");
        var second = await Task.Run(() => SpinWait.SpinUntil(
            () => Cli.Out.ToString().Contains("id=cut-2", StringComparison.Ordinal),
            GatewayFixture.Timeout));
        await interrupt.CancelAsync();
        var result = await tail;

        Assert.True(first && second, $"both events were shown: {result}");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
            ["cut-1", "cut-2"],
            result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[3][3..]));
        Assert.Contains(result.ErrorLines, l => l.StartsWith("connection lost (", StringComparison.Ordinal));
        Assert.Contains(
            result.ErrorLines,
            l => l.StartsWith("reconnected to http://127.0.0.1:", StringComparison.Ordinal));
        Assert.True(proxy.Accepted >= 2, "a new connection replaced the broken one");
    }

    [Fact]
    public async Task Subscribe_NegativeFromSeq_OneLineExitTwo()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "subscribe", "--from-seq", "-1");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("marie-events: --from-seq must be 0 or more (got -1)", Assert.Single(result.ErrorLines));
    }

    [Fact]
    public async Task Replay_Topic_ListsTheRingAndTheHead()
    {
        for (var i = 1; i <= 3; i++)
        {
            await PublishAsync("tenant-r", "extract.completed", "job", $"r{i}");
        }

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber,
            "replay", "--topic", "tenant-r", "--from", "1", "--max", "1");

        Assert.Equal(0, result.ExitCode);
        var lines = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("#2 tenant-r extract.completed id=r2", lines[0], StringComparison.Ordinal);
        Assert.Equal("1 events of tenant-r, head 3; more: --from 2", lines[1]);
    }

    [Fact]
    public async Task Replay_Json_EnvelopesOnly()
    {
        await PublishAsync("tenant-rj", "a", "job", "rj1");

        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "replay", "--topic", "tenant-rj", "--json");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("rj1", JsonParser.Default.Parse<EventEnvelope>(result.Out.Trim()).Event.Id);
    }

    [Fact]
    public async Task Replay_WithoutTopic_OneLineExitTwo()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "replay");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal(
            "marie-events: Option '--topic' is required. (see 'marie-events replay --help')",
            Assert.Single(result.ErrorLines));
    }

    private async Task PublishAsync(string topic, string name, string jobid, string id)
    {
        var evt = new EventData
        {
            ApiKey = topic,
            Event = name,
            Jobid = jobid,
            Id = id,
            Status = "OK",
            Source = "gateway://cli-tests",
        };
        await Gateway.Publisher.PublishAsync(
            new PublishRequest { Event = evt },
            GatewayFixture.Auth(Gateway.Keys.Publisher));
    }

    private async Task<JsonElement> StatsAsync()
    {
        using var response = await Gateway.GetStatsAsync(Gateway.Keys.Admin);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
    }
}
