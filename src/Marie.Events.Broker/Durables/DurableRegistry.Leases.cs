using System.Globalization;
using Marie.Events.Broker.Storage;

namespace Marie.Events.Broker.Durables;

/// <summary>The registry's leases, with a store other gateways share (<see cref="IDurableLease"/>; docs/cluster.md):
/// one holder per durable across the gateways. Taken before a stream here first holds a durable (then the state is
/// read again, after the previous holder's final save); renewed every third of the TTL by one timer for them all;
/// given back once the last stream here ended and the state was saved. A lease lost (a renewal found it another's,
/// or could not reach the store for half the TTL) ends the durable's members here: another gateway may hold it now.
/// </summary>
internal sealed partial class DurableRegistry
{
    private readonly IDurableLease? _lease = store is { IsShared: true } ? store as IDurableLease : null;
    private readonly Dictionary<(string Owner, string Name), DurableLeaseHold> _holds = [];

    private TimeSpan LeaseTtl => TimeSpan.FromMilliseconds(broker.Options.Durable.LeaseTtlMs);

    /// <summary>Readies (key, name) for a subscribe on this gateway: with a shared store, takes its lease (when
    /// this gateway does not hold it yet) and then reads its state again. Pass the answer to
    /// <see cref="Entered"/> once the subscribe joined or failed. The refusal when it may not be held here.
    /// </summary>
    public async Task<DurableEntry> EnterAsync(string owner, string name, CancellationToken cancellationToken)
    {
        if (_lease is null)
        {
            await RefreshAsync(owner, name, cancellationToken).ConfigureAwait(false);
            return default;
        }

        var hold = Hold(owner, name);
        try
        {
            var (fresh, refusal) = await TakeAsync(hold, cancellationToken).ConfigureAwait(false);
            if (refusal is null && fresh && !await RefreshAsync(owner, name, cancellationToken).ConfigureAwait(false))
            {
                // Holding it on a state older than the store's would overwrite the newer one at the next save.
                refusal = Unavailable(name, "its state could not be read");
            }

            if (refusal is not null)
            {
                Entered(new DurableEntry(hold, null));
                return new DurableEntry(null, refusal);
            }

            return new DurableEntry(hold, null);
        }
        catch
        {
            Entered(new DurableEntry(hold, null));
            throw;
        }
    }

    /// <summary>The subscribe that <see cref="EnterAsync"/> readied joined (or failed): when no stream here holds
    /// the durable now, its lease is given back.</summary>
    public void Entered(DurableEntry entry)
    {
        if (entry.Hold is not { } hold)
        {
            return;
        }

        lock (_gate)
        {
            hold.Waiters--;
        }

        if (Idle(hold))
        {
            _ = ReleaseIdleAsync(hold);
        }
    }

    /// <summary>The lease of (key, name), made when new; counts the caller as a waiter.</summary>
    private DurableLeaseHold Hold(string owner, string name)
    {
        lock (_gate)
        {
            if (!_holds.TryGetValue((owner, name), out var hold))
            {
                hold = new DurableLeaseHold(owner, name);
                _holds[(owner, name)] = hold;
            }

            hold.Waiters++;
            return hold;
        }
    }

