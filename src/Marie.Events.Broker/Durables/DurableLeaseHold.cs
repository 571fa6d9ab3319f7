namespace Marie.Events.Broker.Durables;

/// <summary>This gateway's lease on one durable (key, name) in a shared store: whether it is held, when the store
/// last confirmed it, and the subscribes between taking it and joining. Taking, renewing and giving it back are
/// made one at a time (<see cref="Turn"/>), so a give-back never overtakes a subscribe that counts on the lease.
/// </summary>
internal sealed class DurableLeaseHold(string owner, string name)
{
    private volatile bool _held;
    private long _confirmedAt;

    public string Owner { get; } = owner;

    public string Name { get; } = name;

    /// <summary>One lease call of this durable at a time (taken before the registry's saving turn, never after).
    /// </summary>
    public SemaphoreSlim Turn { get; } = new(1, 1);

    /// <summary>True from a successful take to the give-back (or the loss). Written holding <see cref="Turn"/>.
    /// </summary>
    public bool Held
    {
        get => _held;
        set => _held = value;
    }

    /// <summary>Timestamp (TimeProvider) at which the last successful take or renewal was asked: the lease runs at
    /// least a TTL from here.</summary>
    public long ConfirmedAt
    {
        get => Interlocked.Read(ref _confirmedAt);
        set => Interlocked.Exchange(ref _confirmedAt, value);
    }

    /// <summary>Subscribes that looked it up and have not joined (or given up) yet: the lease is not given back
    /// while one waits. Changed under the registry's lock.</summary>
    public int Waiters { get; set; }
}
