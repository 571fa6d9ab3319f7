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
    private readonly Dictionary<int, GrpcChannel> _channels = [];
    private readonly Lock _gate = new();

    public string Name { get; } = name;

    public ServerProcess Server { get; } = server;

    public bool CanReplay { get; } = canReplay;

    public Task PrepareAsync(WorkloadShape shape, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task CleanupAsync(WorkloadShape shape) => Task.CompletedTask;

    public async Task<IBenchPublisher> OpenPublisherAsync(int index, CancellationToken cancellationToken)
    {
        var client = new EventPublisherService.EventPublisherServiceClient(Channel(-1 - index));
        return await StubPublisher.OpenAsync(client, Headers(publisherKey), cancellationToken);
    }

    public Task<IAsyncDisposable> SubscribeAsync(SubscribeSpec spec, Flow flow, CancellationToken cancellationToken) =>
        driver.SubscribeAsync(Channel(spec.Connection), Headers(subscriberKey), spec, flow, sendAcks, cancellationToken);

    /// <summary>Drops the subscribers' connections (a new workload opens new ones).</summary>
    public void ResetConnections()
    {
        lock (_gate)
        {
            foreach (var channel in _channels.Values)
            {
                channel.Dispose();
            }

            _channels.Clear();
        }
    }

    private GrpcChannel Channel(int index)
    {
        lock (_gate)
        {
            if (!_channels.TryGetValue(index, out var channel))
            {
                channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}", new GrpcChannelOptions
                {
                    HttpHandler = new SocketsHttpHandler
                    {
                        // One HTTP/2 connection per channel: the workload decides how streams share connections.
                        EnableMultipleHttp2Connections = false,
                        PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                    },
                    MaxReceiveMessageSize = null,
                });
                _channels[index] = channel;
            }

            return channel;
        }
    }

    private static Metadata Headers(string? key) => key is null ? [] : new Metadata { { "authorization", "Bearer " + key } };

    public ValueTask DisposeAsync()
    {
        ResetConnections();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// How the load generator subscribes on our side. Today: <see cref="StubSubscriberDriver"/>, the generated stubs.
/// Extension point: when the client library (Marie.Events.Client) exists, implement this interface over it and add it
/// to <see cref="SubscriberDrivers.Available"/>; the harness then measures our gateway through each driver.
/// </summary>
internal interface ISubscriberDriver
{
    string Name { get; }

    Task<IAsyncDisposable> SubscribeAsync(GrpcChannel channel, Metadata headers, SubscribeSpec spec, Flow flow, bool sendAcks, CancellationToken cancellationToken);
}

/// <summary>The drivers our side is measured through.</summary>
internal static class SubscriberDrivers
{
    public static readonly ISubscriberDriver Stubs = new StubSubscriberDriver();

    /// <summary>Only the generated stubs: the client library is being written in parallel and is not in this build.</summary>
    public static IReadOnlyList<ISubscriberDriver> Available { get; } = [Stubs];

    public const string ClientLibraryStatus =
        "our side via the client library (Marie.Events.Client): not measured, the library is not in this build; driven through the generated stubs";
}

internal sealed class StubSubscriberDriver : ISubscriberDriver
{
    public string Name => "stubs";

    public async Task<IAsyncDisposable> SubscribeAsync(GrpcChannel channel, Metadata headers, SubscribeSpec spec, Flow flow, bool sendAcks, CancellationToken cancellationToken)
    {
        var client = new EventStreamService.EventStreamServiceClient(channel);
        return await StubSubscription.StartAsync(client, headers, spec, flow, sendAcks, cancellationToken);
    }
}
