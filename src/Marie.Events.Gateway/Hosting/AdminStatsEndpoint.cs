using System.Text.Json.Serialization;
using Marie.Events.Broker;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Logging;
using Marie.Events.Gateway.Toast;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Hosting;

/// <summary><c>GET /internal/stats</c> on the admin port: the broker's stats as snake_case JSON (the seed's
/// <c>stats()</c> shape plus extras). Needs <c>Authorization: Bearer &lt;admin key&gt;</c>.</summary>
internal static class AdminStatsEndpoint
{
    public const string Path = "/internal/stats";

    public static IResult Handle(HttpContext http, GatewayEndpoints endpoints, APIKeyManager keys, ILoggerFactory loggers)
    {
        if (!endpoints.IsAdminRequest(http))
        {
            return Results.NotFound();
        }

        var logger = loggers.CreateLogger(typeof(AdminStatsEndpoint).FullName!);
        var token = BearerToken.Parse(http.Request.Headers.Authorization.ToString());
        if (!keys.TryAuthenticate(token, out var identity))
        {
            GatewayLog.AdminAuthFailed(logger);
            http.Response.Headers.WWWAuthenticate = "Bearer";
            return Results.Json(new AdminError("invalid or missing token"), GatewayJsonContext.Default.AdminError, statusCode: StatusCodes.Status401Unauthorized);
        }

        if (!identity.IsAdmin)
        {
            GatewayLog.AdminPermissionDenied(logger, identity.Name);
            return Results.Json(new AdminError("an admin key is required"), GatewayJsonContext.Default.AdminError, statusCode: StatusCodes.Status403Forbidden);
        }

        // Resolved only now: the broker is created on first use.
        var stats = http.RequestServices.GetRequiredService<GrpcEventBroker>().Stats();
        var toast = http.RequestServices.GetRequiredService<ToastPipeline>().Stats();
        return Results.Json(StatsResponse.From(stats) with { Toast = toast }, GatewayJsonContext.Default.StatsResponse);
    }
}

/// <summary>An admin API error body.</summary>
internal sealed record AdminError(string Error);

/// <summary>The stats JSON: <c>connections, subscriptions, topics, in_flight_events, topic_stats{topic: {head,
/// buffered}}</c> plus the broker's counters.</summary>
internal sealed record StatsResponse(
    int Connections,
    int Subscriptions,
    int Topics,
    long InFlightEvents,
    IReadOnlyDictionary<string, TopicStatsResponse> TopicStats,
    long EventsPublished,
    long EventsDelivered,
    long EventsRedelivered,
    long EventsDropped,
    long EventsLost,
    long BackpressureSignals,
    long EventsAcked)
{
    /// <summary>Addition: the Toast pipeline's figures.</summary>
    public ToastStats? Toast { get; init; }

    public static StatsResponse From(BrokerStats s) => new(
        s.Connections,
        s.Subscriptions,
        s.Topics,
        s.InFlightEvents,
        s.TopicStats.ToDictionary(t => t.Key, t => new TopicStatsResponse(t.Value.Head, t.Value.Buffered), StringComparer.Ordinal),
        s.EventsPublished,
        s.EventsDelivered,
        s.EventsRedelivered,
        s.EventsDropped,
        s.EventsLost,
        s.BackpressureSignals,
        s.EventsAcked);
}

/// <summary>One topic in <c>topic_stats</c>: the seed's <c>{head, buffered}</c>.</summary>
internal sealed record TopicStatsResponse(long Head, int Buffered);

/// <summary>Source-generated JSON, snake_case property names (dictionary keys, i.e. topics, are kept as they are).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(StatsResponse))]
[JsonSerializable(typeof(AdminError))]
internal sealed partial class GatewayJsonContext : JsonSerializerContext;
