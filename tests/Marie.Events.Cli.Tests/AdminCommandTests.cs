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
        await Gateway.Publisher.PublishAsync(new PublishRequest { Event = evt }, GatewayFixture.Auth(Gateway.Keys.Publisher));

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
    public async Task Stats_NoAdminAddress_DerivedFromTheAddressWithPort51002()
    {
        var result = await Cli.RunAsync(Gateway.Keys.Admin, "stats", "--address", $"127.0.0.1:{PublishCommandTests.ClosedPort()}");

        Assert.Equal(1, result.ExitCode);
        // Nothing should listen on 51002 here; a developer's own gateway there refuses the test's key instead.
        Assert.Matches("^marie-events: (cannot reach http://127.0.0.1:51002/?:|the admin API)", Assert.Single(result.ErrorLines));
    }

    [Theory]
    [InlineData("http://gw:51001", "http://gw:51002/")]
    [InlineData("gw.example:7000", "http://gw.example:51002/")]
    [InlineData("https://[::1]:51001", "https://[::1]:51002/")]
    public void DeriveAdmin_GrpcAddress_SameHostPort51002(string grpc, string expected)
    {
        Assert.Equal(expected, Addresses.DeriveAdmin(Addresses.Parse(grpc, "--address")).ToString());
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
        Assert.StartsWith("marie-events: cannot reach the gateway at http://127.0.0.1:", Assert.Single(result.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeysCreate_NameRolesTopics_PrintsANewKeyAndTheEntryWithItsHash()
    {
        var result = await Cli.RunAsync(null, "keys", "create", "--name", "billing", "--roles", "publisher,subscriber", "--topics", "tenant-a", "tenant-b");

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
        Assert.Equal("marie-events: --roles must be admin, publisher, subscriber or user (got 'root')", Assert.Single(result.ErrorLines));
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
    public async Task Help_EveryCommand_UsageAndAnExample(string command)
    {
        var result = await Cli.RunAsync(null, [.. command.Split(' '), "--help"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains($"marie-events {command} [", result.Out, StringComparison.Ordinal);
        Assert.Matches($@"Examples?:\n  marie-events {command.Split(' ')[0]}", result.Out.Replace("\r", "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnknownOption_OneLineExitTwo()
    {
        var result = await Cli.RunAsync(null, "publish", "--bogus");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("marie-events: Unrecognized command or argument '--bogus'. (see 'marie-events publish --help')", Assert.Single(result.ErrorLines));
    }

    [Fact]
    public async Task BadAddress_OneLineExitTwo()
    {
        var result = await Cli.RunAsync(null, "health", "--address", "ftp://x");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("marie-events: --address must be an address like http://localhost:51001 (got 'ftp://x')", Assert.Single(result.ErrorLines));
    }
}
