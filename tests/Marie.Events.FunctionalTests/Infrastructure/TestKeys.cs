using System.Security.Cryptography;

namespace Marie.Events.FunctionalTests.Infrastructure;

/// <summary>API keys made at run time (never a real key in the repo): <c>mas_</c> + random base62, 58
/// characters.</summary>
public sealed class TestKeys
{
    /// <summary>Length of a Marie API key.</summary>
    public const int KeyLength = 58;

    private const string Base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public string Admin { get; } = NewKey();
    public string Publisher { get; } = NewKey();
    public string Subscriber { get; } = NewKey();

    /// <summary>Configured with role <c>user</c> (read as subscriber).</summary>
    public string User { get; } = NewKey();

    /// <summary>Configured with <c>enabled: false</c>.</summary>
    public string Disabled { get; } = NewKey();

    /// <summary>A well-formed key the gateway does not know.</summary>
    public static string NewKey(string prefix = "mas_") =>
        prefix + new string(RandomNumberGenerator.GetItems<char>(Base62, KeyLength - prefix.Length));

    /// <summary>The <c>auth.keys</c> entries as in-memory configuration.</summary>
    public IEnumerable<KeyValuePair<string, string?>> AsConfiguration()
    {
        var entries = new (string Name, string Key, string Role, bool Enabled)[]
        {
            ("test-admin", Admin, "admin", true),
            ("test-publisher", Publisher, "publisher", true),
            ("test-subscriber", Subscriber, "subscriber", true),
            ("test-user", User, "user", true),
            ("test-disabled", Disabled, "admin", false),
        };
        for (var i = 0; i < entries.Length; i++)
        {
            var (name, key, role, enabled) = entries[i];
            yield return new($"auth:keys:{i}:name", name);
            yield return new($"auth:keys:{i}:api_key", key);
            yield return new($"auth:keys:{i}:roles:0", role);
            yield return new($"auth:keys:{i}:enabled", enabled ? "true" : "false");
            // Every topic: these keys serve the tests of the event stream itself; tenant isolation has its own keys.
            yield return new($"auth:keys:{i}:topics:0", "*");
        }
    }
}
