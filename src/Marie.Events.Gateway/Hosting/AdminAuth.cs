using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Logging;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Hosting;

/// <summary>The admin API's checks: the admin port only (404 elsewhere), <c>Authorization: Bearer &lt;key&gt;</c>
/// (401), role admin (403). Failure lines are throttled like the gRPC ones.</summary>
internal static class AdminAuth
{
    /// <summary>The admin key of the request, or the response refusing it.</summary>
    public static (ApiKeyIdentity? Admin, IResult? Refusal) Check(HttpContext http, string category)
    {
        var services = http.RequestServices;
        if (!services.GetRequiredService<GatewayEndpoints>().IsAdminRequest(http))
        {
            return (null, Results.NotFound());
        }

        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(category);
        var token = BearerToken.Parse(http.Request.Headers.Authorization.ToString());
        if (!services.GetRequiredService<APIKeyManager>().TryAuthenticate(token, out var identity))
        {
            if (services.GetRequiredService<AuthFailureLogs>().Admin.TryEnter(out var suppressed))
            {
                if (suppressed > 0)
                {
                    SecurityLog.AuthFailuresSuppressed(logger, suppressed, "admin API");
                }

                GatewayLog.AdminAuthFailed(logger);
            }

            http.Response.Headers.WWWAuthenticate = "Bearer";
            return (
                null,
                Results.Json(
                    new AdminError("invalid or missing token"),
                    GatewayJsonContext.Default.AdminError,
                    statusCode: StatusCodes.Status401Unauthorized));
        }

        if (!identity.IsAdmin)
        {
            GatewayLog.AdminPermissionDenied(logger, identity.Name);
            return (
                null,
                Results.Json(
                    new AdminError("an admin key is required"),
                    GatewayJsonContext.Default.AdminError,
                    statusCode: StatusCodes.Status403Forbidden));
        }

        return (identity, null);
    }
}
