using Marie.Events.Broker;
using Marie.Events.Gateway.Streams;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Marie.Events.Gateway.Hosting;

/// <summary><c>GET /internal/connections</c> on the admin port: every open stream (<c>StreamEvents</c> and
/// <c>PublishStream</c>) with its key name, peer address and opened time, joined with its broker connection's
/// figures (event streams), as snake_case JSON. Needs <c>Authorization: Bearer &lt;admin key&gt;</c>.</summary>
internal static class AdminConnectionsEndpoint
{
    public const string Path = "/internal/connections";

    public static IResult Handle(HttpContext http)
    {
        var (_, refusal) = AdminAuth.Check(http, typeof(AdminConnectionsEndpoint).FullName!);
        if (refusal is not null)
        {
            return refusal;
        }

        var services = http.RequestServices;
        var response = ConnectionsResponse.Join(
            services.GetRequiredService<StreamRegistry>().Snapshot(),
            services.GetRequiredService<GrpcEventBroker>().DescribeConnections(),
            services.GetRequiredService<TimeProvider>().GetUtcNow());
        return Results.Json(response, GatewayJsonContext.Default.ConnectionsResponse);
    }
}

/// <summary>The body of <c>GET /internal/connections</c>.</summary>
internal sealed record ConnectionsResponse(IReadOnlyList<ConnectionResponse> Connections)
{
    /// <summary>One entry per open stream, oldest first; a broker connection whose stream has already left the
    /// registry (the call is ending) is listed without peer and opened time.</summary>
    public static ConnectionsResponse Join(
        IReadOnlyList<OpenStreamSnapshot> streams,
        IReadOnlyList<ConnectionSnapshot> connections,
        DateTimeOffset now)
    {
        var byId = connections.ToDictionary(c => c.Id, StringComparer.Ordinal);
        var result = new List<ConnectionResponse>(streams.Count);
        foreach (var stream in streams)
        {
            byId.Remove(stream.Id, out var broker);
            result.Add(new ConnectionResponse(
                stream.Id,
                stream.Kind == StreamKind.Events ? "events" : "publish",
                stream.KeyName,
                stream.Peer,
                stream.OpenedAt,
                Math.Max(0, (now - stream.OpenedAt).TotalSeconds),
                broker?.Subscriptions,
                broker?.InFlight,
                broker?.QueuedReplies));
        }

        foreach (var broker in connections.Where(c => byId.ContainsKey(c.Id)))
        {
            result.Add(new ConnectionResponse(
                broker.Id, "events", broker.Owner, null, null, null,
                broker.Subscriptions, broker.InFlight, broker.QueuedReplies));
        }

        return new ConnectionsResponse(result);
    }
}

/// <summary>One open stream: <c>id</c>, <c>kind</c> (<c>events</c> or <c>publish</c>), <c>key_name</c>,
/// <c>peer</c>, <c>opened_at</c>, <c>open_for_s</c>, and for event streams <c>subscriptions</c>, <c>in_flight</c>
/// and <c>queued_replies</c> (frames waiting in its write queue; null for publish streams).</summary>
internal sealed record ConnectionResponse(
    string Id,
    string Kind,
    string KeyName,
    string? Peer,
    DateTimeOffset? OpenedAt,
    double? OpenForS,
    int? Subscriptions,
    int? InFlight,
    int? QueuedReplies);
