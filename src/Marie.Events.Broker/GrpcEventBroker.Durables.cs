using Marie.Events.Broker.Durables;

namespace Marie.Events.Broker;

/// <summary>The broker's durable subscriptions, per key: listing, deleting, saving (see docs/delivery.md).</summary>
public sealed partial class GrpcEventBroker
{
    /// <summary>The durable subscriptions of <paramref name="key"/>, or of every key when it is null, by key and
    /// name.</summary>
    public IReadOnlyList<DurableInfo> ListDurables(string? key) => Durables.List(key);

    /// <summary>Deletes <paramref name="key"/>'s durable subscription <paramref name="name"/>, with its state in the
    /// backend. One a stream holds is not deleted (<see cref="DurableDeleteOutcome.InUse"/>).</summary>
    public Task<DurableDeleteOutcome> DeleteDurableAsync(string key, string name,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentException.ThrowIfNullOrEmpty(name);
        return Durables.DeleteAsync(key, name, cancellationToken);
    }

    /// <summary>Saves every changed durable subscription's state to the backend now (the gateway stopping, after its
    /// streams ended).</summary>
    public Task FlushDurablesAsync(CancellationToken cancellationToken = default) =>
        Durables.FlushAllAsync(cancellationToken);

    /// <summary>Durable figures: held now, created, expired (inactive TTL) and deleted since start.</summary>
    public DurableStats DurableStats() =>
        new(Durables.Count, Durables.Created, Durables.Expired, Durables.Deleted);
}

/// <summary>Durable-subscription figures.</summary>
/// <param name="Count">Durable subscriptions held now.</param>
/// <param name="Created">Created since start.</param>
/// <param name="Expired">Removed by the inactive TTL since start.</param>
/// <param name="Deleted">Deleted through the admin API since start.</param>
public sealed record DurableStats(int Count, long Created, long Expired, long Deleted);
