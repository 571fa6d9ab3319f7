using Grpc.Core;
using Grpc.Net.Client;
using Marie.Events.Protocol;

namespace Marie.Events.Client.Internal;

/// <summary>
/// Opens <c>StreamEvents</c> calls. Each stream gets its own <see cref="GrpcChannel"/> (so its own HTTP/2
/// connection): a stream replaced because the gateway went silent must not be reopened on the same, possibly dead,
/// connection.
/// </summary>
internal sealed class GrpcStreamTransport(EventStreamClientOptions options) : IStreamTransport
{
    public IStreamConnection Open(Uri address, CancellationToken cancellationToken)
    {
        var channel = ChannelFactory.Create(address, options);
        try
        {
            var client = new EventStreamService.EventStreamServiceClient(channel);
            var call = client.StreamEvents(ChannelFactory.AuthHeaders(options), cancellationToken: cancellationToken);
            return new Connection(channel, call);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    private sealed class Connection(
        GrpcChannel channel,
        AsyncDuplexStreamingCall<ClientMessage, ServerMessage> call) : IStreamConnection
    {
        public ServerMessage Current => call.ResponseStream.Current;

        public Task WriteAsync(ClientMessage message, CancellationToken cancellationToken) =>
            call.RequestStream.WriteAsync(message, cancellationToken);

        public Task<bool> MoveNextAsync(CancellationToken cancellationToken) =>
            call.ResponseStream.MoveNext(cancellationToken);

        public void Dispose()
        {
            call.Dispose();
            channel.Dispose();
        }
    }
}

/// <summary>Creates the client's gRPC channels and call metadata.</summary>
internal static class ChannelFactory
{
    /// <summary>A channel for one event stream: the stream's own heartbeat check finds a dead connection.</summary>
    public static GrpcChannel Create(Uri address, EventStreamClientOptions options) =>
        Create(address, options, keepAlive: false);

    /// <summary>A channel for publishing: with <paramref name="keepAlive"/>, HTTP/2 pings every
    /// <see cref="EventStreamClientOptions.ServerHeartbeatInterval"/> while calls are open, so a call on a dead
    /// connection fails (and is retried) instead of waiting for its deadline.</summary>
    public static GrpcChannel Create(Uri address, EventStreamClientOptions options, bool keepAlive)
    {
        var channelOptions = new GrpcChannelOptions
        {
            HttpHandler = options.HttpHandlerFactory?.Invoke() ?? DefaultHandler(options, keepAlive),
            DisposeHttpClient = true,
            LoggerFactory = options.LoggerFactory,
        };
        options.ConfigureChannel?.Invoke(channelOptions);
        return GrpcChannel.ForAddress(address, channelOptions);
    }

    public static Metadata AuthHeaders(EventStreamClientOptions options) =>
        new() { { "authorization", $"Bearer {options.ApiKey}" } };

    private static SocketsHttpHandler DefaultHandler(EventStreamClientOptions options, bool keepAlive)
    {
        var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true };
        if (keepAlive && options.ServerHeartbeatInterval != Timeout.InfiniteTimeSpan)
        {
            handler.KeepAlivePingDelay = options.ServerHeartbeatInterval;
            handler.KeepAlivePingTimeout = options.ServerHeartbeatInterval;
            handler.KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests;
        }

        return handler;
    }
}
