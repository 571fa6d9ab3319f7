using Marie.Events.Gateway.Configuration;
using Marie.Events.Gateway.Logging;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Auth;

/// <summary>Builds the <see cref="APIKeyManager"/>: the configured keys, or else the development keys.</summary>
internal static class ApiKeyBootstrap
{
    public static APIKeyManager Create(AuthOptions auth, GatewayOptions gateway, TextWriter console, ILogger logger)
    {
        var keys = auth.Keys;
        if (keys.Count == 0)
        {
            var path = DevKeyStore.PathFor(gateway.StateDir);
            (keys, var created) = DevKeyStore.LoadOrCreate(gateway.StateDir);
            if (created)
            {
                DevKeyStore.PrintBanner(console, path, keys);
                GatewayLog.DevKeysCreated(logger, path);
            }
            else
            {
                GatewayLog.DevKeysInUse(logger, path);
            }
        }

        var manager = new APIKeyManager(keys.Select(k =>
            new ApiKeyRegistration(k.Name, k.ApiKey, k.Enabled, ApiKeyRoleNames.ParseAll(k.Roles))));
        GatewayLog.KeysConfigured(logger, manager.Count, manager.EnabledCount);
        return manager;
    }
}
