using Marie.Events.Broker.Storage;

namespace Marie.Events.Broker.Durables;

/// <summary>The registry's timers: the inactive TTL, silent members, saves.</summary>
internal sealed partial class DurableRegistry
{
    /// <summary>A group member holding events that sent nothing (no ack, no heartbeat) for this many heartbeat
    /// intervals is silent. 1.5 leaves half an interval for a client that heartbeats at the server's interval (the
    /// .NET client's default); with the sweep every quarter interval a silent member's events move within 1.75
    /// intervals, inside the two the issue allows.</summary>
    private const double SilentAfterHeartbeats = 1.5;

    /// <summary>The sweep runs four times per heartbeat interval (see <see cref="SilentAfterHeartbeats"/>).</summary>
    private const int SweepsPerHeartbeat = 4;

    private ITimer? _flush;

    private void EnsureTimers()
    {
        if (Volatile.Read(ref _sweep) is not null)
        {
            return;
        }

        var time = broker.Time;
        var sweepEvery = broker.Settings.HeartbeatInterval / SweepsPerHeartbeat;
        var sweep = time.CreateTimer(static s => ((DurableRegistry)s!).Sweep(), this, sweepEvery, sweepEvery);
        if (Interlocked.CompareExchange(ref _sweep, sweep, null) is not null)
        {
            sweep.Dispose();
            return;
        }

        if (store is not null)
        {
            var flushEvery = TimeSpan.FromMilliseconds(broker.Options.Durable.FlushIntervalMs);
            _flush = time.CreateTimer(static s => _ = ((DurableRegistry)s!).FlushAsync(), this, flushEvery,
                flushEvery);
        }
    }

    /// <summary>Removes durables past their inactive TTL and takes silent members' events away from them.</summary>
    private void Sweep()
    {
        var now = broker.Time.GetUtcNow();
        var ttl = TimeSpan.FromSeconds(broker.Options.Durable.InactiveTtlSeconds);
        var expired = new List<DurableSubscription>();
        DurableSubscription[] active;
        lock (_gate)
        {
            foreach (var durable in _durables.Values)
            {
                lock (durable.Gate)
                {
                    if (durable.MemberCountLocked == 0 && now - durable.LastActiveAt >= ttl)
                    {
                        durable.Removed = true;
                        expired.Add(durable);
                    }
                }
            }

            foreach (var durable in expired)
            {
                _durables.Remove((durable.Owner, durable.Name));
            }

            active = [.. _durables.Values.Where(d => d.Group.Length > 0)];
        }

        foreach (var durable in expired)
        {
            Interlocked.Increment(ref _expired);
            broker.Log.DurableExpired(durable.Name, durable.Owner, (long)ttl.TotalSeconds);
            if (store is not null)
            {
                _ = DeleteStoredAsync(durable, ttl);
            }
        }

        foreach (var durable in active)
        {
            CheckSilence(durable);
        }

        ForgetIdleHolds();
    }

    /// <summary>Hands a silent member's in-flight events to the others of its group (when one of them is not
    /// silent), and lets members heard from again claim once more.</summary>
    private void CheckSilence(DurableSubscription durable)
    {
        var members = durable.Members();
        if (members.Length < 2)
        {
            return;
        }

        var time = broker.Time;
        var now = time.GetTimestamp();
        var silentAfter = broker.Settings.HeartbeatInterval * SilentAfterHeartbeats;
        var moved = false;
        foreach (var member in members)
        {
            if (time.GetElapsedTime(member.Connection.LastHeardAt, now) < silentAfter)
            {
                lock (member.Gate)
                {
                    // Heard from again after a suspension: it may claim again.
                    member.Pump();
                }

                continue;
            }

            if (!members.Any(m => m != member && time.GetElapsedTime(m.Connection.LastHeardAt, now) < silentAfter))
            {
                continue;
            }

            int handed;
            lock (member.Gate)
            {
                handed = member.Surrender(now);
            }

            if (handed > 0)
            {
                moved = true;
                broker.Log.DurableMemberSilent(durable.Name, durable.Owner, member.Connection.Id, handed);
            }
        }

        if (moved)
        {
            Nudge(durable);
        }
    }

    private void DisposeTimers()
    {
        Interlocked.Exchange(ref _sweep, null)?.Dispose();
        Interlocked.Exchange(ref _flush, null)?.Dispose();
        Interlocked.Exchange(ref _renew, null)?.Dispose();
    }
}
