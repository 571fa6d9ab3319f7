using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;

namespace Marie.Events.Gateway.Auth;

/// <summary>A key the gateway knows, as kept in memory: its SHA-256 hash, never the key.</summary>
/// <param name="Name">Name for logs and messages.</param>
/// <param name="Roles">What it may do.</param>
/// <param name="Enabled">A disabled key is refused like an unknown one.</param>
internal sealed record ApiKeyIdentity(string Name, ApiKeyRoles Roles, bool Enabled)
{
    public bool IsAdmin => (Roles & ApiKeyRoles.Admin) != 0;

    /// <summary>Publishing needs role publisher or admin.</summary>
    public bool CanPublish => (Roles & (ApiKeyRoles.Publisher | ApiKeyRoles.Admin)) != 0;
}

/// <summary>One key to register: the plain key is hashed at once and not kept.</summary>
internal readonly record struct ApiKeyRegistration(string Name, string ApiKey, bool Enabled, ApiKeyRoles Roles);

/// <summary>
/// The API keys the gateway accepts. Keys are held as SHA-256 hashes; a presented key is hashed and compared with
/// every stored hash in constant time (<see cref="CryptographicOperations.FixedTimeEquals"/>), so neither the
/// comparison nor the lookup order tells an attacker how close a guess was.
/// </summary>
internal sealed class APIKeyManager
{
    private readonly (byte[] Hash, ApiKeyIdentity Identity)[] _entries;

    /// <exception cref="ArgumentException">A malformed key, or two entries with the same key (the message names the
    /// entries, never the key).</exception>
    public APIKeyManager(IEnumerable<ApiKeyRegistration> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var entries = new List<(byte[] Hash, ApiKeyIdentity Identity)>();
        foreach (var key in keys)
        {
            if (!ApiKeyFormat.IsWellFormed(key.ApiKey))
            {
                throw new ArgumentException($"API key '{key.Name}' {ApiKeyFormat.DescribeProblem(key.ApiKey)}", nameof(keys));
            }

            var hash = Hash(key.ApiKey);
            foreach (var (existing, identity) in entries)
            {
                if (CryptographicOperations.FixedTimeEquals(existing, hash))
                {
                    throw new ArgumentException($"API keys '{identity.Name}' and '{key.Name}' are the same key", nameof(keys));
                }
            }

            entries.Add((hash, new ApiKeyIdentity(key.Name, key.Roles, key.Enabled)));
        }

        _entries = [.. entries];
    }

    /// <summary>Keys registered, enabled or not.</summary>
    public int Count => _entries.Length;

    /// <summary>Keys registered and enabled.</summary>
    public int EnabledCount => _entries.Count(e => e.Identity.Enabled);

    /// <summary>Finds the enabled key equal to <paramref name="presentedKey"/>; false for a missing, malformed,
    /// unknown or disabled key.</summary>
    public bool TryAuthenticate(string? presentedKey, [NotNullWhen(true)] out ApiKeyIdentity? identity)
    {
        identity = null;
        if (!ApiKeyFormat.IsWellFormed(presentedKey))
        {
            return false;
        }

        var hash = Hash(presentedKey);
        ApiKeyIdentity? found = null;
        foreach (var (stored, candidate) in _entries)
        {
            // No early exit: every entry is compared whatever matches.
            if (CryptographicOperations.FixedTimeEquals(stored, hash))
            {
                found = candidate;
            }
        }

        if (found is not { Enabled: true })
        {
            return false;
        }

        identity = found;
        return true;
    }

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
