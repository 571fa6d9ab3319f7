using Marie.Events.Broker.Storage;
using StackExchange.Redis;

namespace Marie.Events.Backends.Redis;

/// <summary>Durable subscriptions' state (<see cref="IDurableStore"/>), kept in Redis beside the event log so that
/// it outlives a gateway and is found by whichever gateway the client reconnects to.</summary>
public sealed partial class RedisEventBackend
{
    private RedisDurableStore Durables =>
        _durables ?? throw new BackendException("the Redis backend is not connected yet");

    /// <summary>True: every gateway on the same Redis and key prefix reads and writes the durables' state and the
    /// dead letters (<see cref="IDurableStore.IsShared"/>, <see cref="IDeadLetterPersistence.IsShared"/>).</summary>
    public bool IsShared => true;

    /// <inheritdoc />
    public ValueTask SaveAsync(DurableSnapshot snapshot, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return new(Guard(() => Durables.SaveAsync(snapshot), cancellationToken));
    }

    /// <inheritdoc />
    public ValueTask DeleteAsync(string key, string name, CancellationToken cancellationToken) =>
        new(Guard(() => Durables.DeleteAsync(key, name), cancellationToken));

    /// <inheritdoc />
    public async ValueTask<DurableSnapshot?> LoadAsync(string key, string name, CancellationToken cancellationToken)
    {
        DurableSnapshot? snapshot = null;
        await Guard(async () => snapshot = await Durables.LoadAsync(key, name).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        return snapshot;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<DurableSnapshot>> LoadAllAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<DurableSnapshot> all = [];
        await Guard(async () => all = await Durables.LoadAllAsync().ConfigureAwait(false), cancellationToken)
            .ConfigureAwait(false);
        return all;
    }

    /// <summary>Runs a durable-state call, its Redis failures as <see cref="BackendException"/>.</summary>
    private static async Task Guard(Func<Task> call, CancellationToken cancellationToken)
    {
        try
        {
            await call().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            throw new BackendException($"Redis did not take the durable subscription's state: {ex.Message}", ex);
        }
    }
}
