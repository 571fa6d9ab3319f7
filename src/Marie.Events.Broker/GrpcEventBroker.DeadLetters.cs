using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Subscriptions;

namespace Marie.Events.Broker;

/// <summary>The broker's dead letters: per key, kept by the <see cref="IDeadLetterStore"/> given at creation (memory
/// by default). Every call names its key and sees only that key's dead letters.</summary>
public sealed partial class GrpcEventBroker
{
    /// <summary>Largest page <see cref="ListDeadLetters"/> gives.</summary>
    public const int MaxDeadLetterPageSize = 500;

    /// <summary>A page of <paramref name="key"/>'s dead letters, oldest first.</summary>
    /// <param name="key">The API key name.</param>
    /// <param name="query">Which ones.</param>
    /// <param name="pageToken">The previous page's <see cref="DeadLetterPage.NextPageToken"/>; null for the first.
    /// </param>
    /// <param name="pageSize">1 to <see cref="MaxDeadLetterPageSize"/>.</param>
    /// <exception cref="ArgumentException">A page size out of range, or a token this broker did not give.</exception>
    /// <exception cref="InvalidOperationException">The dead letters are in a shared store (Redis): use
    /// <see cref="ListDeadLettersAsync"/>.</exception>
    public DeadLetterPage ListDeadLetters(string key, DeadLetterQuery query, string? pageToken, int pageSize)
    {
        CheckPage(key, query, pageSize);
        return LocalStore().List(key, query, pageToken, pageSize);
    }

    /// <summary>A page of <paramref name="key"/>'s dead letters, oldest first; with a shared store (Redis) read from
    /// it, so every gateway of the cluster lists the same and a page token of one is good on the others.</summary>
    /// <exception cref="ArgumentException">A page size out of range, or a token this broker (or cluster) did not
    /// give.</exception>
    /// <exception cref="Storage.BackendException">The shared store failed.</exception>
    public Task<DeadLetterPage> ListDeadLettersAsync(string key, DeadLetterQuery query, string? pageToken,
        int pageSize, CancellationToken cancellationToken = default)
    {
        CheckPage(key, query, pageSize);
        return DeadLetterOffice.ListAsync(key, query, pageToken, pageSize, cancellationToken);
    }

