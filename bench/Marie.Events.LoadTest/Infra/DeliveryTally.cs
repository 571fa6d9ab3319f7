namespace Marie.Events.LoadTest.Infra;

/// <summary>
/// WG's count of a round's events by sequence number, on its one topic: which were delivered, how many times. The
/// round's events are numbered <see cref="Base"/> + 1 to <see cref="Base"/> + <see cref="Expected"/> (the topic's
/// head when the subscriptions were confirmed, before any producer started, then the round's events in order).
/// </summary>
internal sealed class DeliveryTally(long expected)
{
    private readonly int[] _counts = new int[expected];
    private long _base;
    private long _unique;
    private long _deliveries;
    private long _duplicates;
    private long _foreign;

    public long Expected { get; } = expected;

    /// <summary>The topic's head before the round (the highest head its subscriptions were confirmed with).</summary>
    public long Base => Interlocked.Read(ref _base);

    /// <summary>Events delivered at least once.</summary>
    public long Unique => Interlocked.Read(ref _unique);

    /// <summary>Every delivery, duplicates and others' included.</summary>
    public long Deliveries => Interlocked.Read(ref _deliveries);

    /// <summary>Deliveries of an event delivered before.</summary>
    public long Duplicates => Interlocked.Read(ref _duplicates);

    /// <summary>Deliveries outside the round's numbers (none expected: the subscriptions start at the head).</summary>
    public long Foreign => Interlocked.Read(ref _foreign);

    /// <summary>A subscription was confirmed with this head.</summary>
    public void OnConfirmed(long head)
    {
        var seen = Interlocked.Read(ref _base);
        while (head > seen)
        {
            var was = Interlocked.CompareExchange(ref _base, head, seen);
            if (was == seen)
            {
                return;
            }

            seen = was;
        }
    }

    public void OnDelivered(long sequence)
    {
        Interlocked.Increment(ref _deliveries);
        var index = sequence - Interlocked.Read(ref _base) - 1;
        if (index < 0 || index >= Expected)
        {
            Interlocked.Increment(ref _foreign);
            return;
        }

        if (Interlocked.Increment(ref _counts[index]) == 1)
        {
            Interlocked.Increment(ref _unique);
        }
        else
        {
            Interlocked.Increment(ref _duplicates);
        }
    }
}
