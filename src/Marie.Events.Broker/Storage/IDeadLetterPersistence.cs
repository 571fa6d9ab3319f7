using Marie.Events.Broker.DeadLetters;

namespace Marie.Events.Broker.Storage;

/// <summary>
/// Where dead letters are kept across restarts, next to <see cref="IEventBackend"/>: per (key, id) the dead letter's
/// bytes (<see cref="DeadLetter.ToBytes"/>). The broker keeps its dead letters in memory and hands every change
/// (filed, filed again, removed by a replay or a purge, dropped by retention) to one writer, which applies them here
/// after the fact, one at a time and in order (write-behind: docs/dead-letters.md). A backend that keeps dead
/// letters implements this interface too; the broker finds it there. The memory backend does not: its dead letters
/// are lost with the process.
/// </summary>
public interface IDeadLetterPersistence
{
    /// <summary>True when other gateways read and write the same store (Redis). The broker then keeps no dead
    /// letters in memory: it answers lists, replays, purges and depth from the store, which must implement
    /// <see cref="ISharedDeadLetterPersistence"/>, and writes only new filings behind.</summary>
    bool IsShared { get; }

    /// <summary>Stores <paramref name="letter"/>, replacing the one with the same key and id.</summary>
    /// <exception cref="BackendException">The store failed; the broker logs it and writes the change again later.
    /// </exception>
    ValueTask SaveAsync(DeadLetter letter, CancellationToken cancellationToken);

    /// <summary>Removes the dead letter (key, id); nothing when there is none.</summary>
    /// <exception cref="BackendException">The store failed; the broker logs it and writes the change again later.
    /// </exception>
    ValueTask DeleteAsync(string key, string id, CancellationToken cancellationToken);

    /// <summary>Every stored dead letter (at start, before the broker serves), in any order: the broker orders them
    /// by the time they were dead-lettered. One the store cannot read is left out (and logged by the store).
    /// </summary>
    ValueTask<IReadOnlyList<DeadLetter>> LoadAllAsync(CancellationToken cancellationToken);
}