    /// <summary>One of <paramref name="key"/>'s dead letters, or null.</summary>
    /// <exception cref="InvalidOperationException">The dead letters are in a shared store (Redis): use
    /// <see cref="GetDeadLetterAsync"/>.</exception>
    public DeadLetter? GetDeadLetter(string key, string id)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentException.ThrowIfNullOrEmpty(id);
        return LocalStore().Find(key, id);
    }

    /// <summary>One of <paramref name="key"/>'s dead letters, or null; with a shared store (Redis) read from it.
    /// </summary>
    /// <exception cref="Storage.BackendException">The shared store failed.</exception>
    public Task<DeadLetter?> GetDeadLetterAsync(string key, string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentException.ThrowIfNullOrEmpty(id);
        return DeadLetterOffice.GetAsync(key, id, cancellationToken);
    }

    private static void CheckPage(string key, DeadLetterQuery query, int pageSize)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(query);
        if (pageSize is < 1 or > MaxDeadLetterPageSize)
        {
            throw new ArgumentException(
                $"page_size must be 1 to {MaxDeadLetterPageSize} (got {pageSize})", nameof(pageSize));
        }
    }

    /// <summary>The store of the sync calls: this broker's memory, which holds every dead letter unless they are in
    /// a shared store.</summary>
    private IDeadLetterStore LocalStore() => DeadLetterOffice.Shared is null
        ? DeadLetterOffice.Store
        : throw new InvalidOperationException(
            "the dead letters are in a store the gateways share: use the Async dead-letter calls");

    /// <summary>
    /// Sends <paramref name="key"/>'s dead letters matching <paramref name="query"/> again, each to the subscription
    /// that failed it and to no other, oldest first, at most <paramref name="maxEvents"/> (0: 100; at most 1000),
    /// paced at <c>dead_letters.replay_per_second</c> per key. A replayed event keeps its dead-letter id and history
    /// and starts a new round of attempts; if it fails again it is dead-lettered again with its count raised. One that
    /// cannot be sent (its subscription ended with its stream: <c>subscription_gone</c>; or it is at
    /// <c>max_in_flight</c>) stays a dead letter and is listed in <see cref="DeadLetterReplayResult.Failures"/>.
    /// With <paramref name="dryRun"/> nothing is sent: the result counts what would be. With a shared store (Redis)
    /// the letters and counts are the store's, and each letter is claimed there before it is sent, so a letter is
    /// replayed once however many gateways replay it at once (the others get <c>not_found</c>).
    /// </summary>
    /// <exception cref="Limits.BrokerLimitException"><paramref name="maxEvents"/> over 1000 or negative.</exception>
    public Task<DeadLetterReplayResult> ReplayDeadLettersAsync(
        string key,
        DeadLetterQuery query,
        bool dryRun,
        int maxEvents,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(query);
        return DeadLetterOffice.ReplayAsync(key, query, dryRun, maxEvents, cancellationToken);
    }

    /// <summary>Removes <paramref name="key"/>'s dead letters matching <paramref name="query"/> (with
    /// <paramref name="dryRun"/>, only counts them); returns how many.</summary>
    /// <exception cref="InvalidOperationException">The dead letters are in a shared store (Redis): use
    /// <see cref="PurgeDeadLettersAsync"/>.</exception>
    public int PurgeDeadLetters(string key, DeadLetterQuery query, bool dryRun = false)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(query);
        _ = LocalStore();
        return DeadLetterOffice.Purge(key, query, dryRun);
    }

    /// <summary>Removes <paramref name="key"/>'s dead letters matching <paramref name="query"/> (with
    /// <paramref name="dryRun"/>, only counts them); returns how many. With a shared store (Redis) each is claimed
    /// there: one that a replay or purge on another gateway removed first is not counted.</summary>
    /// <exception cref="Storage.BackendException">The shared store failed.</exception>
    public Task<int> PurgeDeadLettersAsync(string key, DeadLetterQuery query, bool dryRun = false,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(query);
        return DeadLetterOffice.PurgeAsync(key, query, dryRun, cancellationToken);
    }

    /// <summary>Waits until every dead-letter change is written to the backend (the gateway stopping); returns early
    /// when <paramref name="cancellationToken"/> is cancelled, logging what is left (1142). Nothing to wait for on a
    /// backend that keeps no dead letters (memory).</summary>
    public Task FlushDeadLettersAsync(CancellationToken cancellationToken = default) =>
        DeadLetterOffice.FlushAsync(cancellationToken);

    /// <summary>The dead-letter figures over every key: depth and oldest age now, counts by reason, replays, purges
    /// and retention removals since start (for <c>/internal/stats</c> and the metrics).
    /// With a shared store (Redis) depth and oldest age are the store's over the cluster, as read within the last
    /// second (without waiting: the metrics call this); the counts are this gateway's.</summary>
    public DeadLetterStats DeadLetterStats() => DeadLetterOffice.Stats();

    /// <summary><see cref="DeadLetterStats()"/>, with a shared store's depth and oldest age read from it now.
    /// </summary>
    /// <exception cref="Storage.BackendException">The shared store failed.</exception>
    public Task<DeadLetterStats> DeadLetterStatsAsync(CancellationToken cancellationToken = default) =>
        DeadLetterOffice.StatsAsync(cancellationToken);

    /// <summary>The open subscription <paramref name="subscriptionId"/> of the connection
    /// <paramref name="connectionId"/> of key <paramref name="key"/>, or null.</summary>
    internal Subscription? FindSubscription(string key, string connectionId, string subscriptionId)
    {
        foreach (var connection in _connections.Keys)
        {
            if (connection.Id == connectionId && connection.Owner == key && !connection.IsDisposed)
            {
                return connection.FindSubscription(subscriptionId);
            }
        }

        return null;
    }
}
