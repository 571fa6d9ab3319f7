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
    /// <summary>Renewals per TTL: at a third, a missed renewal is survived (the next one comes with a third of the
    /// TTL still to run).</summary>
    private const int RenewalsPerTtl = 3;

    /// <summary>A renewal that fails this share of the TTL or more after the last confirmed one ends the durable
    /// here: the next one would come at most a sixth of the TTL before the lease can expire, too close to trust
    /// (timers run late). With renewals every third, that is the second failure in a row.</summary>
    private const double LostAfterFailingFor = 0.5;

    private readonly IDurableLease? _lease = store is { IsShared: true } ? store as IDurableLease : null;
    private readonly Dictionary<(string Owner, string Name), DurableLeaseHold> _holds = [];
    private ITimer? _renew;
    private int _renewing;

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
                answer = await _lease!.AcquireAsync(hold.Owner, hold.Name, LeaseTtl, cancellationToken)
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

    private void EnsureRenewTimer()
    {
        if (Volatile.Read(ref _renew) is not null)
        {
            return;
        }

        var every = LeaseTtl / RenewalsPerTtl;
        var timer = broker.Time.CreateTimer(static s => _ = ((DurableRegistry)s!).RenewAllAsync(), this, every,
            every);
        if (Interlocked.CompareExchange(ref _renew, timer, null) is not null)
        {
            timer.Dispose();
        }
    }

    /// <summary>Renews every lease held here (the timer); one round at a time.</summary>
    private async Task RenewAllAsync()
    {
        if (Interlocked.Exchange(ref _renewing, 1) == 1)
        {
            return;
        }

        try
        {
            DurableLeaseHold[] held;
            lock (_gate)
            {
                held = [.. _holds.Values.Where(h => h.Held)];
            }

            await Task.WhenAll(held.Select(RenewAsync)).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _renewing, 0);
        }
    }

    private async Task RenewAsync(DurableLeaseHold hold)
    {
        string? lost = null;
        await hold.Turn.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!hold.Held)
            {
                return;
            }

            var time = broker.Time;
            var asked = time.GetTimestamp();
            var since = time.GetElapsedTime(hold.ConfirmedAt, asked);
            var ttl = LeaseTtl;
            if (since >= ttl)
            {
                // A pause longer than the lease (a stopped process): another gateway may have held it meanwhile.
                lost = $"its lease was not renewed for {Ms(since)} ms, past its TTL of {Ms(ttl)} ms";
            }
            else
            {
                try
                {
                    if (await _lease!.RenewAsync(hold.Owner, hold.Name, ttl, CancellationToken.None)
                        .ConfigureAwait(false))
                    {
                        hold.ConfirmedAt = asked;
                    }
                    else
                    {
                        lost = "its lease expired or another gateway holds it now";
                    }
                }
                catch (BackendException ex)
                {
                    if (since >= ttl * LostAfterFailingFor)
                    {
                        lost = $"its lease could not be renewed for {Ms(since)} ms of its {Ms(ttl)} ms: {ex.Message}";
                    }
                    else
                    {
                        broker.Log.DurableLeaseRenewFailed(hold.Name, hold.Owner, Ms(ttl / RenewalsPerTtl),
                            ex.Message);
                    }
                }
            }

            if (lost is not null)
            {
                hold.Held = false;
            }
        }
        finally
        {
            hold.Turn.Release();
        }

        if (lost is not null)
        {
            Lose(hold, lost);
        }
        else if (Idle(hold))
        {
            // A give-back that could not save before: tried again.
            await ReleaseIdleAsync(hold).ConfigureAwait(false);
        }
    }

    /// <summary>The lease is lost: this gateway's copy is dropped (never saved again) and its members here are
    /// closed with an error, so nothing of it is delivered here any more. No lock held.</summary>
    private void Lose(DurableLeaseHold hold, string why)
    {
        DurableSubscription? durable;
        lock (_gate)
        {
            if (_durables.Remove((hold.Owner, hold.Name), out durable))
            {
                lock (durable.Gate)
                {
                    durable.Removed = true;
                }
            }
        }

        var members = durable?.Members() ?? [];
        broker.Log.DurableLeaseLost(hold.Name, hold.Owner, why, members.Length);
        var message = $"durable subscription '{hold.Name}' was closed on this gateway: {why}. Subscribe again "
            + "(one gateway at a time holds a durable subscription)";
        foreach (var member in members)
        {
            member.Connection.CloseLostDurableMember(member, message);
        }
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

/// <summary>What <see cref="DurableRegistry.EnterAsync"/> answers: the lease to pass to
/// <see cref="DurableRegistry.Entered"/>, or why the durable may not be held here.</summary>
internal readonly record struct DurableEntry(DurableLeaseHold? Hold, DurableRefusal? Refusal);

/// <summary>Why a durable may not be held on this gateway: the message, <c>details.reason</c> and the holder.
/// </summary>
internal sealed record DurableRefusal(string Message, string Reason, string Holder)
{
    /// <summary>Another gateway holds its lease.</summary>
    public const string HeldElsewhereReason = "held_by_another_gateway";

    /// <summary>The lease store (Redis) did not answer.</summary>
    public const string UnavailableReason = "lease_unavailable";

    /// <summary>This gateway lost the lease of a durable its streams held.</summary>
    public const string LostReason = "lease_lost";
}
