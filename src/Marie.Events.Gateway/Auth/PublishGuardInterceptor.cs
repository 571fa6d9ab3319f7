using Grpc.Core;
using Grpc.Core.Interceptors;
using Marie.Events.Gateway.Services;
using Marie.Events.Gateway.Streams;
using Marie.Events.Protocol;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Auth;

/// <summary>
/// The publish path's guard for <c>EventPublisherService</c>, after <see cref="ApiKeyInterceptor"/> authenticated
/// the caller: every request's event goes through <see cref="PublishAdmission"/> (the one validation) before the
/// service sees it, and <c>PublishStream</c> calls are open streams of their key (<see cref="StreamRegistry"/>):
/// counted against <c>max_streams_per_key</c> and ended when the key is revoked.
/// </summary>
internal sealed class PublishGuardInterceptor(
    PublishAdmission admission,
    StreamRegistry streams,
    IHostApplicationLifetime lifetime) : Interceptor
{
    /// <summary>The error for a key-shaped <c>api_key</c> that is no configured key (the value is not
    /// repeated).</summary>
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        if (request is PublishRequest publish)
        {
            Prepare(publish, Caller(context), index: null, PublishTraceContext.Of(context));
        }

        return await continuation(request, context).ConfigureAwait(false);
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(
            context.CancellationToken,
            lifetime.ApplicationStopping);
        using var stream = streams.Open(
            Caller(context),
            StreamKind.Publish,
            Guid.NewGuid().ToString("N"),
            stop,
            context.Peer);
        using var reader = new GuardedReader<TRequest>(
            requestStream,
            this,
            stream,
            PublishTraceContext.Of(context),
            stop.Token);
        try
        {
            await continuation(reader, responseStream, context).ConfigureAwait(false);
        }
        catch (Exception ex) when (stream.ClosedWith is not null && ex is not RpcException)
        {
            // Revoked: the read was cancelled; the call ends with the revocation's status below.
        }

        stream.ThrowIfRevoked();
    }

    private static ApiKeyIdentity Caller(ServerCallContext context) =>
        ApiKeyInterceptor.GetIdentity(context) ?? throw new RpcException(
            new Status(StatusCode.Unauthenticated, "invalid or missing token"));

    /// <summary>Turns a raw key topic into its name and checks the caller may publish there.</summary>
    private void Prepare(PublishRequest request, ApiKeyIdentity caller, int? index, PublishTraceContext trace) =>
        admission.Admit(request, caller, index, trace);

    private sealed class GuardedReader<T>(
        IAsyncStreamReader<T> inner,
        PublishGuardInterceptor guard,
        RegisteredStream stream,
        PublishTraceContext trace,
        CancellationToken stop)
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

            stream.ThrowIfRevoked();
            if (inner.Current is PublishRequest request)
            {
                guard.Prepare(request, stream.Identity, _index, trace);
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
