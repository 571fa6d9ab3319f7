using Marie.Events.Broker.Storage;

namespace Marie.Events.Broker.Tests;

/// <summary>A shared durable store with leases in memory, as Redis would be for several gateways: the state
/// (<see cref="MemoryDurableStore"/>, shared), a lease table on the given clock, a log of the calls in order, and
/// switches to fail or to hand a lease to another gateway.</summary>
internal sealed class FakeDurableLeaseStore(string holder = "gw-a") : IDurableStore, IDurableLease
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Key, string Name), (string Holder, DateTimeOffset Expires)> _leases = [];
    private readonly List<string> _calls = [];

    public MemoryDurableStore State { get; } = new() { IsShared = true };

    /// <summary>The clock leases expire on (the test broker's, set once it exists).</summary>
    public TimeProvider Clock { get; set; } = TimeProvider.System;

    /// <summary>While true every lease call throws <see cref="BackendException"/> (Redis away).</summary>
    public bool Failing { get; set; }

    /// <summary>While true every save throws <see cref="BackendException"/>.</summary>
    public bool SaveFailing { get; set; }

    /// <summary>The calls so far: "acquire", "renew", "release", "load", "save", in order.</summary>
    public IReadOnlyList<string> Calls
    {
        get
        {
            lock (_gate)
            {
                return [.. _calls];
            }
        }
    }

    public int Count(string call) => Calls.Count(c => c == call);

    public bool IsShared => true;

    public string HolderName => holder;

    /// <summary>The holder of (key, name)'s lease now, or null.</summary>
    public string? HolderOf(string key, string name)
    {
        lock (_gate)
        {
            return _leases.TryGetValue((key, name), out var lease) && lease.Expires > Clock.GetUtcNow()
                ? lease.Holder
                : null;
        }
    }

    /// <summary>Gives (key, name)'s lease to <paramref name="other"/> for <paramref name="ttl"/> (another gateway
    /// took it: this one's expired during a pause, or Redis failed over without it).</summary>
    public void GiveTo(string key, string name, string other, TimeSpan ttl)
    {
        lock (_gate)
        {
            _leases[(key, name)] = (other, Clock.GetUtcNow() + ttl);
        }
    }

    public ValueTask<DurableLeaseAnswer> AcquireAsync(string key, string name, TimeSpan ttl,
        CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Record("acquire");
            var now = Clock.GetUtcNow();
            if (_leases.TryGetValue((key, name), out var lease) && lease.Holder != holder && lease.Expires > now)
            {
                return ValueTask.FromResult(new DurableLeaseAnswer(false, lease.Holder, lease.Expires - now));
            }

            _leases[(key, name)] = (holder, now + ttl);
            return ValueTask.FromResult(new DurableLeaseAnswer(true, holder, ttl));
        }
    }

    public ValueTask<bool> RenewAsync(string key, string name, TimeSpan ttl, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Record("renew");
            var now = Clock.GetUtcNow();
            if (!_leases.TryGetValue((key, name), out var lease) || lease.Holder != holder || lease.Expires <= now)
            {
                return ValueTask.FromResult(false);
            }

            _leases[(key, name)] = (holder, now + ttl);
            return ValueTask.FromResult(true);
        }
    }

    public ValueTask ReleaseAsync(string key, string name, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Record("release");
            if (_leases.TryGetValue((key, name), out var lease) && lease.Holder == holder)
            {
                _leases.Remove((key, name));
            }

            return ValueTask.CompletedTask;
        }
    }

    public ValueTask SaveAsync(DurableSnapshot snapshot, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _calls.Add("save");
            if (SaveFailing)
            {
                throw new BackendException("the fake store refused the save");
            }
        }

        return State.SaveAsync(snapshot, cancellationToken);
    }

    public ValueTask DeleteAsync(string key, string name, CancellationToken cancellationToken) =>
        State.DeleteAsync(key, name, cancellationToken);

    public ValueTask<DurableSnapshot?> LoadAsync(string key, string name, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _calls.Add("load");
        }

        return State.LoadAsync(key, name, cancellationToken);
    }

    public ValueTask<IReadOnlyList<DurableSnapshot>> LoadAllAsync(CancellationToken cancellationToken) =>
        State.LoadAllAsync(cancellationToken);

    /// <summary>Caller holds <see cref="_gate"/>.</summary>
    private void Record(string call)
    {
        _calls.Add(call);
        if (Failing)
        {
            throw new BackendException($"the fake store refused the {call}");
        }
    }
}
