using Marie.Events.LoadTest.Infra;

namespace Marie.Events.LoadTest.Targets;

/// <summary>
/// The same server and connections as <paramref name="inner"/>, each subscription changed by
/// <paramref name="change"/> (W1D: a durable name on every one). A target of its own in the rounds, so it alternates
/// with the inner target in one run; its CPU figures are the same process's.
/// </summary>
internal sealed class VariantTarget(string name, IBenchTarget inner, Func<SubscribeSpec, SubscribeSpec> change)
    : IBenchTarget
{
    public string Name { get; } = name;

    /// <summary>The target it varies (same server, same connections).</summary>
    public IBenchTarget Inner => inner;

    public ServerProcess Server => inner.Server;

    public bool CanReplay => inner.CanReplay;

    public Task PrepareAsync(WorkloadShape shape, CancellationToken cancellationToken) =>
        inner.PrepareAsync(shape, cancellationToken);

    public Task CleanupAsync(WorkloadShape shape) => inner.CleanupAsync(shape);

    public Task<IBenchPublisher> OpenPublisherAsync(int index, CancellationToken cancellationToken) =>
        inner.OpenPublisherAsync(index, cancellationToken);

    public Task<IAsyncDisposable> SubscribeAsync(SubscribeSpec spec, Flow flow, CancellationToken cancellationToken) =>
        inner.SubscribeAsync(change(spec), flow, cancellationToken);

    /// <summary>W1D's variant of <paramref name="target"/>: every subscription durable, its name distinct (the
    /// subscription id, which names the round, so a round never resumes another's durable).</summary>
    public static VariantTarget Durable(IBenchTarget target) =>
        new($"{target.Name}-durable", target, spec => spec with { DurableName = "d-" + spec.SubscriptionId });
}
