namespace Marie.Events.Broker.Topics;

/// <summary>
/// A small, lossy cache of the names, sources and job ids a topic's events repeat, so that the ring's events share
/// one string per value instead of each keeping the copy its parse made (three fewer objects per ring event for the
/// collector to copy). Direct-mapped by hash: a value that collides replaces the older one; nothing grows. Not
/// thread-safe: the topic's append lock guards it.
/// </summary>
internal sealed class StringPool
{
    /// <summary>256 slots (a power of two, for the mask): a topic's distinct event names and sources fit many times
    /// over; job ids cycle through it as jobs come and go.</summary>
    private const int Slots = 256;

    /// <summary>Longer values are kept as they are: hashing them costs more than the object they would save.</summary>
    private const int MaxLength = 128;

    /// <summary>Made at the first value: a topic that never receives an event costs no array.</summary>
    private string?[]? _slots;

    public string Intern(string value)
    {
        if (value.Length == 0)
        {
            return string.Empty;
        }

        if (value.Length > MaxLength)
        {
            return value;
        }

        _slots ??= new string?[Slots];
        ref var slot = ref _slots[string.GetHashCode(value.AsSpan()) & (Slots - 1)];
        if (slot is not null && string.Equals(slot, value, StringComparison.Ordinal))
        {
            return slot;
        }

        slot = value;
        return value;
    }
}
