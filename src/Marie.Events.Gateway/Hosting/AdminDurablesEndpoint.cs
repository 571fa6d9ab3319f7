using System.Text.Json.Serialization;
using Marie.Events.Broker;
using Marie.Events.Broker.Durables;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Marie.Events.Gateway.Hosting;

/// <summary>
/// Durable subscriptions on the admin port (admin keys): <c>GET /internal/durables?key=</c> lists them (every key's,
/// or the named key's) with the durable counters, <c>DELETE /internal/durables/{key}/{name}</c> deletes one no
/// stream holds (409 while one does, 404 when there is none), with its state in the backend.
/// </summary>
internal static class AdminDurablesEndpoint
{
    public const string ListPath = "/internal/durables";
    public const string DeletePath = "/internal/durables/{key}/{name}";

    public static void Map(WebApplication app)
    {
        app.MapGet(ListPath, List);
        app.MapDelete(DeletePath, DeleteAsync);
    }

    private static IResult List(HttpContext http)
    {
        var (_, refusal) = AdminAuth.Check(http, typeof(AdminDurablesEndpoint).FullName!);
        if (refusal is not null)
        {
            return refusal;
        }

        var key = http.Request.Query["key"].ToString();
        var broker = http.RequestServices.GetRequiredService<GrpcEventBroker>();
        var listed = broker.ListDurables(key.Length == 0 ? null : key).Select(ToResponse).ToList();
        var stats = broker.DurableStats();
        return Results.Json(new DurablesResponse(listed, stats.Count, stats.Created, stats.Expired, stats.Deleted),
            DurablesJsonContext.Default.DurablesResponse);
    }

    private static async Task<IResult> DeleteAsync(HttpContext http, string key, string name)
    {
        var (_, refusal) = AdminAuth.Check(http, typeof(AdminDurablesEndpoint).FullName!);
        if (refusal is not null)
        {
            return refusal;
        }

        var broker = http.RequestServices.GetRequiredService<GrpcEventBroker>();
        var outcome = await broker.DeleteDurableAsync(key, name, http.RequestAborted).ConfigureAwait(false);
        return outcome switch
        {
            DurableDeleteOutcome.Deleted => Results.Json(new DurableDeleted(key, name),
                DurablesJsonContext.Default.DurableDeleted),
            DurableDeleteOutcome.InUse => Error(StatusCodes.Status409Conflict,
                $"durable subscription '{name}' of key '{key}' is held by a stream: end it first"),
            _ => Error(StatusCodes.Status404NotFound, $"key '{key}' has no durable subscription '{name}'"),
        };
    }

    private static IResult Error(int status, string message) =>
        Results.Json(new AdminError(message), DurablesJsonContext.Default.AdminError, statusCode: status);

    private static DurableResponse ToResponse(DurableInfo info) => new(
        info.Key,
        info.Name,
        info.Group,
        info.Members,
        info.Members > 0 ? null : info.LastActiveAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        info.ExpiresAt?.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        [.. info.Topics.Select(t => new DurableTopicResponse(t.Topic, t.Epoch, t.Acked, t.Delivered,
            t.Pending.Count))]);
}

/// <summary>The answer of <c>GET /internal/durables</c>: the durables listed, and over every key the durables held
/// now and those created, expired (<c>durable.inactive_ttl_s</c>) and deleted since start.</summary>
internal sealed record DurablesResponse(
    List<DurableResponse> Durables,
    int Held,
    long Created,
    long Expired,
    long Deleted);

/// <summary>One durable subscription: <c>inactive_since</c> and <c>expires_at</c> (when the inactive TTL removes
/// it) are null while a stream holds it.</summary>
internal sealed record DurableResponse(
    string Key,
    string Name,
    string Group,
    int Members,
    string? InactiveSince,
    string? ExpiresAt,
    List<DurableTopicResponse> Topics);

/// <summary>A durable's position on one topic: every sequence up to <c>acked</c> is settled, <c>delivered</c> is
/// the highest handed out, <c>pending</c> counts the unacknowledged ones between.</summary>
internal sealed record DurableTopicResponse(string Topic, string Epoch, long Acked, long Delivered, int Pending);

/// <summary>The answer of a delete.</summary>
internal sealed record DurableDeleted(string Key, string Name);

/// <summary>Source-generated JSON of the durables API, snake_case like the other admin answers.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(DurablesResponse))]
[JsonSerializable(typeof(DurableDeleted))]
[JsonSerializable(typeof(AdminError))]
internal sealed partial class DurablesJsonContext : JsonSerializerContext;
