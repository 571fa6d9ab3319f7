using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Storage;
using StackExchange.Redis;

namespace Marie.Events.Backends.Redis;

/// <summary>Dead letters (<see cref="ISharedDeadLetterPersistence"/>), kept in Redis beside the event log: every
/// gateway of the cluster lists, replays and purges the same ones, and they outlive a gateway's restart.</summary>
public sealed partial class RedisEventBackend : ISharedDeadLetterPersistence
{
    private RedisDeadLetterStore DeadLetters =>
        _deadLetters ?? throw new BackendException("the Redis backend is not connected yet");

    /// <inheritdoc />
    public ValueTask SaveAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        return new(GuardDeadLetters(() => DeadLetters.FileAsync(letter, 0, DateTimeOffset.UnixEpoch),
            cancellationToken));
    }

    /// <inheritdoc />
    public async ValueTask<int> FileAsync(DeadLetter letter, int maxCount, DateTimeOffset notBefore,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        var removed = 0;
        await GuardDeadLetters(async () => removed = await DeadLetters.FileAsync(letter, maxCount, notBefore)
            .ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        return removed;
    }

    /// <inheritdoc />
    ValueTask IDeadLetterPersistence.DeleteAsync(string key, string id, CancellationToken cancellationToken) =>
        new(GuardDeadLetters(() => DeadLetters.ClaimAsync(key, [id]), cancellationToken));

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<string>> ClaimAsync(string key, IReadOnlyList<string> ids,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        IReadOnlyList<string> claimed = [];
        await GuardDeadLetters(async () => claimed = await DeadLetters.ClaimAsync(key, ids).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        return claimed;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<DeadLetter>> ListAsync(string key, DateTimeOffset notBefore,
        CancellationToken cancellationToken)
    {
        (List<DeadLetter> Letters, int Unreadable) listed = ([], 0);
        await GuardDeadLetters(async () => listed = await DeadLetters.ListAsync(key, notBefore)
            .ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        if (listed.Unreadable > 0)
        {
            RedisBackendLog.DeadLettersUnreadable(_logger, listed.Unreadable);
        }

        return listed.Letters;
    }

    /// <inheritdoc />
    public async ValueTask<DeadLetter?> GetAsync(string key, string id, CancellationToken cancellationToken)
    {
        DeadLetter? letter = null;
        await GuardDeadLetters(async () => letter = await DeadLetters.GetAsync(key, id).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        return letter;
    }

    /// <inheritdoc />
    public async ValueTask<(long Depth, DateTimeOffset? Oldest)> MeasureAsync(DateTimeOffset notBefore,
        CancellationToken cancellationToken)
    {
        (long, DateTimeOffset?) measured = (0, null);
        await GuardDeadLetters(async () => measured = await DeadLetters.MeasureAsync(notBefore)
            .ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        return measured;
    }

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

    /// <summary>At start: moves dead letters of the layout before the shared view into the current one (8030).
    /// </summary>
    private async Task UpgradeDeadLettersAsync(CancellationToken cancellationToken)
    {
        (int Moved, int Unreadable) upgraded = (0, 0);
        await GuardDeadLetters(async () => upgraded = await DeadLetters.UpgradeAsync().ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        if (upgraded.Moved + upgraded.Unreadable > 0)
        {
            RedisBackendLog.DeadLettersUpgraded(_logger, upgraded.Moved, upgraded.Unreadable);
        }
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
            throw new BackendException($"Redis did not take the dead-letter call: {ex.Message}", ex);
        }
    }
}
