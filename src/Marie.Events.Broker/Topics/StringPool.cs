using System.Text;

namespace Marie.Events.Broker.Topics;

/// <summary>
/// A small, lossy cache of the names, sources and job ids a topic's events repeat, so that the ring's events share
/// one string per value instead of each keeping the copy its parse made (three fewer objects per ring event for the
/// collector to copy). Each value has two candidate slots (two parts of its hash), so that an event's name, source
/// and job id rarely evict each other; a value whose two slots are both taken by others replaces the one in its
/// first; nothing grows. Not thread-safe: the topic's append lock guards it.
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

        ref var slot = ref Find(value, out var found);
        if (found)
        {
            return slot!;
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
        ref var slot = ref Find(value, out var found);
        if (!found)
        {
            slot = new string(value);
        }

        return slot!;
    }

    /// <summary>The slot holding <paramref name="value"/> (<paramref name="found"/>), else the slot it should
    /// take: the first of its two that is empty, or its first.</summary>
    private ref string? Find(ReadOnlySpan<char> value, out bool found)
    {
        var slots = _slots ??= new string?[Slots];
        var hash = string.GetHashCode(value);
        ref var first = ref slots[hash & (Slots - 1)];
        // The second candidate comes from the hash's next 8 bits, independent of the first's.
        ref var second = ref slots[(hash >> 8) & (Slots - 1)];
        if (first is not null && value.SequenceEqual(first))
        {
            found = true;
            return ref first;
        }

        if (second is not null && value.SequenceEqual(second))
        {
            found = true;
            return ref second;
        }

        found = false;
        if (first is null || second is not null)
        {
            return ref first;
        }

        return ref second;
    }
}
