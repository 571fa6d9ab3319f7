using System.Text;

namespace Marie.Events.Gateway.Auth;

/// <summary>
/// Makes new API keys for <c>auth.keys</c>: the building block of <c>marie-events keys create</c> and of the
/// gateway's own <c>keys create</c> command. A key is shown once, by whoever calls this; the configuration holds only
/// its SHA-256 (<c>api_key_sha256</c>).
/// </summary>
public static class ApiKeyFactory
{
    /// <summary>The role names a key may have.</summary>
    public static IReadOnlyList<string> RoleNames { get; } = ["admin", "publisher", "subscriber", "user"];

    /// <summary>Makes a new key: 58 characters, <paramref name="prefix"/> (<c>mas_</c> for a service, <c>mau_</c> for
    /// a user) then base62 characters from a cryptographic generator.</summary>
    /// <param name="name">The key's name, which is also its topic.</param>
    /// <param name="roles">admin, publisher, subscriber or user (= subscriber); none = subscriber.</param>
    /// <param name="topics">The topics it may see and publish to (<c>"*"</c> = all); none = its own topic.</param>
    /// <param name="prefix"><c>mas_</c> (default) or <c>mau_</c>.</param>
    /// <exception cref="ArgumentException">A bad name, role, topic or prefix (the message says which).</exception>
    public static NewApiKey Create(
        string name,
        IEnumerable<string>? roles = null,
        IEnumerable<string>? topics = null,
        string prefix = ApiKeyFormat.ServicePrefix)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        name = name.Trim();
        var roleList = (roles ?? []).Select(r => r.Trim()).Where(r => r.Length > 0).ToArray();
        var topicList = (topics ?? []).Select(t => t.Trim()).Where(t => t.Length > 0).ToArray();
        if (prefix is not (ApiKeyFormat.ServicePrefix or ApiKeyFormat.UserPrefix))
        {
            throw new ArgumentException(
                $"prefix must be {ApiKeyFormat.ServicePrefix} or {ApiKeyFormat.UserPrefix}",
                nameof(prefix));
        }

        if (name == "*"
            || ApiKeyFormat.IsWellFormed(name)
            || name.Length > Configuration.AuthOptionsValidator.MaxNameLength)
        {
            throw new ArgumentException(
                "name must not be \"*\", look like an API key, or be longer than " +
                $"{Configuration.AuthOptionsValidator.MaxNameLength} characters",
                nameof(name));
        }

        foreach (var role in roleList)
        {
            if (!ApiKeyRoleNames.TryParse(role, out _))
            {
                throw new ArgumentException(
                    $"unknown role '{role}' (expected {ApiKeyRoleNames.Accepted})",
                    nameof(roles));
            }
        }

        if (topicList.Any(ApiKeyFormat.IsWellFormed))
        {
            throw new ArgumentException(
                "a topic looks like an API key: list topics by their key's name",
                nameof(topics));
        }

        var key = ApiKeyFormat.Generate(prefix);
        return new NewApiKey(name, key, ApiKeyHash.Hex(ApiKeyHash.Of(key)), roleList, topicList);
    }
}

/// <summary>A new key: show <see cref="ApiKey"/> once, store <see cref="ConfigEntry"/>.</summary>
/// <param name="Name">The key's name (its topic).</param>
/// <param name="ApiKey">The key: give it to its user, never store it in the configuration.</param>
/// <param name="Sha256">The key's SHA-256, 64 lowercase hex characters: the value of <c>api_key_sha256</c>.</param>
/// <param name="Roles">Its roles.</param>
/// <param name="Topics">Its topics (empty: its own).</param>
public sealed record NewApiKey(
    string Name,
    string ApiKey,
    string Sha256,
    IReadOnlyList<string> Roles,
    IReadOnlyList<string> Topics)
{
    /// <summary>The <c>auth.keys</c> list item for this key, as YAML indented for the <c>keys:</c> list (holds the
    /// hash only).</summary>
    public string ConfigEntry
    {
        get
        {
            var text = new StringBuilder()
                .Append("    - name: ").AppendLine(Yaml(Name))
                .Append("      api_key_sha256: ").AppendLine(Sha256)
                .AppendLine("      enabled: true");
            if (Roles.Count > 0)
            {
                text.Append("      roles: [").Append(string.Join(", ", Roles.Select(Yaml))).AppendLine("]");
            }

            if (Topics.Count > 0)
            {
                text.Append("      topics: [").Append(string.Join(", ", Topics.Select(Yaml))).AppendLine("]");
            }

            return text.ToString();
        }
    }

    /// <summary>A YAML double-quoted scalar (always quoted: names may hold ':', '*', '#' and the like).</summary>
    private static string Yaml(string value)
    {
        var text = new StringBuilder("\"");
        foreach (var c in value)
        {
            _ = c switch
            {
                '"' => text.Append("\\\""),
                '\\' => text.Append("\\\\"),
                < ' ' =>
                    text.Append("\\x").Append(
                        ((int)c).ToString("x2", System.Globalization.CultureInfo.InvariantCulture)),
                _ => text.Append(c),
            };
        }

        return text.Append('"').ToString();
    }
}
