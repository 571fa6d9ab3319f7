using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Marie.Events.Protocol;

namespace Marie.Events.Cli;

/// <summary>
/// The CLI's small adapter over the generated gRPC stubs: one channel to the gateway, the key as
/// <c>authorization: Bearer</c> metadata on each call. (The client library, Marie.Events.Client, is to replace it.)
/// </summary>
internal sealed class GatewayConnection : IDisposable
{
    /// <summary>Unary calls (publish one, replay, health) give up after this long: a gateway whose queue is full
    /// may hold a publish as long as the caller allows.</summary>
    public static readonly TimeSpan UnaryDeadline = TimeSpan.FromSeconds(30);

    /// <summary>An unreachable gateway is reported after this long rather than the OS's connect timeout.</summary>
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    private readonly GrpcChannel _channel;
    private readonly string? _apiKey;

    public GatewayConnection(Uri address, string? apiKey)
    {
        Address = address;
        _apiKey = apiKey;
        _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { ConnectTimeout = ConnectTimeout, EnableMultipleHttp2Connections = true },
        });
        Streams = new EventStreamService.EventStreamServiceClient(_channel);
        Publisher = new EventPublisherService.EventPublisherServiceClient(_channel);
        Health = new Health.HealthClient(_channel);
    }

    public Uri Address { get; }

    public EventStreamService.EventStreamServiceClient Streams { get; }

    public EventPublisherService.EventPublisherServiceClient Publisher { get; }

    public Health.HealthClient Health { get; }

    /// <summary>Options for a unary call: the key and <see cref="UnaryDeadline"/>.</summary>
    public CallOptions Unary(CancellationToken cancellationToken) =>
        new(Headers(), DateTime.UtcNow.Add(UnaryDeadline), cancellationToken);

    /// <summary>Options for a stream: the key, no deadline (Ctrl-C ends it).</summary>
    public CallOptions Stream(CancellationToken cancellationToken) => new(Headers(), cancellationToken: cancellationToken);

    public async Task<PublishResponse> PublishAsync(EventData evt, CancellationToken cancellationToken) =>
        await Publisher.PublishAsync(new PublishRequest { Event = evt }, Unary(cancellationToken)).ConfigureAwait(false);

    public async Task<ReplayResponse> ReplayAsync(ReplayRequest request, CancellationToken cancellationToken) =>
        await Streams.GetReplayBufferAsync(request, Unary(cancellationToken)).ConfigureAwait(false);

    private Metadata Headers() => _apiKey is null ? [] : new Metadata { { "authorization", $"Bearer {_apiKey}" } };

    public void Dispose() => _channel.Dispose();
}