    /// <summary>Takes the lease unless held already; (true, null) when taken now.</summary>
    private async Task<(bool Fresh, DurableRefusal? Refusal)> TakeAsync(DurableLeaseHold hold,
        CancellationToken cancellationToken)
    {
        await hold.Turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (hold.Held)
            {
                return (false, null);
            }

            var asked = broker.Time.GetTimestamp();
            DurableLeaseAnswer answer;
            try
            {
                // Not cancelled with the stream: a lease Redis took must be known here, to be given back.
                answer = await _lease!.AcquireAsync(hold.Owner, hold.Name, LeaseTtl, CancellationToken.None)
                    .ConfigureAwait(false);
            }
            catch (BackendException ex)
            {
                broker.Log.DurableLeaseUnavailable(hold.Name, hold.Owner, ex.Message);
                return (false, Unavailable(hold.Name, ex.Message));
            }

            if (!answer.Acquired)
            {
                var remaining = (long)Math.Ceiling(answer.Remaining.TotalMilliseconds);
                broker.Log.DurableHeldElsewhere(hold.Name, hold.Owner, answer.Holder, remaining);
                return (false, HeldElsewhere(hold.Name, answer.Holder, remaining));
            }

            hold.ConfirmedAt = asked;
            hold.Held = true;
            EnsureRenewTimer();
            return (true, null);
        }
        finally
        {
            hold.Turn.Release();
        }
    }

    /// <summary>No stream here holds the durable and no subscribe waits for it.</summary>
    private bool Idle(DurableLeaseHold hold)
    {
        lock (_gate)
        {
            return hold.Waiters == 0
                && (!_durables.TryGetValue((hold.Owner, hold.Name), out var durable) || durable.MemberCount == 0);
        }
    }

    /// <summary>True when this gateway holds the durable's lease by its own records but the TTL has passed since
    /// the store last confirmed it (a pause): nothing of it may be saved until a renewal confirms it again.</summary>
    private bool LeaseRanOut(DurableSubscription durable) =>
        _lease is not null
        && HoldOf(durable.Owner, durable.Name) is { Held: true } hold
        && broker.Time.GetElapsedTime(hold.ConfirmedAt) >= LeaseTtl;

    private DurableLeaseHold? HoldOf(string owner, string name)
    {
        lock (_gate)
        {
            return _holds.GetValueOrDefault((owner, name));
        }
    }

    /// <summary>Saves the durable (when changed), then gives its lease back, when no stream here holds it. A save
    /// that fails keeps the lease: the renewal timer tries again.</summary>
    private async Task ReleaseIdleAsync(DurableLeaseHold hold)
    {
        await hold.Turn.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!hold.Held || !Idle(hold))
            {
                return;
            }

            if (Find(hold.Owner, hold.Name) is { Dirty: true, Removed: false } durable)
            {
                await SaveAsync(durable).ConfigureAwait(false);
                if (durable.Dirty && !durable.Removed)
                {
                    return;
                }
            }

            hold.Held = false;
            try
            {
                await _lease!.ReleaseAsync(hold.Owner, hold.Name, CancellationToken.None).ConfigureAwait(false);
            }
            catch (BackendException ex)
            {
                broker.Log.DurableLeaseReleaseFailed(hold.Name, hold.Owner, broker.Options.Durable.LeaseTtlMs,
                    ex.Message);
            }
        }
        finally
        {
            hold.Turn.Release();
        }
    }

    /// <summary>Gives back every lease no stream here needs (the broker stopping, after the final saves).</summary>
    private async Task ReleaseAllAsync()
    {
        if (_lease is null)
        {
            return;
        }

        DurableLeaseHold[] held;
        lock (_gate)
        {
            held = [.. _holds.Values.Where(h => h.Held)];
        }

        await Task.WhenAll(held.Select(ReleaseIdleAsync)).ConfigureAwait(false);
    }

    /// <summary>Forgets leases neither held nor waited for whose durable is gone here (the sweep).</summary>
    private void ForgetIdleHolds()
    {
        if (_lease is null)
        {
            return;
        }

        lock (_gate)
        {
            foreach (var (id, hold) in _holds.Where(h => !h.Value.Held && h.Value.Waiters == 0).ToArray())
            {
                if (!_durables.ContainsKey(id))
                {
                    _holds.Remove(id);
                }
            }
        }
    }

    private static long Ms(TimeSpan span) => (long)span.TotalMilliseconds;

    private static DurableRefusal HeldElsewhere(string name, string holder, long remainingMs) => new(
        $"durable subscription '{name}' is held by another gateway, '{holder}': one gateway at a time holds a "
        + "durable subscription, so a consumer group's members must all use one gateway. It is free here once its "
        + $"streams on '{holder}' end, or within {remainingMs.ToString(CultureInfo.InvariantCulture)} ms (its "
        + "lease) if that gateway stops",
        DurableRefusal.HeldElsewhereReason, holder);

    private static DurableRefusal Unavailable(string name, string reason) => new(
        $"durable subscription '{name}' cannot be held now: the cluster store did not answer ({reason}); "
        + "subscribe again",
        DurableRefusal.UnavailableReason, "");
}
