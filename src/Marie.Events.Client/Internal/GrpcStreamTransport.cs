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

    private sealed class Connection(GrpcChannel channel, AsyncDuplexStreamingCall<ClientMessage, ServerMessage> call) : IStreamConnection
    {
        public ServerMessage Current => call.ResponseStream.Current;

        public Task WriteAsync(ClientMessage message, CancellationToken cancellationToken) =>
            call.RequestStream.WriteAsync(message, cancellationToken);

        public Task<bool> MoveNextAsync(CancellationToken cancellationToken) => call.ResponseStream.MoveNext(cancellationToken);

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
    public static GrpcChannel Create(Uri address, EventStreamClientOptions options)
    {
        var channelOptions = new GrpcChannelOptions
        {
            HttpHandler = options.HttpHandlerFactory?.Invoke() ?? new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            DisposeHttpClient = true,
            LoggerFactory = options.LoggerFactory,
        };
        options.ConfigureChannel?.Invoke(channelOptions);
        return GrpcChannel.ForAddress(address, channelOptions);
    }

    public static Metadata AuthHeaders(EventStreamClientOptions options) =>
        new() { { "authorization", $"Bearer {options.ApiKey}" } };
}
