using Microsoft.Extensions.Configuration;

namespace Marie.Events.Gateway.Configuration;

/// <summary>The <c>auth.*</c> section: the API keys the gateway accepts.</summary>
internal sealed class AuthOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "auth";

    /// <summary>Configured keys; none = first-run development keys (see <see cref="Auth.DevKeyStore"/>).</summary>
    [ConfigurationKeyName("keys")]
    public List<ApiKeyOptions> Keys { get; set; } = [];

    /// <summary>Watch the configuration file and apply changes to <c>auth.keys</c> without a restart (default
    /// true).</summary>
    [ConfigurationKeyName("reload_on_change")]
    public bool ReloadOnChange { get; set; } = true;
}

/// <summary>One <c>auth.keys[i]</c> entry.</summary>
internal sealed class ApiKeyOptions
{
    /// <summary>A name for logs and error messages (never the key itself).</summary>
    [ConfigurationKeyName("name")]
    public string Name { get; set; } = "";

    /// <summary>The key: 58 characters starting with <c>mau_</c> or <c>mas_</c>.</summary>
    [ConfigurationKeyName("api_key")]
    public string ApiKey { get; set; } = "";

    /// <summary>Instead of <see cref="ApiKey"/>: the key's SHA-256, 64 hex characters, so the file holds no
    /// key.</summary>
    [ConfigurationKeyName("api_key_sha256")]
    public string ApiKeySha256 { get; set; } = "";

    /// <summary>A disabled key is refused like an unknown one.</summary>
    [ConfigurationKeyName("enabled")]
    public bool Enabled { get; set; } = true;

    /// <summary><c>admin</c>, <c>publisher</c>, <c>subscriber</c> (<c>user</c> = subscriber); none =
    /// subscriber.</summary>
    [ConfigurationKeyName("roles")]
    public List<string> Roles { get; set; } = [];

    /// <summary>The topics the key may subscribe to and publish to (<c>"*"</c> = all); none = its own topic, its
    /// name. Admin keys see every topic.</summary>
    [ConfigurationKeyName("topics")]
    public List<string> Topics { get; set; } = [];
}
