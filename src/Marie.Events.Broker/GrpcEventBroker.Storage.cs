using Google.Protobuf.WellKnownTypes;
using Marie.Events.Broker.Connections;
using Marie.Events.Broker.Storage;

namespace Marie.Events.Broker;

/// <summary>
/// The broker as its backend's listener: the one path by which events reach the rings, whether they were
/// published on this gateway or appended to a shared store by another. See <see cref="IEventBackend"/>.
/// </summary>
public sealed partial class GrpcEventBroker : IEventBackendListener
{
    /// <summary>Loads what the backend holds into the rings (and its durable subscriptions and dead letters, when it
    /// keeps them) and
    /// starts following it (a shared backend's events from
    /// other gateways). Call once, before the broker serves anyone.</summary>
    public async Task<BackendLoad> StartAsync(CancellationToken cancellationToken = default)
    {
        var load = await Backend.StartAsync(this, cancellationToken).ConfigureAwait(false);
        await Durables.LoadAsync(cancellationToken).ConfigureAwait(false);
        await DeadLetterOffice.LoadAsync(cancellationToken).ConfigureAwait(false);
        return load;
    }

    /// <inheritdoc />
    public ApplyOutcome Apply(string topic, string epoch, ReadOnlySpan<BackendEvent> events, bool allowGap)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentException.ThrowIfNullOrEmpty(epoch);
        var local = GetOrCreateTopic(topic, epoch);
        var applied = 0;
        lock (local.Gate)
        {
            if (!local.Log.TryAdoptEpoch(epoch))
            {
                return ApplyOutcome.EpochChanged;
            }

            foreach (ref readonly var evt in events)
            {
                var head = local.Log.Head;
                if (evt.Sequence <= head)
                {
                    continue;
                }

                if (evt.Sequence > head + 1 && !(allowGap && applied == 0))
                {
                    break;
                }

                var stored = evt.IsEncoded
                    ? local.Log.AppendAt(evt.Sequence, evt.EncodedEvent.Span, evt.PublishedAt)
                    : local.Log.AppendAt(evt.Sequence, evt.Event, evt.PublishedAt);
                local.Dispatch(stored);
                stored.Dispatched();
                applied++;
            }
        }

        if (applied == 0)
        {
            return events.Length > 0 && events[^1].Sequence > local.Log.Head
                ? ApplyOutcome.Gap
                : ApplyOutcome.AlreadyHeld;
        }

        Counters.PublishedMany(applied);
        return ApplyOutcome.Applied;
    }

    /// <inheritdoc />
    public TopicPosition? GetTopicPosition(string topic) =>
        _topics.TryGetValue(topic, out var local) ? new TopicPosition(local.Log.Epoch, local.Log.Head) : null;

    /// <inheritdoc />
    public IReadOnlyList<string> TopicNames() => [.. _topics.Keys];

    /// <summary>
    /// The backend's log of <paramref name="topic"/> was reset (new <paramref name="epoch"/>): the topic starts over
    /// empty with that epoch, and every connection with a subscription on the old one is closed, so that its client
    /// reconnects and resumes (it is then told ERROR_EPOCH_CHANGED and replayed from the start of the ring).
    /// </summary>
    /// <returns>The number of connections closed.</returns>
    public int Reset(string topic, string epoch)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentException.ThrowIfNullOrEmpty(epoch);
        var connections = new HashSet<BrokerConnection>();
        lock (_topology)
        {
            if (_topics.TryGetValue(topic, out var old))
            {
                lock (old.Gate)
                {
                    foreach (var position in old.Subscribers.All())
                    {
                        connections.Add(position.Subscription.Connection);
                    }
                }

                _topics.TryRemove(topic, out _);
            }

            var fresh = GetOrCreateTopicLocked(topic, epoch);
            Log.TopicReset(topic, old?.Log.Epoch ?? "", fresh.Log.Epoch, connections.Count);
        }

        foreach (var connection in connections)
        {
            connection.Dispose();
        }

        return connections.Count;
    }
}
