namespace Marie.Events.Broker.Storage;

/// <summary>
/// One holder per durable subscription across the gateways of a shared store (Redis): a gateway takes the lease on
/// (key, durable name) before a stream there first holds the durable, renews it while one does, and gives it back
/// after the last one ended and the state was saved. A store only one gateway writes (memory, file) needs none: that
/// gateway always holds its durables. A backend that implements <see cref="IDurableStore"/> with
/// <see cref="IDurableStore.IsShared"/> implements this too; the broker finds it there.
/// </summary>
/// <remarks>Calls may come from several threads at once, for different durables.</remarks>
public interface IDurableLease
{
    /// <summary>This gateway's name as a lease holder (what another gateway's conflict message names).</summary>
    string HolderName { get; }

    /// <summary>Takes the lease of (key, name) for <paramref name="ttl"/>, or extends it when this gateway holds it
    /// already; when another gateway holds it, answers its name and how long its lease still runs.</summary>
    /// <exception cref="BackendException">The store failed; nothing was taken.</exception>
    ValueTask<DurableLeaseAnswer> AcquireAsync(string key, string name, TimeSpan ttl,
        CancellationToken cancellationToken);

    /// <summary>Extends this gateway's lease of (key, name) to <paramref name="ttl"/> from now; false when it is not
    /// this gateway's any more (it expired, or another gateway took it).</summary>
    /// <exception cref="BackendException">The store failed; the lease runs on as it was.</exception>
    ValueTask<bool> RenewAsync(string key, string name, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>Gives back this gateway's lease of (key, name); nothing when it is not this gateway's.</summary>
    /// <exception cref="BackendException">The store failed; the lease expires at the end of its TTL.</exception>
    ValueTask ReleaseAsync(string key, string name, CancellationToken cancellationToken);
}

/// <summary>The answer to <see cref="IDurableLease.AcquireAsync"/>.</summary>
/// <param name="Acquired">True: this gateway holds the lease now.</param>
/// <param name="Holder">The holder's name (this gateway's when acquired).</param>
/// <param name="Remaining">How long the holder's lease runs from now unless renewed.</param>
public readonly record struct DurableLeaseAnswer(bool Acquired, string Holder, TimeSpan Remaining);
