using Marie.Events.Gateway.Auth;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Configuration;

/// <summary>Validates <c>auth.keys</c>. Messages name the entries (<c>auth.keys[i]</c> and its name), never a key.</summary>
internal sealed class AuthOptionsValidator : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        var errors = new List<string>();
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        var keys = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < options.Keys.Count; i++)
        {
            var entry = options.Keys[i];
            var at = $"auth.keys[{i}]";
            if (string.IsNullOrWhiteSpace(entry.Name))
            {
                errors.Add($"{at}.name must not be empty");
            }
            else if (!names.TryAdd(entry.Name, i))
            {
                errors.Add($"{at}.name '{entry.Name}' is already used by auth.keys[{names[entry.Name]}]");
            }

            if (!ApiKeyFormat.IsWellFormed(entry.ApiKey))
            {
                errors.Add($"{at}.api_key ({Describe(entry)}) {ApiKeyFormat.DescribeProblem(entry.ApiKey)}");
            }
            else if (!keys.TryAdd(entry.ApiKey, i))
            {
                var first = keys[entry.ApiKey];
                errors.Add($"{at} ({Describe(entry)}) has the same api_key as auth.keys[{first}] ({Describe(options.Keys[first])})");
            }

            foreach (var role in entry.Roles)
            {
                if (!ApiKeyRoleNames.TryParse(role, out _))
                {
                    errors.Add($"{at}.roles has an unknown role '{role}' (expected {ApiKeyRoleNames.Accepted})");
                }
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static string Describe(ApiKeyOptions entry) =>
        string.IsNullOrWhiteSpace(entry.Name) ? "unnamed" : $"name '{entry.Name}'";
}
