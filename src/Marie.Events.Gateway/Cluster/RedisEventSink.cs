using System.Runtime.CompilerServices;
using Google.Protobuf;
using Marie.Events.Broker;
using Marie.Events.Gateway.Toast;
using Marie.Events.Protocol;

namespace Marie.Events.Gateway.Cluster;

/// <summary>
/// Cluster mode's <see cref="IEventSink"/>: files an event in the shared log in Redis and answers with the sequence
/// number Redis assigned, only once Redis accepted it. The event reaches subscribers, on this gateway as on every
/// other, through the fan-out channel (<see cref="ClusterNode"/>). An attempt that fails while Redis may have
/// run it (a timeout, a connection lost mid-call) is retried by the toast handler under the same publish token, and
/// Redis answers the retry with the first attempt's result instead of filing the event twice.
/// </summary>
internal sealed class RedisEventSink(ClusterNode node, GrpcEventBroker broker, TimeProvider time) : IEventSink
{
    /// <summary>One token per accepted event, the same for each of its attempts (the handler retries the same
    /// <see cref="EventData"/> instance).</summary>
    private readonly ConditionalWeakTable<EventData, string> _tokens = [];

    public async ValueTask<PublishResult> PublishAsync(EventData evt, CancellationToken cancellationToken)
    {
        broker.CheckPublishable(evt);
        var token = _tokens.GetValue(evt, static _ => Guid.NewGuid().ToString("N"));
        var log = node.Log ?? throw new InvalidOperationException("the Redis backend is not connected yet");
        var (sequence, _) = await log.AppendAsync(
            evt.ApiKey,
            evt.ToByteArray(),
            time.GetUtcNow().ToUnixTimeMilliseconds(),
            node.ReplaySize,
            ClusterNode.NewEpoch(),
            token).WaitAsync(cancellationToken).ConfigureAwait(false);
        return new PublishResult(evt.Id, evt.ApiKey, sequence);
    }
}
