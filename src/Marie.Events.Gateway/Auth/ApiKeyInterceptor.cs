using Grpc.Core;
using Grpc.Core.Interceptors;
using Marie.Events.Gateway.Logging;
using Microsoft.Extensions.Logging;
using PublisherService = Marie.Events.Protocol.EventPublisherService;

namespace Marie.Events.Gateway.Auth;

/// <summary>
/// Authenticates calls to EventStreamService, EventPublisherService, DeadLetterService, DurableService and
/// AdminService (installed per service, so health and reflection stay open): <c>authorization: Bearer &lt;key&gt;</c>
/// metadata; a missing, malformed, unknown or disabled key gets <see cref="StatusCode.Unauthenticated"/>. Publisher
/// methods also need role publisher or admin, stream, dead-letter and durable methods role subscriber or admin,
/// admin methods role admin (<see cref="StatusCode.PermissionDenied"/>). The caller's identity is left in
/// <see cref="ServerCallContext.UserState"/>. Failure lines are throttled (<see cref="AuthFailureLogs"/>).
/// </summary>
internal sealed class ApiKeyInterceptor(
    APIKeyManager keys,
    AuthFailureLogs failureLogs,
    ILogger<ApiKeyInterceptor> logger) : Interceptor
{
    /// <summary><see cref="ServerCallContext.UserState"/> key of the caller's <see cref="ApiKeyIdentity"/>.</summary>
    public const string IdentityKey = "marie.events.identity";

    private const string AuthorizationHeader = "authorization";

    private static readonly string PublisherMethodPrefix = "/" + PublisherService.Descriptor.FullName + "/";

    private static readonly string AdminMethodPrefix = "/" + Marie.Events.Protocol.AdminService.Descriptor.FullName
        + "/";

    private static readonly string StreamMethodPrefix = "/"
        + Marie.Events.Protocol.EventStreamService.Descriptor.FullName + "/";

    private static readonly string DeadLetterMethodPrefix = "/"
        + Marie.Events.Protocol.DeadLetterService.Descriptor.FullName + "/";

    private static readonly string DurableMethodPrefix = "/"
        + Marie.Events.Protocol.DurableService.Descriptor.FullName + "/";

    /// <summary>The identity the interceptor stored for this call.</summary>
    public static ApiKeyIdentity? GetIdentity(ServerCallContext context) =>
        context.UserState.TryGetValue(IdentityKey, out var value) ? value as ApiKeyIdentity : null;

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context,
        ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request,
        IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(requestStream, responseStream, context);
    }

    private void Authorize(ServerCallContext context)
    {
        var header = context.RequestHeaders.GetValue(AuthorizationHeader);
        var token = BearerToken.Parse(header);
        if (!keys.TryAuthenticate(token, out var identity))
        {
            if (!failureLogs.Grpc.TryEnter(out var suppressed))
            {
                throw new RpcException(new Status(StatusCode.Unauthenticated, "invalid or missing token"));
            }

            if (suppressed > 0)
            {
                SecurityLog.AuthFailuresSuppressed(logger, suppressed, "gRPC");
            }

            GatewayLog.GrpcAuthFailed(logger);
            if (logger.IsEnabled(LogLevel.Debug))
            {
                var reason = header is null ? "no authorization metadata"
                    : token is null ? "authorization is not 'Bearer <key>'"
                    : !ApiKeyFormat.IsWellFormed(token) ? "malformed key"
                    : "unknown or disabled key";
                GatewayLog.GrpcAuthFailureDetail(logger, context.Method, context.Peer, reason);
            }

            throw new RpcException(new Status(StatusCode.Unauthenticated, "invalid or missing token"));
        }

        if (context.Method.StartsWith(PublisherMethodPrefix, StringComparison.Ordinal) && !identity.CanPublish)
        {
            GatewayLog.GrpcPermissionDenied(logger, identity.Name, context.Method);
            throw new RpcException(
                new Status(StatusCode.PermissionDenied, "publishing needs a key with role publisher or admin"));
        }

        if (context.Method.StartsWith(StreamMethodPrefix, StringComparison.Ordinal) && !identity.CanSubscribe)
        {
            SecurityLog.SubscribePermissionDenied(logger, identity.Name, context.Method);
            throw new RpcException(
                new Status(
                    StatusCode.PermissionDenied,
                    "streaming and replay need a key with role subscriber or admin"));
        }

        if (context.Method.StartsWith(DeadLetterMethodPrefix, StringComparison.Ordinal) && !identity.CanSubscribe)
        {
            SecurityLog.SubscribePermissionDenied(logger, identity.Name, context.Method);
            throw new RpcException(
                new Status(StatusCode.PermissionDenied, "dead letters need a key with role subscriber or admin"));
        }

        if (context.Method.StartsWith(DurableMethodPrefix, StringComparison.Ordinal) && !identity.CanSubscribe)
        {
            SecurityLog.SubscribePermissionDenied(logger, identity.Name, context.Method);
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                "durable subscriptions need a key with role subscriber or admin"));
        }

        if (context.Method.StartsWith(AdminMethodPrefix, StringComparison.Ordinal) && !identity.IsAdmin)
        {
            SecurityLog.AdminGrpcPermissionDenied(logger, identity.Name, context.Method);
            throw new RpcException(
                new Status(StatusCode.PermissionDenied, "the admin service needs a key with role admin"));
        }

        context.UserState[IdentityKey] = identity;
    }
}
