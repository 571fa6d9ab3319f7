using Marie.Events.Gateway.Auth;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Configuration;

/// <summary>Validates <c>auth.keys</c>. Messages name the entries (<c>auth.keys[i]</c> and its name), never a
/// key.</summary>
internal sealed class AuthOptionsValidator : IValidateOptions<AuthOptions>
{
    /// <summary>Longest key name: a name is a topic, logged and sent on the wire.</summary>
    public const int MaxNameLength = 200;

    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        var errors = new List<string>();
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        var hashes = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < options.Keys.Count; i++)
        {
            var entry = options.Keys[i];
            var at = $"auth.keys[{i}]";
            CheckName(errors, names, entry, at, i);
            if (HashOf(errors, entry, at) is { } hash && !hashes.TryAdd(hash, i))
            {
                var first = hashes[hash];
                errors.Add(
                    $"{at} ({Describe(entry)}) has the same api_key as auth.keys[{first}] " +
                    $"({Describe(options.Keys[first])})");
            }

            foreach (var role in entry.Roles)
            {
                if (!ApiKeyRoleNames.TryParse(role, out _))
                {
                    errors.Add($"{at}.roles has an unknown role '{role}' (expected {ApiKeyRoleNames.Accepted})");
                }
            }

            for (var j = 0; j < entry.Topics.Count; j++)
            {
                var topic = entry.Topics[j];
                if (string.IsNullOrWhiteSpace(topic))
                {
                    errors.Add($"{at}.topics[{j}] must not be empty");
                }
                else if (ApiKeyFormat.IsWellFormed(topic.Trim()))
                {
                    errors.Add(
                        $"{at}.topics[{j}] ({Describe(entry)}) looks like an API key: list topics by their key's name");
                }
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckName(
        List<string> errors,
        Dictionary<string, int> names,
        ApiKeyOptions entry,
        string at,
        int i)
    {
        if (string.IsNullOrWhiteSpace(entry.Name))
        {
            errors.Add($"{at}.name must not be empty");
        }
        else if (ApiKeyFormat.IsWellFormed(entry.Name.Trim()))
        {
            // Not echoed: it may be a key pasted in the wrong field.
            errors.Add(
                $"{at}.name looks like an API key: a name is logged and used as the key's topic, choose another");
        }
        else if (entry.Name == Broker.Access.ConnectionAccess.AllTopics)
        {
            errors.Add($"{at}.name must not be \"*\" (it means every topic)");
        }
        else if (entry.Name.Length > MaxNameLength)
        {
            errors.Add($"{at}.name must be at most {MaxNameLength} characters (got {entry.Name.Length})");
        }
        else if (!names.TryAdd(entry.Name, i))
        {
            errors.Add($"{at}.name '{entry.Name}' is already used by auth.keys[{names[entry.Name]}]");
        }
    }

    /// <summary>The entry's key hash as hex, or null (with an error added) when the entry has no usable key.</summary>
    private static string? HashOf(List<string> errors, ApiKeyOptions entry, string at)
    {
        var hasKey = !string.IsNullOrEmpty(entry.ApiKey);
        var hasHash = !string.IsNullOrWhiteSpace(entry.ApiKeySha256);
        if (hasKey && hasHash)
        {
            errors.Add(
                $"{at} ({Describe(entry)}) has both api_key and api_key_sha256: keep one (api_key_sha256 keeps the " +
                "key out of the file)");
            return null;
        }

        if (hasHash)
        {
            if (!ApiKeyHash.TryParseHex(entry.ApiKeySha256, out var parsed))
            {
                errors.Add(
                    $"{at}.api_key_sha256 ({Describe(entry)}) must be 64 hexadecimal characters, " +
                    "the SHA-256 of the key");
                return null;
            }

            return ApiKeyHash.Hex(parsed);
        }

        if (!ApiKeyFormat.IsWellFormed(entry.ApiKey))
        {
            errors.Add($"{at}.api_key ({Describe(entry)}) {ApiKeyFormat.DescribeProblem(entry.ApiKey)}");
            return null;
        }

        return ApiKeyHash.Hex(ApiKeyHash.Of(entry.ApiKey));
    }

    private static string Describe(ApiKeyOptions entry) =>
        string.IsNullOrWhiteSpace(entry.Name) || ApiKeyFormat.IsWellFormed(entry.Name.Trim())
            ? "unnamed"
            : $"name '{entry.Name}'";
}
