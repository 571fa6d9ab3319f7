using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.Cli.Tests;

/// <summary><c>stats</c>, <c>health</c>, <c>keys create</c>, <c>serve</c>, help and usage errors.</summary>
public sealed class AdminCommandTests : CliTestBase
{
    [Fact]
    public async Task Stats_AdminKey_TablesOfTheBrokerTopicsAndPipeline()
    {
        var evt = new EventData { ApiKey = "tenant-stats", Event = "a" };
        await Gateway.Publisher.PublishAsync(
            new PublishRequest { Event = evt },
            GatewayFixture.Auth(Gateway.Keys.Publisher));

        var result = await Cli.RunAsync(Gateway.Keys.Admin, "stats", "--admin-address", Cli.AdminAddress);

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"events_published\s*│\s*1 │", result.Out);
        Assert.Matches(@"tenant-stats\s*│\s*1 │\s*1 │", result.Out);
        Assert.Matches(@"grpc\s*│ queue_maxsize\s*│\s*4,096 │", result.Out);
        Assert.Contains("Toast pipeline", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_Json_TheGatewaysJson()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Admin, "stats", "--admin-address", Cli.AdminAddress, "--json");

        Assert.Equal(0, result.ExitCode);
        var json = JsonDocument.Parse(result.Out).RootElement;
        Assert.Equal(0, json.GetProperty("connections").GetInt32());
        Assert.Equal(JsonValueKind.Object, json.GetProperty("toast").ValueKind);
    }

    [Fact]
    public async Task Stats_SubscriberKey_OneLineExitOne()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "stats", "--admin-address", Cli.AdminAddress);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("marie-events: the admin API needs a key with role admin (403)", Assert.Single(result.ErrorLines));
    }

    [Fact]
    public async Task Stats_GrpcAddressOnly_TablesFromAdminService()
    {
        // The fixture's admin port is an ephemeral one, never 51002: the figures come over the gRPC address.
        Assert.NotEqual(51002, Gateway.Ports.Admin);
        var evt = new EventData { ApiKey = "tenant-grpc-stats", Event = "a" };
        await Gateway.Publisher.PublishAsync(
            new PublishRequest { Event = evt },
            GatewayFixture.Auth(Gateway.Keys.Publisher));

        var result = await Cli.RunAsync(Gateway.Keys.Admin, "stats", "--address", Cli.GrpcAddress);

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"events_published\s*│\s*1 │", result.Out);
        Assert.Matches(@"tenant-grpc-stats\s*│\s*1 │\s*1 │", result.Out);
        Assert.Contains("Toast pipeline", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_GrpcAddressJson_SameJsonAsTheAdminHttpApi()
    {
        var grpc = await Cli.RunAsync(Gateway.Keys.Admin, "stats", "--address", Cli.GrpcAddress, "--json");
        var http = await Cli.RunAsync(Gateway.Keys.Admin, "stats", "--admin-address", Cli.AdminAddress, "--json");

        Assert.Equal(0, grpc.ExitCode);
        Assert.Equal(0, http.ExitCode);
        Assert.True(
            System.Text.Json.Nodes.JsonNode.DeepEquals(
                System.Text.Json.Nodes.JsonNode.Parse(grpc.Out),
                System.Text.Json.Nodes.JsonNode.Parse(http.Out)),
            grpc.Out + "\n" + http.Out);
    }

    [Fact]
    public async Task Stats_GrpcAddressSubscriberKey_PermissionDeniedOneLineExitOne()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Subscriber, "stats");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith(
            "marie-events: permission denied (PERMISSION_DENIED: ",
            Assert.Single(result.ErrorLines),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_NoGateway_OneLineExitOne()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Admin,
            "stats", "--address", $"127.0.0.1:{PublishCommandTests.ClosedPort()}");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith(
            "marie-events: cannot reach the gateway at http://127.0.0.1:",
            Assert.Single(result.ErrorLines),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeysList_AdminKey_TableOfKeysWithoutTheKeys()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Admin, "keys", "list");

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"test-subscriber\s*│", result.Out);
        Assert.Matches(@"test-disabled .*│ disabled \(configuration\)", result.Out);
        Assert.DoesNotContain(Gateway.Keys.Admin, result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeysList_Json_OneObjectAKey()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Admin, "keys", "list", "--json");

        Assert.Equal(0, result.ExitCode);
        var names = result.Out
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("name").GetString())
            .ToList();
        Assert.Contains("test-admin", names);
        Assert.Contains("test-publisher", names);
    }

    [Fact]
    public async Task KeysDisableEnable_AdminKey_KeyRefusedThenAcceptedAgain()
    {
        var disabled = await Cli.RunAsync(Gateway.Keys.Admin, "keys", "disable", "test-publisher");
        var refused = await Cli.RunAsync(Gateway.Keys.Publisher, "publish", "--topic", "t", "--event", "e");
        var enabled = await Cli.RunAsync(Gateway.Keys.Admin, "keys", "enable", "test-publisher");
        var accepted = await Cli.RunAsync(Gateway.Keys.Publisher, "publish", "--topic", "t", "--event", "e");

        Assert.Equal(0, disabled.ExitCode);
        Assert.Equal("key 'test-publisher' is disabled (run time); 0 open streams closed", disabled.Out.Trim());
        Assert.Equal(1, refused.ExitCode);
        Assert.Equal(0, enabled.ExitCode);
        Assert.Equal("key 'test-publisher' is enabled", enabled.Out.Trim());
        Assert.Equal(0, accepted.ExitCode);
    }

    [Fact]
    public async Task KeysDisable_UnknownName_OneLineExitOne()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Admin, "keys", "disable", "no-such-key");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("marie-events: the gateway has no key named 'no-such-key'", Assert.Single(result.ErrorLines));
    }

    [Fact]
    public async Task Health_ServingGateway_TableExitZero()
    {
        var result = await Cli.RunAsync(null, "health");

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"\(gateway\)\s*│ SERVING", result.Out);
        Assert.Matches(@"marieai\.events\.EventStreamService\s*│ SERVING", result.Out);
    }

    [Fact]
    public async Task Health_StreamServiceDisabled_ServiceUnknown()
    {
        await using var gateway = await GatewayFixture.StartAsync(s => s.Config["toast:grpc:enabled"] = "false");

        var result = await new CliRunner(gateway).RunAsync(null, "health");

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"marieai\.events\.EventStreamService\s*│ SERVICE_UNKNOWN", result.Out);
        Assert.Matches(@"marieai\.events\.EventPublisherService\s*│ SERVING", result.Out);
    }

    [Fact]
    public async Task Health_NoGateway_OneLineExitOne()
    {
        var result = await Cli.RunAsync(null, "health", "--address", $"127.0.0.1:{PublishCommandTests.ClosedPort()}");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith(
            "marie-events: cannot reach the gateway at http://127.0.0.1:",
            Assert.Single(result.ErrorLines),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeysCreate_NameRolesTopics_PrintsANewKeyAndTheEntryWithItsHash()
    {
        var result = await Cli.RunAsync(null,
            "keys", "create", "--name", "billing", "--roles", "publisher,subscriber",
            "--topics", "tenant-a", "tenant-b");

        Assert.Equal(0, result.ExitCode);
        var lines = result.Out.Split('\n').Select(l => l.TrimEnd()).ToList();
        var key = lines.Select(l => l.Trim()).Single(l => l.StartsWith("mas_", StringComparison.Ordinal));
        Assert.Equal(58, key.Length);
        Assert.Matches("^mas_[0-9A-Za-z]{54}$", key);
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
        Assert.Contains("    - name: \"billing\"", lines);
        Assert.Contains($"      api_key_sha256: {hash}", lines);
        Assert.Contains("      roles: [\"publisher\", \"subscriber\"]", lines);
        Assert.Contains("      topics: [\"tenant-a\", \"tenant-b\"]", lines);
        Assert.Single(lines, l => l.Contains(key, StringComparison.Ordinal));
    }

    [Fact]
    public async Task KeysCreate_Twice_DifferentKeys()
    {
        var first = await Cli.RunAsync(null, "keys", "create", "--name", "a", "--roles", "admin");
        var second = await Cli.RunAsync(null, "keys", "create", "--name", "a", "--roles", "admin");

        Assert.NotEqual(first.Out, second.Out);
    }

    [Fact]
    public async Task KeysCreate_UnknownRole_OneLineExitTwo()
    {
        var result = await Cli.RunAsync(null, "keys", "create", "--name", "x", "--roles", "root");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal(
            "marie-events: --roles must be admin, publisher, subscriber or user (got 'root')",
            Assert.Single(result.ErrorLines));
    }

    [Fact]
    public async Task Serve_MissingConfigFile_ExitsWithTheConfigurationErrorCode()
    {
        var result = await Cli.RunAsync(null, "serve", "--config", Path.Combine(Gateway.StateDir, "missing.yml"));

        Assert.Equal(2, result.ExitCode);
    }

    [Theory]
    [InlineData("serve")]
    [InlineData("keys")]
    [InlineData("keys create")]
    [InlineData("publish")]
    [InlineData("subscribe")]
    [InlineData("replay")]
    [InlineData("stats")]
    [InlineData("health")]
    [InlineData("durables list")]
    public async Task Help_EveryCommand_UsageAndAnExample(string command)
    {
        var result = await Cli.RunAsync(null, [.. command.Split(' '), "--help"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains($"marie-events {command} [", result.Out, StringComparison.Ordinal);
        Assert.Matches(
            $@"Examples?:\n  marie-events {command.Split(' ')[0]}",
            result.Out.Replace("\r", "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnknownOption_OneLineExitTwo()
    {
        var result = await Cli.RunAsync(null, "publish", "--bogus");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal(
            "marie-events: Unrecognized command or argument '--bogus'. (see 'marie-events publish --help')",
            Assert.Single(result.ErrorLines));
    }

    [Fact]
    public async Task BadAddress_OneLineExitTwo()
    {
        var result = await Cli.RunAsync(null, "health", "--address", "ftp://x");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal(
            "marie-events: --address must be an address like http://localhost:51001 (got 'ftp://x')",
            Assert.Single(result.ErrorLines));
    }
}
