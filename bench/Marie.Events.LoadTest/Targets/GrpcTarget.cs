using System.Net.Http;
using Grpc.Core;
using Grpc.Net.Client;
using Marie.Events.LoadTest.Infra;
using Marie.Events.Protocol;

namespace Marie.Events.LoadTest.Targets;

/// <summary>
/// A gRPC target speaking the Marie event-stream contract: our gateway, or the raw grpc-dotnet baseline. Subscribers
/// share connections (<see cref="SubscribeSpec.Connection"/>: one HTTP/2 connection each); each producer has its own.
/// </summary>
internal sealed class GrpcTarget(
    string name,
    ServerProcess server,
    int port,
    string? publisherKey,
    string? subscriberKey,
    bool sendAcks,
    bool canReplay,
    ISubscriberDriver driver) : IBenchTarget, IAsyncDisposable
{
    private readonly Dictionary<int, (GrpcChannel Channel, SocketsHttpHandler Handler)> _channels = [];
    private readonly Lock _gate = new();

    public string Name { get; } = name;

    public ServerProcess Server { get; } = server;

    public bool CanReplay { get; } = canReplay;

    /// <summary>The same server, subscribed to through another driver (its own connections).</summary>
    public GrpcTarget Through(string targetName, ISubscriberDriver other) =>
        new(targetName, Server, port, publisherKey, subscriberKey, sendAcks, CanReplay, other);

    public Task PrepareAsync(WorkloadShape shape, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task CleanupAsync(WorkloadShape shape) => Task.CompletedTask;

    public async Task<IBenchPublisher> OpenPublisherAsync(int index, CancellationToken cancellationToken)
    {
        var client = new EventPublisherService.EventPublisherServiceClient(Channel(-1 - index).Channel);
        return await StubPublisher.OpenAsync(client, Headers(publisherKey), cancellationToken);
    }

    public Task<IAsyncDisposable> SubscribeAsync(SubscribeSpec spec, Flow flow, CancellationToken cancellationToken)
    {
        var (channel, handler) = Channel(spec.Connection);
        var connection = new SubscriberConnection(
            channel,
            handler,
            new Uri($"http://127.0.0.1:{port}"),
            subscriberKey,
            Headers(subscriberKey));
        return driver.SubscribeAsync(connection, spec, flow, sendAcks, cancellationToken);
    }

    /// <summary>Drops the subscribers' connections (a new workload opens new ones).</summary>
    public void ResetConnections()
    {
        lock (_gate)
        {
            foreach (var (channel, handler) in _channels.Values)
            {
                channel.Dispose();
                handler.Dispose();
            }

            _channels.Clear();
        }
    }

    /// <summary>Connection <paramref name="index"/>'s channel and its handler (one HTTP/2 connection: the workload
    /// decides how streams share connections; the client-library driver opens its own channels on the same
    /// handler).</summary>
    private (GrpcChannel Channel, SocketsHttpHandler Handler) Channel(int index)
    {
        lock (_gate)
        {
            if (!_channels.TryGetValue(index, out var pair))
            {
                var handler = new SocketsHttpHandler
                {
                    EnableMultipleHttp2Connections = false,
                    PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                };
                var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}", new GrpcChannelOptions
                {
                    HttpHandler = handler,
                    DisposeHttpClient = false,
                    MaxReceiveMessageSize = null,
                });
                pair = (channel, handler);
                _channels[index] = pair;
            }

            return pair;
        }
    }

    private static Metadata Headers(string? key) =>
        key is null ? [] : new Metadata { { "authorization", "Bearer " + key } };

    public ValueTask DisposeAsync()
    {
        ResetConnections();
        return ValueTask.CompletedTask;
    }
}

/// <summary>One shared HTTP/2 connection as a subscriber driver sees it.</summary>
/// <param name="Channel">A channel on <paramref name="Handler"/> (the stubs use it).</param>
/// <param name="Handler">The connection's handler: a driver that builds its own channel uses this one, so its
/// streams share the connection like the stubs' do.</param>
/// <param name="Address">The server's address.</param>
/// <param name="ApiKey">The subscriber key (none for the raw baseline).</param>
/// <param name="Headers">The <c>authorization</c> header for <paramref name="ApiKey"/>.</param>
internal sealed record SubscriberConnection(
    GrpcChannel Channel,
    SocketsHttpHandler Handler,
    Uri Address,
    string? ApiKey,
    Metadata Headers);

/// <summary>
/// How the load generator subscribes on our side: <see cref="StubSubscriberDriver"/> (the generated stubs, target
/// <c>ours</c>) and <see cref="ClientLibrarySubscriberDriver"/> (Marie.Events.Client, target <c>ours-client</c>).
/// </summary>
internal interface ISubscriberDriver
{
    string Name { get; }

    Task<IAsyncDisposable> SubscribeAsync(
        SubscriberConnection connection,
        SubscribeSpec spec,
        Flow flow,
        bool sendAcks,
        CancellationToken cancellationToken);
}

/// <summary>The drivers our side is measured through.</summary>
internal static class SubscriberDrivers
{
    public static readonly ISubscriberDriver Stubs = new StubSubscriberDriver();

    public static readonly ISubscriberDriver ClientLibrary = new ClientLibrarySubscriberDriver();

    public const string ClientLibraryStatus =
        "ours: our gateway through the generated stubs; ours-client: the same gateway through the client library "
            + "(Marie.Events.Client, one EventStreamClient per subscriber, auto acks batched by 64), in W1, W2 and W4";
}

internal sealed class StubSubscriberDriver : ISubscriberDriver
{
    public string Name => "stubs";

    public async Task<IAsyncDisposable> SubscribeAsync(
        SubscriberConnection connection,
        SubscribeSpec spec,
        Flow flow,
        bool sendAcks,
        CancellationToken cancellationToken)
    {
        var client = new EventStreamService.EventStreamServiceClient(connection.Channel);
        return await StubSubscription.StartAsync(client, connection.Headers, spec, flow, sendAcks, cancellationToken);
    }
}
