using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Storage;

namespace Marie.Events.Backends.File;

/// <summary>Dead letters (<see cref="IDeadLetterPersistence"/>), kept in the same database as the events and the
/// durables (table <c>dead_letters</c>), so they survive a restart.</summary>
public sealed partial class FileEventBackend : IDeadLetterPersistence
{
    private SqliteDeadLetterStore DeadLetters =>
        _deadLetters
            ?? throw new InvalidOperationException(
                "the file backend is not started: start its broker (GrpcEventBroker.StartAsync) first");

    /// <inheritdoc />
    public ValueTask SaveAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        Guard(() =>
        {
            DeadLetters.Save(letter);
            return true;
        });
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    ValueTask IDeadLetterPersistence.DeleteAsync(string key, string id, CancellationToken cancellationToken)
    {
        Guard(() =>
        {
            DeadLetters.Delete(key, id);
            return true;
        });
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    ValueTask<IReadOnlyList<DeadLetter>> IDeadLetterPersistence.LoadAllAsync(CancellationToken cancellationToken)
    {
        var all = Guard(() => DeadLetters.LoadAll(out var unreadable) is var letters && unreadable > 0
            ? Skipped(letters, unreadable)
            : letters);
        return ValueTask.FromResult<IReadOnlyList<DeadLetter>>(all);
    }

    private List<DeadLetter> Skipped(List<DeadLetter> letters, int unreadable)
    {
        _log.DeadLettersUnreadable(unreadable, DatabaseFile);
        return letters;
    }
}
