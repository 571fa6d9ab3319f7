using System.Collections.Concurrent;
using Marie.Events.Broker.Limits;
using Marie.Events.Broker.Subscriptions;
using Marie.Events.Broker.Topics;

namespace Marie.Events.Broker.DeadLetters;

/// <summary>
/// Files failed events in the broker's <see cref="IDeadLetterStore"/> and replays them to the subscription that
/// failed them. Filing runs under the subscription's lock (subscription, then store: the lock order); replay finds
/// the subscription, takes its lock, removes the dead letter from the store and delivers it in one hold, so a dead
/// letter is never both in the store and in flight. Replays are paced per key (<c>replay_per_second</c>) and one at a
/// time per key. With a store the gateways of a cluster share (<paramref name="shared"/>, Redis) the letters are not
/// kept here: every call reads and claims them there (DeadLetterOffice.Shared.cs).
/// </summary>
internal sealed partial class DeadLetterOffice(GrpcEventBroker broker, IDeadLetterStore store,
    SharedDeadLetterView? shared = null) : IDisposable
{
    /// <summary>A replay call sends at most this many (KurrentDB users replayed 380k parked events by accident):
    /// replaying more takes more calls, each after its own dry run.</summary>
    public const int MaxReplayPerCall = 1000;

    /// <summary>The default of a call that gives no maximum.</summary>
    public const int DefaultReplayPerCall = 100;

    private readonly ConcurrentDictionary<string, ReplayPacer> _pacers = new(StringComparer.Ordinal);
    private readonly Lock _strings = new();
    private readonly StringPool _stringPool = new();
    private long _maxAttempts;
    private long _terminated;
    private long _replayed;
    private long _purged;

    public IDeadLetterStore Store => store;

    /// <summary>The store the gateways share (Redis), or null: then <see cref="Store"/> holds every dead letter.
    /// </summary>
    public SharedDeadLetterView? Shared => shared;

    /// <summary>The write-behind of the store, when the backend keeps dead letters (file, Redis); else null.</summary>
    private DeadLetterWriter? Writer => shared?.Writer ?? (store as MemoryDeadLetterStore)?.Writer;

    /// <summary>Loads the dead letters the backend kept (at start, before the broker serves), then starts writing
    /// changes behind.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        if (shared is not null)
        {
            shared.Writer.Start();
            var (depth, _) = await shared.MeasureAsync(cancellationToken).ConfigureAwait(false);
            broker.Log.DeadLettersShared(depth);
            return;
        }

        if (Writer is not { } writer)
        {
            return;
        }

        var stored = await writer.Persistence.LoadAllAsync(cancellationToken).ConfigureAwait(false);
        var dropped = ((MemoryDeadLetterStore)store).Restore(stored);
        writer.Start();
        broker.Log.DeadLettersLoaded(stored.Count, dropped);
    }

    /// <summary>Waits until every change is written to the backend, or <paramref name="cancellationToken"/> is
    /// cancelled (then logs what is left).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (Writer is not { } writer)
        {
            return;
        }

        try
        {
            await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            broker.Log.DeadLettersNotFlushed(writer.Pending, writer.Failures);
        }
    }

    public void Dispose()
    {
        shared?.Dispose();
        (store as MemoryDeadLetterStore)?.Writer?.Dispose();
    }

    /// <summary>Files <paramref name="entry"/> (about to be settled) as a dead letter. Caller holds the
    /// subscription's lock.</summary>
    public void File(Subscription subscription, SubscriptionTopic position, InFlightEntry entry,
        DeadLetterReason reason, string? clientReason, long now)
    {
        var time = broker.Time;
        var wallNow = time.GetUtcNow();
        var previous = entry.Replayed;
        var round = new DeadLetterRound(
            reason,
            clientReason ?? "",
            entry.Attempts,
            wallNow - time.GetElapsedTime(entry.FirstSentAt, now),
            wallNow - time.GetElapsedTime(entry.SentAt, now),
            wallNow);
        var stored = entry.Event;
        var letter = new DeadLetter(
            previous?.Id ?? Guid.NewGuid().ToString("N"),
            subscription.Connection.Owner,
            position.Topic.Name,
            entry.Sequence,
            stored.EncodeData(),
            stored.PublishedAt.ToDateTimeOffset(),
            previous?.Subscription ?? new DeadLetterSubscription(subscription.Id, subscription.Connection.Id,
                subscription.Durable?.Name, subscription.Durable is { Group.Length: > 0 } d ? d.Group : null),
            round,
            previous is null ? [] : [.. previous.History, previous.Last]);
        if (reason == DeadLetterReason.MaxAttempts)
        {
            broker.Log.EventDropped(entry.AckId, entry.Attempts, subscription.Id, letter.Topic, letter.Sequence);
            broker.Counters.DroppedOne();
            Interlocked.Increment(ref _maxAttempts);
        }
        else
        {
            Interlocked.Increment(ref _terminated);
        }

        if (shared is not null)
        {
            shared.File(letter);
        }
        else
        {
            store.Add(letter);
        }

        broker.Log.EventDeadLettered(entry.AckId, letter.Id, letter.Key, DeadLetterReasons.Code(reason), letter.Count);
    }

    public async Task<DeadLetterReplayResult> ReplayAsync(string key, DeadLetterQuery query, bool dryRun, int max,
        CancellationToken cancellationToken)
    {
        var limit = max == 0 ? DefaultReplayPerCall : max;
        if (limit is < 1 or > MaxReplayPerCall)
        {
            throw BrokerLimitException.Create(
                "dead_letters.max_replay_per_call", MaxReplayPerCall, "a replay may send at most this many at once");
        }

        var pacer = _pacers.GetOrAdd(key, _ => new ReplayPacer(broker.Time, broker.Settings.DeadLetters));
        await pacer.Turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var (letters, matched) = shared is null
                ? store.Find(key, query, limit)
                : await shared.FindAsync(key, query, limit, cancellationToken).ConfigureAwait(false);
            if (dryRun)
            {
                return new DeadLetterReplayResult(matched, letters.Count, 0, [], true);
            }

            var failures = new List<DeadLetterReplayFailure>();
            var replayed = 0;
            foreach (var letter in letters)
            {
                await pacer.WaitForTokenAsync(cancellationToken).ConfigureAwait(false);
                var refused = shared is null
                    ? ReplayOne(key, letter)
                    : await ReplaySharedAsync(shared, key, letter).ConfigureAwait(false);
                if (refused is { } failure)
                {
                    failures.Add(failure);
                    broker.Log.DeadLetterReplayRefused(letter.Id, key, failure.Code);
                }
                else
                {
                    replayed++;
                }
            }

            Interlocked.Add(ref _replayed, replayed);
            return new DeadLetterReplayResult(matched, letters.Count, replayed, failures, false);
        }
        finally
        {
            pacer.Turn.Release();
        }
    }

    private DeadLetterReplayFailure? ReplayOne(string key, DeadLetter letter)
    {
        var target = letter.Subscription;
        if (target.DurableName is not null)
        {
            return ReplayToDurable(key, letter);
        }

        var subscription = broker.FindSubscription(key, target.ConnectionId, target.SubscriptionId);
        if (subscription is null)
        {
            return PlainGone(letter);
        }

        var stored = ToStored(letter);
        lock (subscription.Gate)
        {
            if (subscription.CannotReplay(letter) is { } code)
            {
                return PlainFailure(letter, code);
            }

            if (!store.Remove(key, letter.Id))
            {
                // Purged or replayed by another call meanwhile: nothing to send.
                return new DeadLetterReplayFailure(letter.Id, NotFound, "the dead letter was removed meanwhile");
            }

            subscription.Replay(letter, stored, broker.Time.GetTimestamp());
        }

        broker.Log.DeadLetterReplayed(letter.Id, key, target.SubscriptionId, target.ConnectionId);
        return null;
    }

    /// <summary>A dead letter of a durable goes back to that durable (and no other): it waits there until a member
    /// has room, also while no stream holds it.</summary>
    private DeadLetterReplayFailure? ReplayToDurable(string key, DeadLetter letter)
    {
        var name = letter.Subscription.DurableName!;
        var code = broker.Durables.CannotReplay(letter);
        if (code is null && !store.Remove(key, letter.Id))
        {
            return new DeadLetterReplayFailure(letter.Id, NotFound, "the dead letter was removed meanwhile");
        }

        if (code is null && broker.Durables.Replay(letter, ToStored(letter)) is { } late)
        {
            // Deleted or taken meanwhile: it stays a dead letter.
            store.Add(letter);
            code = late;
        }

        if (code is not null)
        {
            return DurableFailure(letter, code);
        }

        broker.Log.DeadLetterReplayed(letter.Id, key, name, "(durable)");
        return null;
    }

    public int Purge(string key, DeadLetterQuery query, bool dryRun)
    {
        if (dryRun)
        {
            return store.Find(key, query, 0).Matched;
        }

        var purged = store.Purge(key, query);
        CountPurged(key, purged);
        return purged;
    }

    private void CountPurged(string key, int purged)
    {
        Interlocked.Add(ref _purged, purged);
        if (purged > 0)
        {
            broker.Log.DeadLettersPurged(purged, key);
        }
    }

    public DeadLetterStats Stats()
    {
        var (depth, oldest, evicted) = shared is null
            ? store.Measure()
            : Measured(shared.Measure());
        return StatsOf(depth, oldest, evicted);
    }

    private DeadLetterStats StatsOf(long depth, DateTimeOffset? oldest, long evicted)
    {
        var age = oldest is { } at ? broker.Time.GetUtcNow() - at : TimeSpan.Zero;
        return new DeadLetterStats(
            depth,
            age < TimeSpan.Zero ? TimeSpan.Zero : age,
            Interlocked.Read(ref _maxAttempts),
            Interlocked.Read(ref _terminated),
            Interlocked.Read(ref _replayed),
            Interlocked.Read(ref _purged),
            evicted);
    }

    /// <summary>The dead letter's event as a delivery holds it: bytes of its own.</summary>
    private StoredEvent ToStored(DeadLetter letter)
    {
        lock (_strings)
        {
            return StoredEvent.FromBytes(letter.Topic, letter.Sequence, letter.EventBytes.Span, letter.PublishedAt,
                _stringPool);
        }
    }
}
