using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Storage;
using StackExchange.Redis;

namespace Marie.Events.Backends.Redis;

/// <summary>Dead letters (<see cref="IDeadLetterPersistence"/>), kept in Redis beside the event log so that they
/// outlive a gateway's restart.</summary>
public sealed partial class RedisEventBackend : IDeadLetterPersistence
{
    private RedisDeadLetterStore DeadLetters =>
        _deadLetters ?? throw new BackendException("the Redis backend is not connected yet");

    /// <inheritdoc />
    public ValueTask SaveAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        return new(GuardDeadLetters(() => DeadLetters.SaveAsync(letter), cancellationToken));
    }

    /// <inheritdoc />
    ValueTask IDeadLetterPersistence.DeleteAsync(string key, string id, CancellationToken cancellationToken) =>
        new(GuardDeadLetters(() => DeadLetters.DeleteAsync(key, id), cancellationToken));

    /// <inheritdoc />
    async ValueTask<IReadOnlyList<DeadLetter>> IDeadLetterPersistence.LoadAllAsync(
        CancellationToken cancellationToken)
    {
        (List<DeadLetter> Letters, int Unreadable) loaded = ([], 0);
        await GuardDeadLetters(async () => loaded = await DeadLetters.LoadAllAsync().ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        if (loaded.Unreadable > 0)
        {
            RedisBackendLog.DeadLettersUnreadable(_logger, loaded.Unreadable);
        }

        return loaded.Letters;
    }

    /// <summary>Runs a dead-letter call, its Redis failures as <see cref="BackendException"/>.</summary>
    private static async Task GuardDeadLetters(Func<Task> call, CancellationToken cancellationToken)
    {
        try
        {
            await call().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            throw new BackendException($"Redis did not take the dead letter: {ex.Message}", ex);
        }
    }
}
