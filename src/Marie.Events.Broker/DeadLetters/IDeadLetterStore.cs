namespace Marie.Events.Broker.DeadLetters;

/// <summary>
/// Where the broker keeps dead letters, per key: a call names its key and sees that key's dead letters only. The
/// store enforces retention (<c>dead_letters.max_count</c> per key, the oldest going first, and
/// <c>dead_letters.max_age_s</c>). Calls may come from any thread; the broker calls <see cref="Add"/> and
/// <see cref="Remove"/> holding a subscription's lock, so they must not call back into the broker (nor wait on I/O).
/// The broker ships an in-memory one, the default, which writes its changes behind to the backend when the backend
/// implements <see cref="Storage.IDeadLetterPersistence"/> (file, Redis).
/// </summary>
public interface IDeadLetterStore
{
    /// <summary>Files a dead letter (one with the same key and id replaces the old one, moving it last), then
    /// applies retention.</summary>
    void Add(DeadLetter letter);

    /// <summary>A page of <paramref name="key"/>'s dead letters matching <paramref name="query"/>, oldest first,
    /// starting after <paramref name="pageToken"/> (null: the first page).</summary>
    /// <exception cref="ArgumentException">A page token this store did not give.</exception>
    DeadLetterPage List(string key, DeadLetterQuery query, string? pageToken, int pageSize);

    /// <summary>One of <paramref name="key"/>'s dead letters, or null.</summary>
    DeadLetter? Find(string key, string id);

    /// <summary>The first <paramref name="max"/> dead letters matching, oldest first, and how many match in all.
    /// </summary>
    (IReadOnlyList<DeadLetter> Letters, int Matched) Find(string key, DeadLetterQuery query, int max);

    /// <summary>Removes one dead letter; false when the key has none with that id.</summary>
    bool Remove(string key, string id);

    /// <summary>Removes every dead letter of <paramref name="key"/> matching <paramref name="query"/>.</summary>
    int Purge(string key, DeadLetterQuery query);

    /// <summary>Dead letters held now over every key, the oldest one's time of dead-lettering, and how many
    /// retention removed since start.</summary>
    (long Depth, DateTimeOffset? Oldest, long Evicted) Measure();
}
