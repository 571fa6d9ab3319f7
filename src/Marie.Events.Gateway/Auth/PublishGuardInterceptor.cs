using System.Globalization;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Marie.Events.Broker.Limits;
using Marie.Events.Gateway.Logging;
using Marie.Events.Protocol;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Auth;

/// <summary>
/// Tenant rules for <c>EventPublisherService</c>, after <see cref="ApiKeyInterceptor"/> authenticated the caller:
/// <list type="bullet">
/// <item><c>event.api_key</c> holding a configured key is replaced by that key's name (the topic); one that has the
/// form of a key the gateway does not know is refused (<c>INVALID_ARGUMENT</c>), so no raw key becomes a topic;</item>
/// <item>the caller may publish only to the topics its key lists (<c>PERMISSION_DENIED</c>);</item>
/// <item><c>PublishStream</c> calls are open streams of their key (<see cref="StreamRegistry"/>): counted against
/// <c>max_streams_per_key</c> and ended when the key is revoked;</item>
/// <item>a broker limit (<c>max_topics</c>, <c>max_string_length</c>) is <c>RESOURCE_EXHAUSTED</c>.</item>
/// </list>
/// </summary>
internal sealed class PublishGuardInterceptor(
    APIKeyManager keys,
    StreamRegistry streams,
    IHostApplicationLifetime lifetime,
    ILogger<PublishGuardInterceptor> logger) : Interceptor
{
    /// <summary>The error for a key-shaped <c>api_key</c> that is no configured key (the value is not repeated).</summary>
    public const string UnknownKeyMessage = "event.api_key has the form of an API key the gateway does not know: use a configured key or a topic name";

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        if (request is PublishRequest publish)
        {
            Prepare(publish, Caller(context), index: null);
        }

        try
        {
            return await continuation(request, context).ConfigureAwait(false);
        }
        catch (BrokerLimitException ex)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, ex.Message));
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        using var session = streams.Open(Caller(context), StreamKind.Publish, Guid.NewGuid().ToString("N"), stop);
        using var reader = new GuardedReader<TRequest>(requestStream, this, session, stop.Token);
        try
        {
            await continuation(reader, responseStream, context).ConfigureAwait(false);
        }
        catch (BrokerLimitException ex)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, ex.Message));
        }
        catch (Exception ex) when (session.ClosedWith is not null && ex is not RpcException)
        {
            // Revoked: the read was cancelled; the call ends with the revocation's status below.
        }

        session.ThrowIfRevoked();
    }

    private static ApiKeyIdentity Caller(ServerCallContext context) =>
        ApiKeyInterceptor.GetIdentity(context) ?? throw new RpcException(new Status(StatusCode.Unauthenticated, "invalid or missing token"));

    /// <summary>Turns a raw key topic into its name and checks the caller may publish there.</summary>
    private void Prepare(PublishRequest request, ApiKeyIdentity caller, int? index)
    {
        var evt = request.Event;
        if (evt is null || evt.ApiKey.Length == 0)
        {
            // The service answers a missing event or topic.
            return;
        }

        if (ApiKeyFormat.IsWellFormed(evt.ApiKey))
        {
            if (!keys.TryFindByKey(evt.ApiKey, out var owner))
            {
                throw Refuse(StatusCode.InvalidArgument, UnknownKeyMessage, index);
            }

            evt.ApiKey = owner.Name;
        }

        if (!caller.Access.CanSee(evt.ApiKey))
        {
            SecurityLog.PublishDenied(logger, caller.Name, evt.ApiKey);
            throw Refuse(StatusCode.PermissionDenied, $"this key may not publish to topic '{evt.ApiKey}'", index);
        }
    }

    private static RpcException Refuse(StatusCode code, string message, int? index) =>
        new(new Status(code, index is { } i ? string.Create(CultureInfo.InvariantCulture, $"request {i}: {message}") : message));

    /// <summary>The request stream of a <c>PublishStream</c> call: each request checked with the key as it is now,
    /// reads cancelled when the key is revoked.</summary>
    private sealed class GuardedReader<T>(IAsyncStreamReader<T> inner, PublishGuardInterceptor guard, StreamSession session, CancellationToken stop)
        : IAsyncStreamReader<T>, IDisposable
    {
        private int _index;

        /// <summary>The caller's token linked with the stream's stop, made once for the token the service passes on
        /// every read (a linked source per request was one of the largest allocations per published event).</summary>
        private CancellationTokenSource? _linked;
        private CancellationToken _linkedFor;

        public T Current => inner.Current;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            if (!await inner.MoveNext(LinkedWith(cancellationToken)).ConfigureAwait(false))
            {
                return false;
            }

            session.ThrowIfRevoked();
            if (inner.Current is PublishRequest request)
            {
                guard.Prepare(request, session.Identity, _index);
            }

            _index++;
            return true;
        }

        private CancellationToken LinkedWith(CancellationToken cancellationToken)
        {
            if (!cancellationToken.CanBeCanceled || cancellationToken == stop)
            {
                return stop;
            }

            if (_linked is null || _linkedFor != cancellationToken)
            {
                _linked?.Dispose();
                _linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stop);
                _linkedFor = cancellationToken;
            }

            return _linked.Token;
        }

        public void Dispose() => _linked?.Dispose();
    }
}
