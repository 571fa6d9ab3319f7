using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Storage;
using Marie.Events.Broker.Subscriptions;
using Marie.Events.Broker.Topics;

namespace Marie.Events.Broker.Durables;

/// <summary>
/// The broker's durable subscriptions, per (key, durable name): joining and leaving them, the inactive TTL, silent
/// group members, listing and deleting. Its lock is taken before a durable's, never while holding one, nor while
/// holding a subscription's lock. Its timers exist only once a durable does: a broker without durables pays
/// nothing.
/// </summary>
internal sealed partial class DurableRegistry(GrpcEventBroker broker, IDurableStore? store) : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Owner, string Name), DurableSubscription> _durables = [];
    private ITimer? _sweep;
    private long _created;
    private long _expired;
    private long _deleted;

    /// <summary>The store durable state is saved to, or null (memory backend: state lives here only).</summary>
    public IDurableStore? Store => store;

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _durables.Count;
            }
        }
    }

    public long Created => Interlocked.Read(ref _created);

    public long Expired => Interlocked.Read(ref _expired);

    public long Deleted => Interlocked.Read(ref _deleted);

    /// <summary>Looks up (or makes) the durable and joins <paramref name="member"/> to it; the durable, or the
    /// reason it may not join.</summary>
    public (DurableSubscription? Durable, string? Conflict) Join(string owner, string name, string group,
        Func<DurableSubscription, Subscription> member)
    {
        DurableSubscription? durable;
        bool made = false;
        lock (_gate)
        {
            if (!_durables.TryGetValue((owner, name), out durable))
            {
                durable = new DurableSubscription(owner, name, group) { LastActiveAt = broker.Time.GetUtcNow() };
                _durables[(owner, name)] = durable;
                made = true;
            }
        }

        var subscription = member(durable);
        if (durable.Join(subscription, group) is { } conflict)
        {
            return (null, conflict);
        }

        if (made)
        {
            Interlocked.Increment(ref _created);
            broker.Log.DurableCreated(name, owner, group);
        }

        EnsureTimers();
        return (durable, null);
    }

    /// <summary>A member left (its stream ended, or it unsubscribed): the others take what it held. Call with no
    /// lock held.</summary>
    public void Left(Subscription member, int handedOver)
    {
        var durable = member.Durable!;
        var last = durable.Leave(member, broker.Time.GetUtcNow());
        if (handedOver > 0 || durable.Group.Length > 0)
        {
            broker.Log.DurableMemberLeft(durable.Name, durable.Owner, member.Connection.Id, handedOver);
        }

        Nudge(durable);
        if (last)
        {
            _ = SaveAndReleaseAsync(durable);
        }
    }

    /// <summary>Lets every member with room take what waits in the durable. Call with no lock held.</summary>
    public static void Nudge(DurableSubscription durable)
    {
        if (!durable.HasWaiting)
        {
            return;
        }

        foreach (var other in durable.Members())
        {
            lock (other.Gate)
            {
                other.Pump();
            }
        }
    }

    /// <summary>The durables of <paramref name="owner"/> (every key's when null), by key and name.</summary>
    public IReadOnlyList<DurableInfo> List(string? owner)
    {
        DurableSubscription[] all;
        lock (_gate)
        {
            all = [.. _durables.Values.Where(d => owner is null || d.Owner == owner)];
        }

        var ttl = TimeSpan.FromSeconds(broker.Options.Durable.InactiveTtlSeconds);
        return [.. all.OrderBy(d => d.Owner, StringComparer.Ordinal).ThenBy(d => d.Name, StringComparer.Ordinal)
            .Select(d =>
            {
                var snapshot = d.Peek();
                var members = d.MemberCount;
                return new DurableInfo(d.Owner, d.Name, d.Group, members, snapshot.LastActiveAt, snapshot.Topics,
                    members > 0 ? null : snapshot.LastActiveAt + ttl);
            })];
    }

    /// <summary>Deletes a durable no stream holds, with its stored state.</summary>
    public async Task<DurableDeleteOutcome> DeleteAsync(string owner, string name, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_durables.TryGetValue((owner, name), out var durable))
            {
                return DurableDeleteOutcome.NotFound;
            }

            lock (durable.Gate)
            {
                if (durable.MemberCountLocked > 0)
                {
                    return DurableDeleteOutcome.InUse;
                }

                durable.Removed = true;
            }

            _durables.Remove((owner, name));
        }

        Interlocked.Increment(ref _deleted);
        broker.Log.DurableDeleted(name, owner);
        if (store is not null)
        {
            await store.DeleteAsync(owner, name, cancellationToken).ConfigureAwait(false);
        }

        return DurableDeleteOutcome.Deleted;
    }

    /// <summary>Sends a dead letter again to the durable that failed it; the failure code, or null when it waits
    /// for a member now.</summary>
    public string? Replay(DeadLetter letter, StoredEvent stored)
    {
        var durable = Find(letter.Key, letter.Subscription.DurableName!);
        if (durable is null)
        {
            return DeadLetterReplayFailure.SubscriptionGone;
        }

        if (durable.AddReplay(letter, stored) is { } failure)
        {
            return failure;
        }

        Nudge(durable);
        return null;
    }

    /// <summary>Why a dead letter cannot be replayed to its durable now, or null when it can.</summary>
    public string? CannotReplay(DeadLetter letter) =>
        Find(letter.Key, letter.Subscription.DurableName!) is { } durable
            ? durable.CannotReplay(letter)
            : DeadLetterReplayFailure.SubscriptionGone;

    private DurableSubscription? Find(string owner, string name)
    {
        lock (_gate)
        {
            return _durables.GetValueOrDefault((owner, name));
        }
    }

    public void Dispose() => DisposeTimers();
}
