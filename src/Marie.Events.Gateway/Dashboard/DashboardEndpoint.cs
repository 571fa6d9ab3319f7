using System.Collections.Frozen;
using Marie.Events.Gateway.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Marie.Events.Gateway.Dashboard;

/// <summary>
/// <c>GET /dashboard</c> on the admin port (404 on the gRPC port): the live dashboard, one page and its script and
/// style sheet, embedded in this assembly (nothing from the internet). The page itself needs no key; every figure
/// on it comes from the admin API (<c>/internal/stats</c>, <c>/internal/subscriptions</c>,
/// <c>/internal/connections</c>), called with the admin key the user types in.
/// </summary>
internal static class DashboardEndpoint
{
    public const string Path = "/dashboard";

    /// <summary>Only this gateway's own files: no inline script or style, no other origin, no framing.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, Asset> Assets = new Dictionary<string, Asset>
    {
        [Path] = Asset.Load("index.html", "text/html; charset=utf-8"),
        [Path + "/dashboard.js"] = Asset.Load("dashboard.js", "text/javascript; charset=utf-8"),
        [Path + "/dashboard.css"] = Asset.Load("dashboard.css", "text/css; charset=utf-8"),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    public static void Map(WebApplication app)
    {
        foreach (var path in Assets.Keys)
        {
            app.MapGet(path, Handle);
        }
    }

    private static IResult Handle(HttpContext http)
    {
        if (!http.RequestServices.GetRequiredService<GatewayEndpoints>().IsAdminRequest(http)
            || !Assets.TryGetValue(http.Request.Path.Value ?? "", out var asset))
        {
            return Results.NotFound();
        }

        var headers = http.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers.CacheControl = "no-store";
        headers["Referrer-Policy"] = "no-referrer";
        return Results.Bytes(asset.Content, asset.ContentType);
    }

    /// <summary>One embedded file (<c>Dashboard/assets/</c>, logical name
    /// <c>Marie.Events.Gateway.Dashboard.&lt;file&gt;</c>).</summary>
    private sealed record Asset(byte[] Content, string ContentType)
    {
        public static Asset Load(string file, string contentType)
        {
            var name = "Marie.Events.Gateway.Dashboard." + file;
            using var stream = typeof(DashboardEndpoint).Assembly.GetManifestResourceStream(name)
                ?? throw new InvalidOperationException($"The embedded dashboard file {name} is not in the build.");
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return new Asset(copy.ToArray(), contentType);
        }
    }
}
