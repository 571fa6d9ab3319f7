using Marie.Events.Broker;
using Marie.Events.Protocol;

namespace Marie.Events.Gateway.Toast;

/// <summary>
/// Where the gRPC toast handler files events: the broker as the pipeline sees it. The in-memory broker files an
/// event synchronously and never fails; a cluster backend can fail an attempt, which the handler then retries
/// (<c>toast.grpc.retry.*</c>). Replace the registration (<see cref="GatewayHostOptions.ConfigureServices"/>) to plug
/// in another backend.
/// </summary>
internal interface IEventSink
{
    /// <summary>Files <paramref name="evt"/> under its topic and returns where it was filed. The event already has
    /// its id and timestamp. An <see cref="ArgumentException"/> means the event can never be filed (not retried);
    /// any other exception is a failed attempt that the handler retries. An attempt that throws must not have filed
    /// the event (else a retry files it twice).</summary>
    ValueTask<PublishResult> PublishAsync(EventData evt, CancellationToken cancellationToken);
}

/// <summary>The in-memory <see cref="GrpcEventBroker"/> as a sink.</summary>
internal sealed class BrokerEventSink(GrpcEventBroker broker) : IEventSink
{
    public ValueTask<PublishResult> PublishAsync(EventData evt, CancellationToken cancellationToken) =>
        ValueTask.FromResult(broker.Publish(evt));
}
