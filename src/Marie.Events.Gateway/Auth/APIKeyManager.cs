using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using Marie.Events.Broker.Access;

namespace Marie.Events.Gateway.Auth;

/// <summary>A key the gateway knows, as kept in memory: its SHA-256 hash, never the key.</summary>
internal sealed class ApiKeyIdentity
{
    public ApiKeyIdentity(string name, ApiKeyRoles roles, bool enabled, IReadOnlyList<string> topics, byte[] hash)
    {
        Name = name;
        Roles = roles;
        Enabled = enabled;
        Topics = topics;
        Hash = hash;
        Fingerprint = ApiKeyHash.Fingerprint(hash);
        // An admin sees everything; otherwise the listed topics, or by default its own topic (its name).
        Access = IsAdmin ? ConnectionAccess.All : ConnectionAccess.ForTopics(topics.Count == 0 ? [name] : topics);
    }

    /// <summary>Name for logs and messages; the key's own topic.</summary>
    public string Name { get; }

    /// <summary>What it may do.</summary>
    public ApiKeyRoles Roles { get; }

    /// <summary>A disabled key is refused like an unknown one.</summary>
    public bool Enabled { get; }

    /// <summary>The topics as configured (empty: its own topic).</summary>
    public IReadOnlyList<string> Topics { get; }

    /// <summary>SHA-256 of the key.</summary>
    public byte[] Hash { get; }

    /// <summary>A short, non-secret name of the key (<see cref="ApiKeyHash.Fingerprint"/>).</summary>
    public string Fingerprint { get; }

    /// <summary>The topics it may subscribe to, replay and publish to.</summary>
    public ConnectionAccess Access { get; }

    public bool IsAdmin => (Roles & ApiKeyRoles.Admin) != 0;

    /// <summary>Publishing needs role publisher or admin.</summary>
    public bool CanPublish => (Roles & (ApiKeyRoles.Publisher | ApiKeyRoles.Admin)) != 0;

    /// <summary>Streaming and replay need role subscriber or admin.</summary>
    public bool CanSubscribe => (Roles & (ApiKeyRoles.Subscriber | ApiKeyRoles.Admin)) != 0;

    /// <summary>The same key (by hash, in constant time).</summary>
    public bool SameKey(byte[] hash) => CryptographicOperations.FixedTimeEquals(Hash, hash);
}

/// <summary>One key to register: only its hash (a plain key is hashed at once and not kept).</summary>
internal readonly record struct ApiKeyRegistration(
    string Name,
    byte[] Hash,
    bool Enabled,
    ApiKeyRoles Roles,
    IReadOnlyList<string> Topics)
{
    /// <summary>A registration from a plain key (hashed here).</summary>
    public static ApiKeyRegistration FromKey(
        string name,
        string apiKey,
        bool enabled,
        ApiKeyRoles roles,
        IReadOnlyList<string>? topics = null)
    {
        if (!ApiKeyFormat.IsWellFormed(apiKey))
        {
            throw new ArgumentException($"API key '{name}' {ApiKeyFormat.DescribeProblem(apiKey)}", nameof(apiKey));
        }

        return new(name, ApiKeyHash.Of(apiKey), enabled, roles, topics ?? []);
    }
}

/// <summary>
/// The API keys the gateway accepts. Keys are held as SHA-256 hashes; a presented key is hashed and compared with
/// every stored hash in constant time (<see cref="CryptographicOperations.FixedTimeEquals"/>), so neither the
/// comparison nor the lookup order tells an attacker how close a guess was. The key table is immutable and swapped
/// whole on a reload (<see cref="Replace"/>) or a run-time disable (<see cref="SetDisabledAtRunTime"/>);
/// <see cref="Changed"/> then tells the open streams to check their key again.
/// </summary>
internal sealed class APIKeyManager
{
    private readonly Lock _gate = new();
    private readonly HashSet<string> _disabledAtRunTime = new(StringComparer.Ordinal);
    private ApiKeyRegistration[] _registrations;
    private ApiKeyIdentity[] _table;

    /// <exception cref="ArgumentException">Two entries with the same key (the message names the entries, never
    /// the key).</exception>
    public APIKeyManager(IEnumerable<ApiKeyRegistration> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _registrations = Checked(keys);
        _table = Build(_registrations, _disabledAtRunTime);
    }

