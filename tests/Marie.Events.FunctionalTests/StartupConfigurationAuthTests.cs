using Marie.Events.FunctionalTests.Infrastructure;

namespace Marie.Events.FunctionalTests;

/// <summary>Validation of <c>auth.keys</c>: messages name the entries, never the key.</summary>
public sealed class StartupConfigurationAuthTests
{
    [Fact]
    public async Task StartAsync_MalformedKey_FailsNamingTheEntryNotTheKey()
    {
        const string badKey = "mas_tooShortSecret";
        var settings = new GatewaySettings { ConfigureKeys = false };
        settings.Config["auth:keys:0:name"] = "ci";
        settings.Config["auth:keys:0:api_key"] = badKey;
        await using var app = GatewayFixture.Build(settings);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());

        Assert.Contains(
            "auth.keys[0].api_key (name 'ci') must be 58 characters long (got 18)",
            error.Message,
            StringComparison.Ordinal);
        Assert.DoesNotContain(badKey, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_DuplicateKey_FailsNamingBothEntriesNotTheKey()
    {
        var key = TestKeys.NewKey();
        var settings = new GatewaySettings { ConfigureKeys = false };
        settings.Config["auth:keys:0:name"] = "first";
        settings.Config["auth:keys:0:api_key"] = key;
        settings.Config["auth:keys:1:name"] = "second";
        settings.Config["auth:keys:1:api_key"] = key;
        await using var app = GatewayFixture.Build(settings);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());

        Assert.Contains(
            "auth.keys[1] (name 'second') has the same api_key as auth.keys[0] (name 'first')",
            error.Message,
            StringComparison.Ordinal);
        Assert.DoesNotContain(key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_UnknownRole_FailsNamingTheEntry()
    {
        var settings = new GatewaySettings { ConfigureKeys = false };
        settings.Config["auth:keys:0:name"] = "ops";
        settings.Config["auth:keys:0:api_key"] = TestKeys.NewKey();
        settings.Config["auth:keys:0:roles:0"] = "root";
        await using var app = GatewayFixture.Build(settings);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());

        Assert.Contains("auth.keys[0].roles has an unknown role 'root'", error.Message, StringComparison.Ordinal);
    }
}
