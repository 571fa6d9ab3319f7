using System.Security.Cryptography;
using System.Text;
using Marie.Events.Gateway.Auth;
using Marie.Events.Protocol;

namespace Marie.Events.Gateway.Tests;

/// <summary>The key table: hashes only, run-time disables, raw keys turned into names.</summary>
public sealed class KeyTableTests
{
    private static string NewKey() => ApiKeyFactory.Create("x").ApiKey;

    private static ApiKeyRegistration Reg(
        string name,
        string key,
        ApiKeyRoles roles = ApiKeyRoles.Subscriber,
        bool enabled = true,
        string[]? topics = null) =>
        ApiKeyRegistration.FromKey(name, key, enabled, roles, topics);

    [Fact]
    public void TryAuthenticate_HashedRegistration_MatchesOnlyItsKey()
    {
        var key = NewKey();
        var keys = new APIKeyManager(
            [new ApiKeyRegistration(
                "h",
                SHA256.HashData(Encoding.UTF8.GetBytes(key)),
                true,
                ApiKeyRoles.Subscriber,
                [])]);

        Assert.True(keys.TryAuthenticate(key, out var identity));
        Assert.Equal("h", identity.Name);
        Assert.False(keys.TryAuthenticate(NewKey(), out _));
        Assert.False(keys.TryAuthenticate(null, out _));
    }

    [Fact]
    public void Identity_Access_DefaultOwnTopicListedTopicsAdminAll()
    {
        var keys = new APIKeyManager([
            Reg("own", NewKey()),
            Reg("listed", NewKey(), topics: ["a", "b"]),
            Reg("star", NewKey(), topics: ["*"]),
            Reg("boss", NewKey(), ApiKeyRoles.Admin, topics: ["a"]),
        ]);

        Assert.Equal(["own"], keys.FindByName("own")!.Access.Topics!);
        Assert.False(keys.FindByName("listed")!.Access.CanSee("listed"));
        Assert.True(keys.FindByName("listed")!.Access.CanSee("b"));
        Assert.True(keys.FindByName("star")!.Access.SeesAll);
        Assert.True(keys.FindByName("boss")!.Access.SeesAll);
    }

    [Fact]
    public void Constructor_SameKeyTwice_ErrorNamesEntriesNotKey()
    {
        var key = NewKey();

        var error = Assert.Throws<ArgumentException>(() => new APIKeyManager([Reg("first", key), Reg("second", key)]));

        Assert.Contains("'first' and 'second'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SetDisabledAtRunTime_SurvivesReplaceUntilEnabled()
    {
        var key = NewKey();
        var keys = new APIKeyManager([Reg("a", key)]);
        var changes = 0;
        keys.Changed += () => changes++;

        Assert.True(keys.SetDisabledAtRunTime("a", disabled: true));
        keys.Replace([Reg("a", key, topics: ["t"])]);
        var disabledAfterReload = !keys.TryAuthenticate(key, out _);
        keys.SetDisabledAtRunTime("a", disabled: false);

        Assert.True(disabledAfterReload);
        Assert.True(keys.TryAuthenticate(key, out var identity));
        Assert.Equal(["t"], identity.Topics);
        Assert.Equal(3, changes);
        Assert.False(keys.SetDisabledAtRunTime("nobody", disabled: true));
    }

    [Fact]
    public void TryFindByKey_DisabledKey_StillNamesItsTopic()
    {
        var key = NewKey();
        var keys = new APIKeyManager([Reg("off", key, enabled: false)]);

        Assert.False(keys.TryAuthenticate(key, out _));
        Assert.True(keys.TryFindByKey(key, out var owner));
        Assert.Equal("off", owner.Name);
        Assert.False(keys.TryFindByKey("off", out _));
    }

    [Fact]
    public void TopicNames_Rewrite_OwnKeyBecomesNameOtherKeyRefusedPlainNamesKept()
    {
        var own = NewKey();
        var other = NewKey();
        var keys = new APIKeyManager([Reg("me", own), Reg("them", other)]);
        var me = keys.FindByName("me")!;
        var request = new SubscribeRequest { SubscriptionId = "s", Topics = { own, "plain", "*" } };
        request.ResumeFrom[own] = 4;
        request.TopicEpochs[own] = "e";
        var foreign = new ClientMessage
        {
            Subscribe = new SubscribeRequest { SubscriptionId = "f", Topics = { "plain", other } },
        };
        var ack = new ClientMessage
        {
            Ack = new AckMessage { SubscriptionId = "s", Cumulative = new CumulativeAck { Topic = other } },
        };

        var accepted = TopicNames.Rewrite(new ClientMessage { Subscribe = request }, me);
        var refused = TopicNames.Rewrite(foreign, me);
        var ackRefused = TopicNames.Rewrite(ack, me);

        Assert.Null(accepted);
        Assert.Equal(["me", "plain", "*"], request.Topics);
        Assert.Equal(4, request.ResumeFrom["me"]);
        Assert.Equal("e", request.TopicEpochs["me"]);
        Assert.Equal(new TopicRefusal("f", "topics"), refused);
        Assert.Equal(new TopicRefusal("s", "cumulative.topic"), ackRefused);
    }

    [Fact]
    public void NewApiKey_ConfigEntry_QuotesNamesAndHoldsOnlyTheHash()
    {
        var made = ApiKeyFactory.Create("team: \"a\"", ["admin"], ["x#1"]);

        Assert.Contains("- name: \"team: \\\"a\\\"\"", made.ConfigEntry, StringComparison.Ordinal);
        Assert.Contains("topics: [\"x#1\"]", made.ConfigEntry, StringComparison.Ordinal);
        Assert.Contains($"api_key_sha256: {made.Sha256}", made.ConfigEntry, StringComparison.Ordinal);
        Assert.DoesNotContain(made.ApiKey, made.ConfigEntry, StringComparison.Ordinal);
        Assert.Equal(ApiKeyHash.Hex(ApiKeyHash.Of(made.ApiKey)), made.Sha256);
    }
}
