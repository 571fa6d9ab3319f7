using Marie.Events.LoadTest.Infra;

namespace Marie.Events.LoadTest.Targets;

/// <summary>
/// One WC configuration as a target: producers and subscribers spread over every gateway (producer p on gateway
/// p mod N). A subscription's gateway is encoded in its <see cref="SubscribeSpec.Connection"/> (see
/// <see cref="Spread"/>). <paramref name="redis"/>: the redis-server processes it runs on (none in memory).
/// </summary>
internal sealed class ClusterTarget(
    string name,
    IReadOnlyList<GrpcTarget> gateways,
    IReadOnlyList<ServerProcess> redis) : IBenchTarget
{
    /// <summary>Connection numbers of one gateway: gateway g's connection c is g * Stride + c (a workload opens far
    /// fewer than a thousand connections per gateway).</summary>
    private const int Stride = 1000;

    public string Name { get; } = name;

    public IReadOnlyList<GrpcTarget> Gateways { get; } = gateways;

    /// <summary>The redis-server processes of this configuration (one per shard; none on the memory
    /// backend).</summary>
    public IReadOnlyList<ServerProcess> Redis { get; } = redis;

    /// <summary>The first gateway (A).</summary>
    public ServerProcess Server => Gateways[0].Server;

    public bool CanReplay => true;

    public Task PrepareAsync(WorkloadShape shape, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task CleanupAsync(WorkloadShape shape) => Task.CompletedTask;

    public Task<IBenchPublisher> OpenPublisherAsync(int index, CancellationToken cancellationToken) =>
        Gateways[index % Gateways.Count].OpenPublisherAsync(index, cancellationToken);

    public Task<IAsyncDisposable> SubscribeAsync(SubscribeSpec spec, Flow flow, CancellationToken cancellationToken) =>
        Gateways[spec.Connection / Stride].SubscribeAsync(
            spec with { Connection = spec.Connection % Stride },
            flow,
            cancellationToken);

    /// <summary>
    /// <paramref name="specs"/> (a topic's subscribers one after another, as <c>Rounds.Specs</c> makes them) spread
    /// over the gateways: within every topic, subscriber s goes to gateway s mod N, so every topic's events fan out on
    /// every gateway; on each gateway, <paramref name="perConnection"/> subscriptions share a connection. With one
    /// gateway this is the workload's own connection sharing.
    /// </summary>
    public IReadOnlyList<SubscribeSpec> Spread(
        IReadOnlyList<SubscribeSpec> specs,
        int subscribersPerTopic,
        int perConnection)
    {
        var placed = new int[Gateways.Count];
        var spread = new List<SubscribeSpec>(specs.Count);
        for (var i = 0; i < specs.Count; i++)
        {
            var gateway = i % subscribersPerTopic % Gateways.Count;
            var connection = placed[gateway]++ / perConnection;
            spread.Add(specs[i] with { Connection = gateway * Stride + connection });
        }

        return spread;
    }

    /// <summary>Drops the subscribers' connections on every gateway.</summary>
    public void ResetConnections()
    {
        foreach (var gateway in Gateways)
        {
            gateway.ResetConnections();
        }
    }
}
