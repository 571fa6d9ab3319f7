using Marie.Events.Broker.Subscriptions;

namespace Marie.Events.Broker.DeadLetters;

/// <summary>The office with a store the gateways of a cluster share (<see cref="SharedDeadLetterView"/>).</summary>
internal sealed partial class DeadLetterOffice
{
    /// <summary>The code of a dead letter that another call removed first (a replay or a purge, on this gateway or
    /// another).</summary>
    internal const string NotFound = "not_found";

    /// <summary>
    /// Replays one letter of a shared store: checks here that its subscription can take it (a letter whose
    /// subscription is not on this gateway is not claimed, so the gateway that holds it can still replay it), claims
    /// it in the store (only one caller, on any gateway, wins), then delivers it. One that cannot be delivered once
    /// claimed (the subscription filled up or closed meanwhile) is filed again, through the write-behind, which keeps
    /// trying while the store is away.
    /// </summary>
    private async Task<DeadLetterReplayFailure?> ReplaySharedAsync(SharedDeadLetterView view, string key,
        DeadLetter letter)
    {
        var target = letter.Subscription;
        Subscription? subscription = null;
        if (target.DurableName is not null)
        {
            if (broker.Durables.CannotReplay(letter) is { } code)
            {
                return DurableFailure(letter, code);
            }
        }
        else
        {
            subscription = broker.FindSubscription(key, target.ConnectionId, target.SubscriptionId);
            if (subscription is null)
            {
                return PlainGone(letter);
            }

            lock (subscription.Gate)
            {
                if (subscription.CannotReplay(letter) is { } code)
                {
                    return PlainFailure(letter, code);
                }
            }
        }

        if (!await view.ClaimAsync(key, letter.Id).ConfigureAwait(false))
        {
            broker.Log.DeadLetterClaimLost(letter.Id, key);
            return new DeadLetterReplayFailure(letter.Id, NotFound,
                "the dead letter was replayed or purged meanwhile (on this gateway or another)");
        }

        var stored = ToStored(letter);
        string? late;
        if (subscription is null)
        {
            late = broker.Durables.Replay(letter, stored);
        }
        else
        {
            lock (subscription.Gate)
            {
                late = subscription.CannotReplay(letter);
                if (late is null)
                {
                    subscription.Replay(letter, stored, broker.Time.GetTimestamp());
                }
            }
        }

        if (late is not null)
        {
            // Claimed but not sent: it stays a dead letter.
            view.File(letter);
            return subscription is null ? DurableFailure(letter, late) : PlainFailure(letter, late);
        }

        broker.Log.DeadLetterReplayed(letter.Id, key, target.DurableName ?? target.SubscriptionId,
            subscription is null ? "(durable)" : target.ConnectionId);
        return null;
    }

    public Task<DeadLetterPage> ListAsync(string key, DeadLetterQuery query, string? pageToken, int pageSize,
        CancellationToken cancellationToken) =>
        shared is null
            ? Task.FromResult(store.List(key, query, pageToken, pageSize))
            : shared.ListAsync(key, query, pageToken, pageSize, cancellationToken);

    public Task<DeadLetter?> GetAsync(string key, string id, CancellationToken cancellationToken) =>
        shared is null ? Task.FromResult(store.Find(key, id)) : shared.GetAsync(key, id, cancellationToken);

    public async Task<int> PurgeAsync(string key, DeadLetterQuery query, bool dryRun,
        CancellationToken cancellationToken)
    {
        if (shared is null)
        {
            return Purge(key, query, dryRun);
        }

        var purged = await shared.PurgeAsync(key, query, dryRun, cancellationToken).ConfigureAwait(false);
        if (!dryRun)
        {
            CountPurged(key, purged);
        }

        return purged;
    }

    /// <summary><see cref="Stats"/>, with a shared store's depth read from it now.</summary>
    public async Task<DeadLetterStats> StatsAsync(CancellationToken cancellationToken)
    {
        if (shared is null)
        {
            return Stats();
        }

        var (depth, oldest, evicted) = Measured(await shared.MeasureAsync(cancellationToken).ConfigureAwait(false));
        return StatsOf(depth, oldest, evicted);
    }

    private (long Depth, DateTimeOffset? Oldest, long Evicted) Measured((long Depth, DateTimeOffset? Oldest) m) =>
        (m.Depth, m.Oldest, shared!.Writer.Evicted);
}
