using Marie.Events.LoadTest.Infra;
using Marie.Events.Protocol;

namespace Marie.Events.LoadTest.Targets;

/// <summary>The shape of a workload's topics, so a target can set up what it needs (a JetStream stream).</summary>
/// <param name="Workload">"w1".."w5": topic names start with it.</param>
/// <param name="Topics">Number of topics.</param>
/// <param name="RetainPerSubject">Events kept per topic (JetStream: per subject), the replay ring's size.</param>
internal sealed record WorkloadShape(string Workload, int Topics, int RetainPerSubject)
{
    /// <summary>Our topic (the event's api_key): <c>w1-t3</c>.</summary>
    public string Topic(int index) => $"{Workload}-t{index}";
}

/// <summary>One subscription a workload opens.</summary>
/// <param name="AckEvery">The subscriber acknowledges cumulatively (JetStream AckAll: the last message) after this
/// many events.</param>
/// <param name="JobIds">More job ids the filter takes (WG's plain split: a tenth of the job ids each); our gateway
/// through the stubs only.</param>
/// <param name="DurableName">The request's <c>durable_name</c> (W1D, WG); our gateway through the stubs
/// only.</param>
/// <param name="Group">The request's <c>group</c> (WG's consumer group; needs <paramref name="DurableName"/>).</param>
internal sealed record SubscribeSpec(
    string SubscriptionId,
    WorkloadShape Shape,
    int Topic,
    int Connection,
    string? JobId = null,
    bool FromStart = false,
    int AckEvery = ClientSettings.AckEvery,
    IReadOnlyList<string>? JobIds = null,
    string? DurableName = null,
    string? Group = null);

/// <summary>A server under test, driven by the load generator.</summary>
internal interface IBenchTarget
{
    /// <summary>As shown in tables: <c>ours</c>, <c>raw-grpc</c>, <c>jetstream-ackall</c>, ...</summary>
    string Name { get; }

    ServerProcess Server { get; }

    /// <summary>False for the raw gRPC baseline: it keeps no ring, so it cannot replay.</summary>
    bool CanReplay { get; }

    Task PrepareAsync(WorkloadShape shape, CancellationToken cancellationToken);

    Task CleanupAsync(WorkloadShape shape);

    Task<IBenchPublisher> OpenPublisherAsync(int index, CancellationToken cancellationToken);

    /// <summary>Subscribes; returns once the server confirmed (or created the consumer). Received events are counted
    /// in <paramref name="flow"/> until the returned handle is disposed.</summary>
    Task<IAsyncDisposable> SubscribeAsync(SubscribeSpec spec, Flow flow, CancellationToken cancellationToken);
}

/// <summary>One producer's connection. Publishes are pipelined: a bounded number wait for their
/// acknowledgement.</summary>
internal interface IBenchPublisher : IAsyncDisposable
{
    /// <summary>Hands one event over; waits only while too many publishes are unacknowledged.</summary>
    ValueTask PublishAsync(EventData evt, CancellationToken cancellationToken);

    /// <summary>Waits until every publish so far is acknowledged.</summary>
    Task FlushAsync(CancellationToken cancellationToken);
}

/// <summary>Shared numbers of the client side, the same for every target.</summary>
internal static class ClientSettings
{
    /// <summary>Publishes a producer may have unacknowledged (pipelining over one connection).</summary>
    public const int PublishWindow = 256;

    /// <summary>A subscriber acknowledges cumulatively after this many events (ours: CumulativeAck; JetStream AckAll:
    /// ack of the last message). Well below max_in_flight / MaxAckPending (1000), so acks never stall
    /// delivery.</summary>
    public const int AckEvery = 64;

    /// <summary>max_in_flight (ours) and MaxAckPending (JetStream; also its default).</summary>
    public const int MaxInFlight = 1000;
}
