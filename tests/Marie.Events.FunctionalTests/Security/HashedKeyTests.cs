using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Commands;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.Security;

/// <summary><c>api_key_sha256</c> entries, key validation, and making new keys.</summary>
public sealed class HashedKeyTests
{
    private static string Sha256(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static async Task<Exception> StartFailsAsync(Action<GatewaySettings> configure)
    {
        var settings = new GatewaySettings { ConfigureKeys = false };
        configure(settings);
        await using var app = GatewayFixture.Build(settings);
        return await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());
    }

    [Fact]
    public async Task StartAsync_HashedEntry_KeyAuthenticatesAndUppercaseHexAccepted()
    {
        var key = TestKeys.NewKey();
        var other = TestKeys.NewKey("mau_");
        await using var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.ConfigureKeys = false;
            s.Config["auth:keys:0:name"] = "hashed";
            s.Config["auth:keys:0:api_key_sha256"] = Sha256(key);
            s.Config["auth:keys:1:name"] = "upper";
            s.Config["auth:keys:1:api_key_sha256"] = Sha256(other).ToUpperInvariant();
        });

        var reply = await gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = "hashed" },
            GatewayFixture.Auth(key));
        var upper = await gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = "upper" },
            GatewayFixture.Auth(other));
        var wrong = await Assert.ThrowsAsync<RpcException>(() =>
            gateway.Streams.GetReplayBufferAsync(
                new ReplayRequest { Topic = "hashed" },
                GatewayFixture.Auth(TestKeys.NewKey())).ResponseAsync);

        Assert.Equal(0, reply.TopicHead);
        Assert.Equal(0, upper.TopicHead);
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
    }

    [Fact]
    public async Task StartAsync_BothKeyAndHash_FailsNamingTheEntry()
    {
        var key = TestKeys.NewKey();

        var error = await StartFailsAsync(s =>
        {
            s.Config["auth:keys:0:name"] = "both";
            s.Config["auth:keys:0:api_key"] = key;
            s.Config["auth:keys:0:api_key_sha256"] = Sha256(key);
        });

        Assert.Contains(
            "auth.keys[0] (name 'both') has both api_key and api_key_sha256",
            error.Message,
            StringComparison.Ordinal);
        Assert.DoesNotContain(key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_MalformedHash_FailsNamingTheEntry()
    {
        var error = await StartFailsAsync(s =>
        {
            s.Config["auth:keys:0:name"] = "short";
            s.Config["auth:keys:0:api_key_sha256"] = "abc123";
        });

        Assert.Contains(
            "auth.keys[0].api_key_sha256 (name 'short') must be 64 hexadecimal characters",
            error.Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_SameKeyPlainAndHashed_FailsNamingBothEntriesNotTheKey()
    {
        var key = TestKeys.NewKey();

        var error = await StartFailsAsync(s =>
        {
            s.Config["auth:keys:0:name"] = "plain";
            s.Config["auth:keys:0:api_key"] = key;
            s.Config["auth:keys:1:name"] = "hashed";
            s.Config["auth:keys:1:api_key_sha256"] = Sha256(key);
        });

        Assert.Contains(
            "auth.keys[1] (name 'hashed') has the same api_key as auth.keys[0] (name 'plain')",
            error.Message,
            StringComparison.Ordinal);
        Assert.DoesNotContain(key, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Sha256(key), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_KeyPastedAsNameOrTopic_FailsWithoutRepeatingIt()
    {
        var pasted = TestKeys.NewKey();

        var error = await StartFailsAsync(s =>
        {
            s.Config["auth:keys:0:name"] = pasted;
            s.Config["auth:keys:0:api_key"] = TestKeys.NewKey();
            s.Config["auth:keys:1:name"] = "ok";
            s.Config["auth:keys:1:api_key"] = TestKeys.NewKey();
            s.Config["auth:keys:1:topics:0"] = pasted;
        });

        Assert.Contains("auth.keys[0].name looks like an API key", error.Message, StringComparison.Ordinal);
        Assert.Contains(
            "auth.keys[1].topics[0] (name 'ok') looks like an API key",
            error.Message,
            StringComparison.Ordinal);
        Assert.DoesNotContain(pasted, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApiKeyFactory_NewKeyEntryInConfigFile_KeyWorksWithItsRolesAndTopics()
    {
        var made = ApiKeyFactory.Create("billing", ["publisher", "subscriber"], ["billing", "invoices"]);
        using var dir = new TempDirectory();
        var path = dir.File("gateway.yml");
        await File.WriteAllTextAsync(path, "auth:\n  keys:\n" + made.ConfigEntry);
        await using var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.ConfigureKeys = false;
            s.StateDir = dir.Path;
            s.Args.AddRange(["--config", path]);
        });

        var published = await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("invoices") },
            GatewayFixture.Auth(made.ApiKey));
        var denied = await Assert.ThrowsAsync<RpcException>(() =>
            gateway.Publisher.PublishAsync(
                new PublishRequest { Event = Streams.Event("payroll") },
                GatewayFixture.Auth(made.ApiKey)).ResponseAsync);

        Assert.Equal(58, made.ApiKey.Length);
        Assert.StartsWith("mas_", made.ApiKey, StringComparison.Ordinal);
        Assert.Equal(Sha256(made.ApiKey), made.Sha256);
        Assert.DoesNotContain(made.ApiKey, made.ConfigEntry, StringComparison.Ordinal);
        Assert.Equal("invoices", published.Topic);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
    }

    [Theory]
    [InlineData("*", "subscriber")]
    [InlineData("ok", "root")]
    public void ApiKeyFactory_BadNameOrRole_Throws(string name, string role)
    {
        Assert.Throws<ArgumentException>(() => ApiKeyFactory.Create(name, [role]));
    }

    [Fact]
    public void KeysCommand_Create_PrintsKeyOnceAndAnEntryWithItsHashOnly()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = GatewayKeysCommand.Run(
            ["keys", "create", "--name", "ci", "--roles", "publisher", "--topics", "ci,builds", "--user"],
            output,
            error);

        var text = output.ToString();
        var key = text.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("mau_", StringComparison.Ordinal));
        Assert.Equal(0, code);
        Assert.Equal(58, key.Length);
        Assert.Equal(1, text.Split(key).Length - 1);
        Assert.Contains($"api_key_sha256: {Sha256(key)}", text, StringComparison.Ordinal);
        Assert.Contains("topics: [\"ci\", \"builds\"]", text, StringComparison.Ordinal);
        Assert.Equal("", error.ToString());
    }

    [Fact]
    public void KeysCommand_MissingName_ExitCode2AndOneLine()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = GatewayKeysCommand.Run(["keys", "create", "--roles", "admin"], output, error);

        Assert.Equal(2, code);
        Assert.Equal("marie-events-gateway: keys create: --name is required", error.ToString().Trim());
        Assert.Equal("", output.ToString());
    }
}
