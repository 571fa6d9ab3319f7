using Marie.Events.Broker.Storage;

namespace Marie.Events.Broker.Durables;

/// <summary>The registry's lease renewals: one timer for every lease held here, every third of the TTL; a lease
/// found another's, or not renewed for half the TTL, is lost and the durable's members here are closed.</summary>
internal sealed partial class DurableRegistry
{
    /// <summary>Renewals per TTL: at a third, a missed renewal is survived (the next one comes with a third of the
    /// TTL still to run).</summary>
    private const int RenewalsPerTtl = 3;

    /// <summary>A renewal that fails this share of the TTL or more after the last confirmed one ends the durable
    /// here: the next one would come at most a sixth of the TTL before the lease can expire, too close to trust
    /// (timers run late). With renewals every third, that is the second failure in a row.</summary>
    private const double LostAfterFailingFor = 0.5;

    private ITimer? _renew;
    private int _renewing;

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
}
