using System.Security.Cryptography;
using Marie.Events.Broker.Storage;
using StackExchange.Redis;

namespace Marie.Events.Backends.Redis;

/// <summary>Durable subscriptions' state (<see cref="IDurableStore"/>), kept in Redis beside the event log so that
/// it outlives a gateway and is found by whichever gateway the client reconnects to, and their leases
/// (<see cref="IDurableLease"/>): one gateway at a time holds a durable.</summary>
public sealed partial class RedisEventBackend
{
    /// <summary>This gateway's id as a lease holder: its node name, then a random part of this backend's own, so that
    /// two gateways given the same <c>node_name</c> (or two in one process) never take each other's lease for
    /// their own.</summary>
    private readonly string _leaseHolder = NewLeaseHolder();

    /// <summary>The node name (<see cref="NodeName"/>): what another gateway's conflict message names.</summary>
    public string HolderName => NodeName;

    /// <inheritdoc />
    public async ValueTask<DurableLeaseAnswer> AcquireAsync(string key, string name, TimeSpan ttl,
        CancellationToken cancellationToken)
    {
        (bool Taken, string Holder, long RemainingMs) answer = default;
        await Guard(async () => answer = await Durables.AcquireAsync(key, name, LeaseId, Ms(ttl))
            .ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        return new DurableLeaseAnswer(answer.Taken, NodeOf(answer.Holder ?? ""),
            TimeSpan.FromMilliseconds(answer.RemainingMs));
    }

    /// <inheritdoc />
    public async ValueTask<bool> RenewAsync(string key, string name, TimeSpan ttl,
        CancellationToken cancellationToken)
    {
        var ours = false;
        await Guard(async () => ours = await Durables.RenewAsync(key, name, LeaseId, Ms(ttl)).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        return ours;
    }

    /// <inheritdoc />
    public ValueTask ReleaseAsync(string key, string name, CancellationToken cancellationToken) =>
        new(Guard(() => Durables.ReleaseAsync(key, name, LeaseId), cancellationToken));

    private string LeaseId => NodeName + LeaseIdSeparator + _leaseHolder;

    /// <summary>Between the node name and the random part of a lease holder's id (a node name holds no control
    /// character: <see cref="RedisBackendOptions"/> checks it).</summary>
    private const char LeaseIdSeparator = '\u001f';

    /// <summary>64 random bits, lowercase hex.</summary>
    private static string NewLeaseHolder() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>The node name of a lease holder's id.</summary>
    private static string NodeOf(string holder) =>
        holder.LastIndexOf(LeaseIdSeparator) is var at and >= 0 ? holder[..at] : holder;

    private static long Ms(TimeSpan span) => (long)Math.Ceiling(span.TotalMilliseconds);

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
