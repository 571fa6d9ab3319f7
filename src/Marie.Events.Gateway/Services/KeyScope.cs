using Grpc.Core;
using Marie.Events.Gateway.Auth;

namespace Marie.Events.Gateway.Services;

/// <summary>Whose state a call of a per-key service (dead letters, durable subscriptions) acts on: the caller's own
/// key, or, for an admin key only, the key it names.</summary>
internal static class KeyScope
{
    /// <summary>The key a call acts on.</summary>
    /// <param name="caller">The calling key.</param>
    /// <param name="requested">The key the request names ("" = the caller's).</param>
    /// <param name="what">What the call acts on, for the refusal ("dead letters").</param>
    /// <exception cref="RpcException">PERMISSION_DENIED: a non-admin key named another key.</exception>
    public static string For(ApiKeyIdentity caller, string requested, string what)
    {
        if (string.IsNullOrEmpty(requested) || requested == caller.Name)
        {
            return caller.Name;
        }

        return caller.IsAdmin
            ? requested
            : throw GrpcStatusMapper.Refuse(StatusCode.PermissionDenied,
                $"only an admin key may act on another key's {what}");
    }

    /// <summary>The calling key of a call the <see cref="ApiKeyInterceptor"/> authenticated.</summary>
    /// <exception cref="RpcException">UNAUTHENTICATED: no identity (the interceptor did not run).</exception>
    public static ApiKeyIdentity Caller(ServerCallContext context) =>
        ApiKeyInterceptor.GetIdentity(context)
            ?? throw new RpcException(new Status(StatusCode.Unauthenticated, "invalid or missing token"));
}
