using System.Collections.Concurrent;

namespace Marie.Events.Broker.Storage;

/// <summary>Durable state kept in a dictionary, as bytes: it outlives a broker that is disposed and created again on
/// the same store (tests, embedding), not the process. The memory backend keeps no durable state of its own: a
/// gateway on it forgets its durable subscriptions when it restarts.</summary>
public sealed class MemoryDurableStore : IDurableStore
{
    private readonly ConcurrentDictionary<(string Key, string Name), byte[]> _states = new();

    /// <inheritdoc />
    public bool IsShared { get; init; }

    /// <summary>Durables stored now.</summary>
    public int Count => _states.Count;

    /// <inheritdoc />
    public ValueTask SaveAsync(DurableSnapshot snapshot, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        _states[(snapshot.Key, snapshot.Name)] = snapshot.ToBytes();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask DeleteAsync(string key, string name, CancellationToken cancellationToken)
    {
        _states.TryRemove((key, name), out _);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<DurableSnapshot?> LoadAsync(string key, string name, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_states.TryGetValue((key, name), out var bytes) ? DurableSnapshot.FromBytes(bytes) : null);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DurableSnapshot>> LoadAllAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyList<DurableSnapshot>>(
            [.. _states.Values.Select(b => DurableSnapshot.FromBytes(b))]);
}
