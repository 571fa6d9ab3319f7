using System.Text.Json.Serialization;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Logging;
using Marie.Events.Gateway.Streams;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Hosting;

/// <summary>
/// Key management on the admin port (role admin): <c>GET /internal/keys</c> lists the keys (names, fingerprints,
/// roles, topics, state, open streams; never a key); <c>POST /internal/keys/{name}/disable</c> disables a key until
/// the gateway restarts, closing its open streams with <c>UNAUTHENTICATED</c> at once; <c>POST
/// /internal/keys/{name}/enable</c> lifts that (a key the configuration disables stays disabled).
/// </summary>
internal static class AdminKeysEndpoint
{
    public const string ListPath = "/internal/keys";
    public const string DisablePath = "/internal/keys/{name}/disable";
    public const string EnablePath = "/internal/keys/{name}/enable";

    public static IResult List(HttpContext http)
    {
        var (_, refusal) = AdminAuth.Check(http, typeof(AdminKeysEndpoint).FullName!);
        if (refusal is not null)
        {
            return refusal;
        }

        return Results.Json(ListKeys(http.RequestServices), GatewayJsonContext.Default.ListKeyInfo);
    }

    /// <summary>The keys, as <c>GET /internal/keys</c> and <c>AdminService.ListKeys</c> answer them.</summary>
    public static List<KeyInfo> ListKeys(IServiceProvider services)
    {
        var keys = services.GetRequiredService<APIKeyManager>();
        var streams = services.GetRequiredService<StreamRegistry>();
        return keys.All.Select(k => Describe(k, keys, streams)).ToList();
    }

    public static IResult Disable(HttpContext http, string name) => SetDisabled(http, name, disabled: true);

    public static IResult Enable(HttpContext http, string name) => SetDisabled(http, name, disabled: false);

    private static IResult SetDisabled(HttpContext http, string name, bool disabled)
    {
        var (admin, refusal) = AdminAuth.Check(http, typeof(AdminKeysEndpoint).FullName!);
        if (refusal is not null)
        {
            return refusal;
        }

        var logger = http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(
            typeof(AdminKeysEndpoint).FullName!);
        var result = TrySetDisabled(http.RequestServices, name, disabled, admin!.Name, logger);
        return result is null
            ? Results.Json(
                new AdminError($"no key is named '{name}'"),
                GatewayJsonContext.Default.AdminError,
                statusCode: StatusCodes.Status404NotFound)
            : Results.Json(result, GatewayJsonContext.Default.KeyStateChange);
    }

    /// <summary>Disables or enables a key at run time (the HTTP and gRPC admin calls): null when no key has that
    /// name. A disable revokes the key's streams before it returns.</summary>
    public static KeyStateChange? TrySetDisabled(
        IServiceProvider services,
        string name,
        bool disabled,
        string adminName,
        ILogger logger)
    {
        var keys = services.GetRequiredService<APIKeyManager>();
        var streams = services.GetRequiredService<StreamRegistry>();
        var open = streams.CountFor(name);
        // Revokes the key's streams before it returns (the registry reviews them on the change).
        if (!keys.SetDisabledAtRunTime(name, disabled))
        {
            return null;
        }

        if (disabled)
        {
            SecurityLog.KeyDisabledAtRunTime(logger, name, adminName);
        }
        else
        {
            SecurityLog.KeyEnabledAtRunTime(logger, name, adminName);
        }

        var key = keys.FindByName(name)!;
        return new KeyStateChange(Describe(key, keys, streams), disabled ? open - streams.CountFor(name) : 0);
    }

    private static KeyInfo Describe(ApiKeyIdentity key, APIKeyManager keys, StreamRegistry streams) => new(
        key.Name,
        key.Fingerprint,
        ApiKeyRoleNames.Describe(key.Roles),
        key.IsAdmin ? ["*"] : key.Topics.Count == 0 ? [key.Name] : [.. key.Topics],
        key.Enabled,
        keys.IsDisabledAtRunTime(key.Name),
        streams.CountFor(key.Name));
}

/// <summary>One key as the admin API shows it: never the key itself.</summary>
internal sealed record KeyInfo(
    string Name,
    string Fingerprint,
    IReadOnlyList<string> Roles,
    IReadOnlyList<string> Topics,
    bool Enabled,
    [property: JsonPropertyName("disabled_at_run_time")] bool DisabledAtRunTime,
    int OpenStreams);

/// <summary>The answer to a disable or enable call.</summary>
internal sealed record KeyStateChange(KeyInfo Key, int StreamsClosed);