    /// <summary>Raised (on the thread that made the change) after the key table changed.</summary>
    public event Action? Changed;

    /// <summary>Keys registered, enabled or not.</summary>
    public int Count => Volatile.Read(ref _table).Length;

    /// <summary>Keys registered and enabled.</summary>
    public int EnabledCount => Volatile.Read(ref _table).Count(e => e.Enabled);

    /// <summary>Every key, as now.</summary>
    public IReadOnlyList<ApiKeyIdentity> All => Volatile.Read(ref _table);

    /// <summary>Finds the enabled key equal to <paramref name="presentedKey"/>; false for a missing, malformed,
    /// unknown or disabled key.</summary>
    public bool TryAuthenticate(string? presentedKey, [NotNullWhen(true)] out ApiKeyIdentity? identity)
    {
        identity = null;
        if (!ApiKeyFormat.IsWellFormed(presentedKey)
            || Find(ApiKeyHash.Of(presentedKey)) is not { Enabled: true } found)
        {
            return false;
        }

        identity = found;
        return true;
    }

    /// <summary>The configured key (enabled or not) whose key is <paramref name="text"/>, if it is one: how a raw
    /// tenant key in <c>EventData.api_key</c> is turned into its name.</summary>
    public bool TryFindByKey(string text, [NotNullWhen(true)] out ApiKeyIdentity? identity)
    {
        identity = ApiKeyFormat.IsWellFormed(text) ? Find(ApiKeyHash.Of(text)) : null;
        return identity is not null;
    }

    /// <summary>The key with this hash as it is now (null when it was removed).</summary>
    public ApiKeyIdentity? Resolve(byte[] hash) => Find(hash);

    /// <summary>The key named <paramref name="name"/> now, if any.</summary>
    public ApiKeyIdentity? FindByName(string name) => Volatile.Read(ref _table).FirstOrDefault(e => e.Name == name);

    /// <summary>Replaces the configured keys (a reload). Run-time disables stay, by name.</summary>
    /// <exception cref="ArgumentException">Two entries with the same key.</exception>
    public void Replace(IEnumerable<ApiKeyRegistration> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var registrations = Checked(keys);
        lock (_gate)
        {
            _registrations = registrations;
            Volatile.Write(ref _table, Build(_registrations, _disabledAtRunTime));
        }

        Changed?.Invoke();
    }

    /// <summary>Disables (or enables again) a key by name until the gateway restarts, whatever the configuration
    /// says (enabling cannot enable a key the configuration disables). False when no key has that name.</summary>
    public bool SetDisabledAtRunTime(string name, bool disabled)
    {
        lock (_gate)
        {
            if (!_registrations.Any(r => r.Name == name))
            {
                return false;
            }

            if (disabled ? !_disabledAtRunTime.Add(name) : !_disabledAtRunTime.Remove(name))
            {
                return true;
            }

            Volatile.Write(ref _table, Build(_registrations, _disabledAtRunTime));
        }

        Changed?.Invoke();
        return true;
    }

    /// <summary>Whether a key was disabled at run time.</summary>
    public bool IsDisabledAtRunTime(string name)
    {
        lock (_gate)
        {
            return _disabledAtRunTime.Contains(name);
        }
    }

    private ApiKeyIdentity? Find(byte[] hash)
    {
        ApiKeyIdentity? found = null;
        foreach (var candidate in Volatile.Read(ref _table))
        {
            // No early exit: every entry is compared whatever matches.
            if (candidate.SameKey(hash))
            {
                found = candidate;
            }
        }

        return found;
    }

    private static ApiKeyRegistration[] Checked(IEnumerable<ApiKeyRegistration> keys)
    {
        var list = keys.ToArray();
        for (var i = 0; i < list.Length; i++)
        {
            for (var j = 0; j < i; j++)
            {
                if (CryptographicOperations.FixedTimeEquals(list[j].Hash, list[i].Hash))
                {
                    throw new ArgumentException(
                        $"API keys '{list[j].Name}' and '{list[i].Name}' are the same key",
                        nameof(keys));
                }
            }
        }

        return list;
    }

    private static ApiKeyIdentity[] Build(ApiKeyRegistration[] registrations, HashSet<string> disabled) =>
        [.. registrations.Select(r => new ApiKeyIdentity(
            r.Name,
            r.Roles,
            r.Enabled && !disabled.Contains(r.Name),
            r.Topics,
            r.Hash))];
}
