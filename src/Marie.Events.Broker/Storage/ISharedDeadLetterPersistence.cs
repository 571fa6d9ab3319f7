using Marie.Events.Broker.DeadLetters;

namespace Marie.Events.Broker.Storage;

/// <summary>
/// A dead-letter store several gateways share (<see cref="IDeadLetterPersistence.IsShared"/>): the one view of a
/// key's dead letters in a cluster. Each key's letters are ordered by the time they were dead-lettered (then by id);
/// a removal is a claim that exactly one caller wins, so a dead letter replayed or purged on two gateways at once is
/// acted on once. Retention applies to what the store holds for the key, whichever gateway filed it.
/// </summary>
public interface ISharedDeadLetterPersistence : IDeadLetterPersistence
{
    /// <summary>Stores <paramref name="letter"/> (replacing the one with its key and id), then removes, in the same
    /// atomic step, the key's oldest past <paramref name="maxCount"/> and those dead-lettered before
    /// <paramref name="notBefore"/>. Returns how many it removed.</summary>
    /// <exception cref="BackendException">The store failed; nothing was stored.</exception>
    ValueTask<int> FileAsync(DeadLetter letter, int maxCount, DateTimeOffset notBefore,
        CancellationToken cancellationToken);

    /// <summary><paramref name="key"/>'s dead letters dead-lettered at or after <paramref name="notBefore"/>,
    /// oldest first (ties by id, ordinal). One the store cannot read is left out.</summary>
    /// <exception cref="BackendException">The store failed.</exception>
    ValueTask<IReadOnlyList<DeadLetter>> ListAsync(string key, DateTimeOffset notBefore,
        CancellationToken cancellationToken);

    /// <summary>One of <paramref name="key"/>'s dead letters, or null.</summary>
    /// <exception cref="BackendException">The store failed.</exception>
    ValueTask<DeadLetter?> GetAsync(string key, string id, CancellationToken cancellationToken);

    /// <summary>Removes those of <paramref name="ids"/> the key still has, atomically; returns the ones this call
    /// removed (a concurrent call on any gateway gets the others, never the same).</summary>
    /// <exception cref="BackendException">The store failed; nothing was removed.</exception>
    ValueTask<IReadOnlyList<string>> ClaimAsync(string key, IReadOnlyList<string> ids,
        CancellationToken cancellationToken);

    /// <summary>Dead letters held over every key, dead-lettered at or after <paramref name="notBefore"/>, and the
    /// oldest one's time of dead-lettering.</summary>
    /// <exception cref="BackendException">The store failed.</exception>
    ValueTask<(long Depth, DateTimeOffset? Oldest)> MeasureAsync(DateTimeOffset notBefore,
        CancellationToken cancellationToken);
}
