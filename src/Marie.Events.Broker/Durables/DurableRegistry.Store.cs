using Marie.Events.Broker.Storage;

namespace Marie.Events.Broker.Durables;

/// <summary>The registry and its store: loading at start, reading a shared store's state again, saving changed
/// state, deleting expired state.</summary>
internal sealed partial class DurableRegistry
{
    /// <summary>One save at a time: a durable's saves are made in order, as the store asks.</summary>
    private readonly SemaphoreSlim _saving = new(1, 1);

    /// <summary>Loads every stored durable (at start, before anyone subscribes); their TTL counts from now.</summary>
    public async Task<int> LoadAsync(CancellationToken cancellationToken)
    {
        if (store is null)
        {
            return 0;
        }

        var snapshots = await store.LoadAllAsync(cancellationToken).ConfigureAwait(false);
        var now = broker.Time.GetUtcNow();
        lock (_gate)
        {
            foreach (var snapshot in snapshots)
            {
                var durable = DurableSubscription.FromSnapshot(snapshot);
                durable.LastActiveAt = now;
                _durables[(snapshot.Key, snapshot.Name)] = durable;
            }
        }

        if (snapshots.Count > 0)
        {
            broker.Log.DurablesLoaded(snapshots.Count);
            EnsureTimers();
        }

        return snapshots.Count;
    }

    /// <summary>With a shared store, reads (key, name) again before its first stream here: another gateway may
    /// have held it since. Nothing when a stream of this gateway holds it, or the store is not shared. False when
    /// the store failed (logged).</summary>
    public async Task<bool> RefreshAsync(string owner, string name, CancellationToken cancellationToken)
    {
        if (store is not { IsShared: true })
        {
            return true;
        }

        var local = Find(owner, name);
        if (local is not null && local.MemberCount > 0)
        {
            return true;
        }

        DurableSnapshot? snapshot;
        try
        {
            snapshot = await store.LoadAsync(owner, name, cancellationToken).ConfigureAwait(false);
        }
        catch (BackendException ex)
        {
            broker.Log.DurableStoreFailed(name, owner, ex.Message);
            return false;
        }

        lock (_gate)
        {
            _durables.TryGetValue((owner, name), out var current);
            if (current is not null && current.MemberCount > 0)
            {
                return true;
            }

            if (snapshot is null)
            {
                return true;
            }

            var durable = DurableSubscription.FromSnapshot(snapshot);
            durable.LastActiveAt = broker.Time.GetUtcNow();
            if (current is not null)
            {
                lock (current.Gate)
                {
                    current.Removed = true;
                }
            }

            _durables[(owner, name)] = durable;
        }

        return true;
    }

    /// <summary>Saves every changed durable (the flush timer, and at stop).</summary>
    public async Task FlushAsync()
    {
        if (store is null || !await _saving.WaitAsync(0).ConfigureAwait(false))
        {
            return;
        }

        try
        {
            DurableSubscription[] dirty;
            lock (_gate)
            {
                dirty = [.. _durables.Values.Where(d => d.Dirty)];
            }

            foreach (var durable in dirty)
            {
                await SaveLockedAsync(durable).ConfigureAwait(false);
            }
        }
        finally
        {
            _saving.Release();
        }
    }

    /// <summary>Saves every durable now, waiting for a save under way (the broker stopping).</summary>
    public async Task FlushAllAsync(CancellationToken cancellationToken)
    {
        if (store is null)
        {
            return;
        }

        await _saving.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            DurableSubscription[] all;
            lock (_gate)
            {
                all = [.. _durables.Values.Where(d => d.Dirty)];
            }

            foreach (var durable in all)
            {
                await SaveLockedAsync(durable).ConfigureAwait(false);
            }
        }
        finally
        {
            _saving.Release();
        }

        // Saved first: a gateway that takes a lease given back here reads the final state.
        await ReleaseAllAsync().ConfigureAwait(false);
    }

    /// <summary>The last stream here left <paramref name="durable"/>: saved now (not at the next interval: another
    /// gateway may be the next to hold it), then, with a shared store, its lease is given back.</summary>
    private Task SaveAndReleaseAsync(DurableSubscription durable) =>
        _lease is not null && HoldOf(durable.Owner, durable.Name) is { } hold
            ? ReleaseIdleAsync(hold)
            : SaveAsync(durable);

    private async Task SaveAsync(DurableSubscription durable)
    {
        if (store is null)
        {
            return;
        }

        await _saving.WaitAsync().ConfigureAwait(false);
        try
        {
            await SaveLockedAsync(durable).ConfigureAwait(false);
        }
        finally
        {
            _saving.Release();
        }
    }

    /// <summary>Caller holds <see cref="_saving"/>.</summary>
    private async Task SaveLockedAsync(DurableSubscription durable)
    {
        if (LeaseRanOut(durable))
        {
            // Waking from a pause longer than the lease: another gateway may hold it now; the renewal that comes
            // next finds out (and drops this copy when it is lost).
            return;
        }

        var snapshot = durable.Snapshot(broker.Time.GetUtcNow());
        if (durable.Removed)
        {
            return;
        }

        try
        {
            await store!.SaveAsync(snapshot, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is BackendException or IOException or InvalidOperationException)
        {
            lock (durable.Gate)
            {
                // Saved again at the next interval.
                durable.Dirty = true;
            }

            broker.Log.DurableStoreFailed(durable.Name, durable.Owner, ex.Message);
        }
    }

    /// <summary>Deletes an expired durable's stored state, unless the store is shared and another gateway held it
    /// within the TTL (then only this gateway's copy was dropped).</summary>
    private async Task DeleteStoredAsync(DurableSubscription durable, TimeSpan ttl)
    {
        try
        {
            if (store!.IsShared)
            {
                var stored = await store.LoadAsync(durable.Owner, durable.Name, CancellationToken.None)
                    .ConfigureAwait(false);
                if (stored is not null && broker.Time.GetUtcNow() - stored.LastActiveAt < ttl)
                {
                    return;
                }
            }

            await store!.DeleteAsync(durable.Owner, durable.Name, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is BackendException or IOException or InvalidOperationException)
        {
            broker.Log.DurableStoreFailed(durable.Name, durable.Owner, ex.Message);
        }
    }
}
