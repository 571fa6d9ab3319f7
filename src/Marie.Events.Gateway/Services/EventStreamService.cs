using Grpc.Core;
using Marie.Events.Broker;
using Marie.Events.Broker.Access;
using Marie.Events.Broker.Connections;
using Marie.Events.Broker.Limits;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Logging;
using Marie.Events.Gateway.Streams;
using Marie.Events.Protocol;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Services;

/// <summary>
/// <c>marieai.events.EventStreamService</c>: each <c>StreamEvents</c> call is one broker connection, pumped by two
/// loops: the reader feeds client messages to the broker, the writer sends whatever the connection has ready,
/// batching writes while more is ready. Bound by <see cref="EventStreamBinding"/>.
/// </summary>
internal sealed class EventStreamService(
    GrpcEventBroker broker,
    StreamRegistry streams,
    IHostApplicationLifetime lifetime,
    ILogger<EventStreamService> logger) : EventStreamServiceBase
{
    /// <summary>Write without flushing: more messages follow at once.</summary>
    private static readonly WriteOptions Buffered = new(WriteFlags.BufferHint);

    /// <summary>Write and flush: the last message ready for now.</summary>
    private static readonly WriteOptions Flushed = new();

    public override async Task StreamEvents(
        IAsyncStreamReader<ClientMessage> requestStream,
        IServerStreamWriter<OutboundFrame> responseStream,
        ServerCallContext context)
    {
        var id = Guid.NewGuid().ToString("N");

        // Ends both loops when the client goes away, the gateway stops (streams would otherwise hold shutdown) or
        // the key is revoked.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(
            context.CancellationToken,
            lifetime.ApplicationStopping);
        using var stream = streams.Open(CallerOf(context), StreamKind.Events, id, stop, context.Peer);
        using var conn = broker.Connect(id, stream.Identity.Access, stream.Identity.Name);
        stream.Attach(conn);
        GatewayLog.StreamOpened(logger, id);
        if (logger.IsEnabled(LogLevel.Debug))
        {
            var topics = stream.Identity.Access.ToString();
            SecurityLog.StreamKey(logger, id, stream.Identity.Name, stream.Identity.Fingerprint, topics);
        }

        var token = stop.Token;
        var reader = ReadLoopAsync(conn, stream, requestStream, logger, token);
        var writer = WriteLoopAsync(conn, responseStream, token);
        try
        {
            var first = await Task.WhenAny(reader, writer).ConfigureAwait(false);
            await first.ConfigureAwait(false);
            if (first == reader)
            {
                // The client completed its requests: a server stream goes on until the call is cancelled.
                GatewayLog.StreamRequestsCompleted(logger, id);
                await writer.ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException
            || (token.IsCancellationRequested && ex is OperationCanceledException or InvalidOperationException))
        {
            // The client went away or the gateway is stopping: the loops' exceptions are the expected end.
        }
        catch (Exception ex) when (ex is not RpcException)
        {
            GatewayLog.StreamFailed(logger, id, ex);
            throw new RpcException(new Status(StatusCode.Internal, "event stream failed"));
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await ObserveAsync(reader, writer).ConfigureAwait(false);
            // The key's stream slot is free from here (before the line that says the stream closed).
            stream.Dispose();
            GatewayLog.StreamClosed(logger, id);
        }

        stream.ThrowIfRevoked();
        if (lifetime.ApplicationStopping.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            GatewayLog.StreamEndedByShutdown(logger, id);
            throw new RpcException(
                new Status(StatusCode.Unavailable, "the gateway is shutting down; reconnect and resume"));
        }
    }

    public override Task<ReplayResponse> GetReplayBuffer(ReplayRequest request, ServerCallContext context)
    {
        var caller = CallerOf(context);
        try
        {
            request.Topic = TopicNames.ForCaller(request.Topic, caller)
                ?? throw new RpcException(new Status(StatusCode.PermissionDenied, TopicNames.ForeignKeyMessage));
            return Task.FromResult(broker.GetReplayBuffer(request, caller.Access));
        }
        catch (Exception ex) when (ex is ArgumentException or TopicAccessDeniedException or BrokerLimitException)
        {
            if (ex is TopicAccessDeniedException)
            {
                SecurityLog.CallRefused(logger, "GetReplayBuffer", caller.Name, ex.Message);
            }

            throw GrpcStatusMapper.ToRpcException(ex);
        }
    }

    /// <summary>The key the auth interceptor authenticated (it runs before every method of this service).</summary>
    private static ApiKeyIdentity CallerOf(ServerCallContext context) =>
        ApiKeyInterceptor.GetIdentity(context) ?? throw new RpcException(
            new Status(StatusCode.Unauthenticated, "invalid or missing token"));

    /// <summary>Feeds the client's messages to the broker, topics read as key names (a topic holding another key is
    /// answered here and never reaches the broker).</summary>
    private static async Task ReadLoopAsync(
        BrokerConnection conn,
        RegisteredStream stream,
        IAsyncStreamReader<ClientMessage> requests,
        ILogger logger,
        CancellationToken token)
    {
        while (await requests.MoveNext(token).ConfigureAwait(false))
        {
            var message = requests.Current;
            if (TopicNames.Rewrite(message, stream.Identity) is { } refusal)
            {
                SecurityLog.ForeignKeyTopicRefused(logger, stream.Id, stream.Identity.Name);
                await conn.RejectAsync(
                    refusal.SubscriptionId,
                    ErrorCode.ErrorPermissionDenied,
                    TopicNames.ForeignKeyMessage,
                    [new("field", refusal.Field)],
                    token).ConfigureAwait(false);
                continue;
            }

            await conn.HandleAsync(message, token).ConfigureAwait(false);
        }
    }

    /// <summary>Writes everything ready, buffering while more is immediately readable and flushing after the
    /// last.</summary>
    private static async Task WriteLoopAsync(
        BrokerConnection conn,
        IServerStreamWriter<OutboundFrame> responses,
        CancellationToken token)
    {
        // Two frames, refilled in turn: a frame is serialized before WriteAsync returns, and the next one is read
        // before the current one is written so the current write knows whether to flush.
        var current = new OutboundFrame();
        var next = new OutboundFrame();
        while (await conn.WaitToReadAsync(token).ConfigureAwait(false))
        {
            if (!conn.TryReadFrame(current))
            {
                continue;
            }

            while (true)
            {
                var more = conn.TryReadFrame(next);
                responses.WriteOptions = more ? Buffered : Flushed;
                await responses.WriteAsync(current, token).ConfigureAwait(false);
                if (!more)
                {
                    break;
                }

                (current, next) = (next, current);
            }

            // Nothing more is ready: the frames let go of what they held until the next burst (an idle stream would
            // keep its last heartbeat, or pin its last event's ring chunk).
            current.Clear();
            next.Clear();
        }
    }

    /// <summary>Waits for both loops and marks their exceptions observed: by now they are cancelled or done, and a
    /// first failure was already handled by the caller, so what is left (the cancellation itself, a write to a
    /// finished call) has nothing to report.</summary>
    private static async Task ObserveAsync(Task reader, Task writer)
    {
        var both = Task.WhenAll(reader, writer);
        await both.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _ = both.Exception;
        _ = reader.Exception;
        _ = writer.Exception;
    }
}
