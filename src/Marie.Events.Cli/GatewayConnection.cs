using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Marie.Events.Protocol;

namespace Marie.Events.Cli;

/// <summary>
/// The CLI's small adapter over the generated gRPC stubs for the unary calls the client library does not offer
/// (<c>replay</c>, <c>health</c>, <c>dead-letters</c>, <c>durables</c>, and the admin calls of <c>stats</c> and
/// <c>keys</c>): one channel to the gateway, the key as <c>authorization: Bearer</c> metadata. <c>subscribe</c> and
/// <c>publish</c> use Marie.Events.Client (<see cref="CliClient"/>).
/// </summary>
internal sealed class GatewayConnection : IDisposable
{
    /// <summary>Unary calls (replay, health, and the client's publish of one event) give up after this long: a gateway
    /// whose queue is full may hold a publish as long as the caller allows.</summary>
    public static readonly TimeSpan UnaryDeadline = TimeSpan.FromSeconds(30);

    private readonly GrpcChannel _channel;
    private readonly string? _apiKey;

    public GatewayConnection(Uri address, string? apiKey)
    {
        _apiKey = apiKey;
        _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectTimeout = CliClient.ConnectTimeout,
                EnableMultipleHttp2Connections = true,
            },
        });
        Streams = new EventStreamService.EventStreamServiceClient(_channel);
        Health = new Health.HealthClient(_channel);
        Admin = new AdminService.AdminServiceClient(_channel);
        DeadLetters = new DeadLetterService.DeadLetterServiceClient(_channel);
        Durables = new DurableService.DurableServiceClient(_channel);
    }

    /// <summary><c>marieai.events.DurableService</c> (the key's own durable subscriptions; an admin key may name
    /// another).</summary>
    public DurableService.DurableServiceClient Durables { get; }

    /// <summary><c>marieai.events.DeadLetterService</c> (the key's own dead letters; an admin key may name
    /// another).</summary>
    public DeadLetterService.DeadLetterServiceClient DeadLetters { get; }

    /// <summary><c>marieai.events.AdminService</c> (an admin key).</summary>
    public AdminService.AdminServiceClient Admin { get; }

    private EventStreamService.EventStreamServiceClient Streams { get; }

    public Health.HealthClient Health { get; }

    /// <summary>Options for a unary call: the key and <see cref="UnaryDeadline"/>.</summary>
    public CallOptions Unary(CancellationToken cancellationToken) =>
        new(Headers(), DateTime.UtcNow.Add(UnaryDeadline), cancellationToken);

    public async Task<ReplayResponse> ReplayAsync(ReplayRequest request, CancellationToken cancellationToken) =>
        await Streams.GetReplayBufferAsync(request, Unary(cancellationToken)).ConfigureAwait(false);

    private Metadata Headers() => _apiKey is null ? [] : new Metadata { { "authorization", $"Bearer {_apiKey}" } };

    public void Dispose() => _channel.Dispose();
}
