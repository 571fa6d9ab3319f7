using System.Text.Json;
using Grpc.Core;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Hosting;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;
using Proto = Marie.Events.Protocol;

namespace Marie.Events.Gateway.Services;

/// <summary>
/// <c>marieai.events.AdminService</c>: the admin API on the gRPC port, role admin only
/// (<see cref="ApiKeyInterceptor"/>). The figures and key operations are built by the HTTP endpoints' code
/// (<see cref="AdminStatsEndpoint.BuildAsync"/>, <see cref="AdminKeysEndpoint"/>), so both APIs answer the same.
/// </summary>
internal sealed class AdminGrpcService(
    IServiceProvider services,
    ILogger<AdminGrpcService> logger) : Proto.AdminService.AdminServiceBase
{
    public override async Task<GetStatsResponse> GetStats(GetStatsRequest request, ServerCallContext context)
    {
        var stats = await AdminStatsEndpoint.BuildAsync(
            services,
            AdminOf(context),
            context.CancellationToken).ConfigureAwait(false);
        var response = new GetStatsResponse
        {
            Json = JsonSerializer.Serialize(stats, GatewayJsonContext.Default.StatsResponse),
            Connections = stats.Connections,
            Subscriptions = stats.Subscriptions,
            Topics = stats.Topics,
            InFlightEvents = stats.InFlightEvents,
            EventsPublished = stats.EventsPublished,
            EventsDelivered = stats.EventsDelivered,
            EventsAcked = stats.EventsAcked,
            EventsRedelivered = stats.EventsRedelivered,
            EventsDropped = stats.EventsDropped,
            EventsLost = stats.EventsLost,
            Gateway = stats.Gateway ?? "",
            Backend = stats.Backend ?? "",
            TopicStatsFrom = stats.TopicStatsFrom ?? "",
        };
        foreach (var (topic, figures) in stats.TopicStats)
        {
            response.TopicStats[topic] = new AdminTopicStats { Head = figures.Head, Buffered = figures.Buffered };
        }

        return response;
    }

    public override Task<ListKeysResponse> ListKeys(ListKeysRequest request, ServerCallContext context)
    {
        var response = new ListKeysResponse();
        response.Keys.AddRange(AdminKeysEndpoint.ListKeys(services).Select(ToProto));
        return Task.FromResult(response);
    }

    public override Task<KeyStateResponse> DisableKey(KeyStateRequest request, ServerCallContext context) =>
        Task.FromResult(SetDisabled(request, context, disabled: true));

    public override Task<KeyStateResponse> EnableKey(KeyStateRequest request, ServerCallContext context) =>
        Task.FromResult(SetDisabled(request, context, disabled: false));

    private KeyStateResponse SetDisabled(KeyStateRequest request, ServerCallContext context, bool disabled)
    {
        if (string.IsNullOrEmpty(request.Name))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "name is required"));
        }

        var change = AdminKeysEndpoint.TrySetDisabled(services, request.Name, disabled, AdminOf(context).Name, logger)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"no key is named '{request.Name}'"));
        return new KeyStateResponse { Key = ToProto(change.Key), StreamsClosed = change.StreamsClosed };
    }

    private static ApiKeyIdentity AdminOf(ServerCallContext context) =>
        ApiKeyInterceptor.GetIdentity(context) ?? throw new RpcException(
            new Status(StatusCode.Unauthenticated, "invalid or missing token"));

    private static AdminKeyInfo ToProto(KeyInfo key)
    {
        var info = new AdminKeyInfo
        {
            Name = key.Name,
            Fingerprint = key.Fingerprint,
            Enabled = key.Enabled,
            DisabledAtRunTime = key.DisabledAtRunTime,
            OpenStreams = key.OpenStreams,
        };
        info.Roles.AddRange(key.Roles);
        info.Topics.AddRange(key.Topics);
        return info;
    }
}
