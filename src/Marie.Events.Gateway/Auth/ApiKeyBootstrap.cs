using Marie.Events.Gateway.Configuration;
using Marie.Events.Gateway.Logging;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Auth;

/// <summary>Builds the <see cref="APIKeyManager"/>: the configured keys, or else the development keys.</summary>
internal static class ApiKeyBootstrap
{
    public static APIKeyManager Create(AuthOptions auth, GatewayOptions gateway, TextWriter console, ILogger logger)
    {
        var manager = new APIKeyManager(Registrations(KeysFor(auth, gateway, console, logger)));
        GatewayLog.KeysConfigured(logger, manager.Count, manager.EnabledCount);
        return manager;
    }

    /// <summary>The configured keys; when there are none, the development keys (created, and printed once, on the
    /// first run).</summary>
    public static List<ApiKeyOptions> KeysFor(
        AuthOptions auth,
        GatewayOptions gateway,
        TextWriter console,
        ILogger logger)
    {
        if (auth.Keys.Count > 0)
        {
            return auth.Keys;
        }

        var path = DevKeyStore.PathFor(gateway.StateDir);
        var (keys, created) = DevKeyStore.LoadOrCreate(gateway.StateDir);
        if (created)
        {
            DevKeyStore.PrintBanner(console, path, keys);
            GatewayLog.DevKeysCreated(logger, path);
        }
        else
        {
            GatewayLog.DevKeysInUse(logger, path);
        }

        return keys;
    }

    /// <summary>Validated entries as registrations: a plain <c>api_key</c> is hashed here, an <c>api_key_sha256</c>
    /// parsed.</summary>
    public static IEnumerable<ApiKeyRegistration> Registrations(IEnumerable<ApiKeyOptions> keys) =>
        keys.Select(k =>
        {
            var roles = ApiKeyRoleNames.ParseAll(k.Roles);
            var topics = k.Topics.Select(t => t.Trim()).ToArray();
            if (!string.IsNullOrWhiteSpace(k.ApiKeySha256))
            {
                return ApiKeyHash.TryParseHex(k.ApiKeySha256, out var hash)
                    ? new ApiKeyRegistration(k.Name, hash, k.Enabled, roles, topics)
                    : throw new ArgumentException(
                        $"API key '{k.Name}': api_key_sha256 must be 64 hexadecimal characters",
                        nameof(keys));
            }

            return ApiKeyRegistration.FromKey(k.Name, k.ApiKey, k.Enabled, roles, topics);
        });
}
