using System.Buffers;
using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Storage;

/// <summary>
/// The embedded default (<c>toast.grpc.broker.backend: memory</c>): the broker's replay rings are the store. An
/// append numbers the events after the ring's head under the topic's lock and applies them at once; nothing
/// survives the process, and every topic starts over under a new epoch after a restart. A broker created without
/// a backend uses one of its own; one created here (to wrap it, e.g. in a test double) is bound to its broker by
/// <see cref="StartAsync"/>.
/// </summary>
public sealed class MemoryEventBackend : IEventBackend
{
    /// <summary>The backend's configured name.</summary>
    public const string BackendName = "memory";

    private GrpcEventBroker? _broker;

    /// <summary>A memory backend bound to its broker when the broker starts it.</summary>
    public MemoryEventBackend()
    {
    }

    /// <summary>The broker's own default backend, bound at once.</summary>
    internal MemoryEventBackend(GrpcEventBroker broker) => _broker = broker;

    /// <inheritdoc />
    public string Name => BackendName;

    /// <inheritdoc />
    public string InitialEpoch(string topic) => MemoryTopicLog.NewEpoch();

    /// <summary>Binds the backend to <paramref name="listener"/>, which must be a <see cref="GrpcEventBroker"/>
    /// (its rings are this backend's store); there is nothing to load.</summary>
    public Task<BackendLoad> StartAsync(IEventBackendListener listener, CancellationToken cancellationToken)
    {
        _broker = listener as GrpcEventBroker
            ?? throw new ArgumentException(
                "the memory backend keeps its events in the broker's rings: its listener must be a GrpcEventBroker",
                nameof(listener));
        return Task.FromResult(default(BackendLoad));
    }

    private GrpcEventBroker Broker =>
        _broker ?? throw new InvalidOperationException(
            "the memory backend is not started: start its broker (GrpcEventBroker.StartAsync) first");

    /// <inheritdoc />
    public ValueTask<AppendResult> AppendAsync(
        string topic,
        IReadOnlyList<EventData> events,
        DateTimeOffset publishedAt,
        CancellationToken cancellationToken)
    {
        var broker = Broker;
        var local = broker.GetOrCreateTopic(topic);
        var count = events.Count;
        // One event (the common case) needs no array: a span over a local.
        if (count == 1)
        {
            lock (local.Gate)
            {
                var first = local.Log.Head + 1;
                var one = new BackendEvent(first, events[0], publishedAt);
                broker.Apply(topic, local.Log.Epoch, new ReadOnlySpan<BackendEvent>(in one), allowGap: false);
                return ValueTask.FromResult(new AppendResult(local.Log.Epoch, first));
            }
        }

        var batch = ArrayPool<BackendEvent>.Shared.Rent(count);
        try
        {
            lock (local.Gate)
            {
                var first = local.Log.Head + 1;
                for (var i = 0; i < count; i++)
                {
                    batch[i] = new BackendEvent(first + i, events[i], publishedAt);
                }

                broker.Apply(topic, local.Log.Epoch, batch.AsSpan(0, count), allowGap: false);
                return ValueTask.FromResult(new AppendResult(local.Log.Epoch, first));
            }
        }
        finally
        {
            ArrayPool<BackendEvent>.Shared.Return(batch, clearArray: true);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<BackendEvent>> ReadAsync(
        string topic,
        long first,
        long last,
        CancellationToken cancellationToken)
    {
        var events = new List<BackendEvent>();
        if (Broker.TryGetTopic(topic, out var local))
        {
            var log = local!.Log;
            for (var sequence = Math.Max(first, log.FirstAvailable); sequence <= last; sequence++)
            {
                var outcome = log.TryRead(sequence, out var stored);
                if (outcome == ReadOutcome.NotYet)
                {
                    break;
                }

                if (outcome == ReadOutcome.Found)
                {
                    events.Add(new BackendEvent(sequence, stored!.Data, stored.PublishedAt.ToDateTimeOffset()));
                }
            }
        }

        return ValueTask.FromResult<IReadOnlyList<BackendEvent>>(events);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyDictionary<string, BackendTopic>> DescribeAsync(
        IReadOnlyCollection<string> topics,
        CancellationToken cancellationToken)
    {
        var described = new Dictionary<string, BackendTopic>(StringComparer.Ordinal);
        foreach (var name in topics)
        {
            if (Broker.TryGetTopic(name, out var local))
            {
                described[name] = new BackendTopic(local!.Log.Epoch, local.Log.Head, local.Log.FirstAvailable);
            }
        }

        return ValueTask.FromResult<IReadOnlyDictionary<string, BackendTopic>>(described);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> ListTopicsAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult(Broker.TopicNames());

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
