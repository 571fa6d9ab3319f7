using System.Text;

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

    /// <summary>The string of <paramref name="utf8"/>: the pooled one when it is there (no allocation), else a new
    /// one, pooled.</summary>
    public string Intern(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty)
        {
            return string.Empty;
        }

        if (utf8.Length > MaxLength)
        {
            return Encoding.UTF8.GetString(utf8);
        }

        // A UTF-8 value of at most MaxLength bytes decodes to at most MaxLength chars.
        Span<char> chars = stackalloc char[MaxLength];
        var length = Encoding.UTF8.GetChars(utf8, chars);
        var value = chars[..length];
        _slots ??= new string?[Slots];
        ref var slot = ref _slots[string.GetHashCode(value) & (Slots - 1)];
        if (slot is not null && value.SequenceEqual(slot))
        {
            return slot;
        }

        slot = new string(value);
        return slot;
    }
}
