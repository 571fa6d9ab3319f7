using Marie.Events.Gateway.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Marie.Events.Gateway.Telemetry;

/// <summary>Who may read <c>/metrics</c>: requests on the admin port only (404 elsewhere), with the admin key (401
/// without a valid key, 403 with a key that is not an admin's) unless <c>gateway.telemetry.metrics_anonymous</c>.
/// </summary>
internal static class MetricsAccess
{
    public static async Task CheckAsync(HttpContext http, RequestDelegate next, bool anonymous)
    {
        if (anonymous)
        {
            if (!http.RequestServices.GetRequiredService<GatewayEndpoints>().IsAdminRequest(http))
            {
                http.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
        }
        else
        {
            var (_, refusal) = AdminAuth.Check(http, typeof(MetricsAccess).FullName!);
            if (refusal is not null)
            {
                await refusal.ExecuteAsync(http).ConfigureAwait(false);
                return;
            }
        }

        await next(http).ConfigureAwait(false);
    }
}
