using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Storage;

namespace Marie.Events.Broker.Tests;

/// <summary>A shared dead-letter store (as Redis is) that several views or brokers use at once: per key the letters
/// ordered by (time in ms, id), with the retention and the claims a shared store promises. <see cref="BeforeClaim"/>
/// runs before a claim takes effect (another gateway acting in between).</summary>
internal sealed class FakeSharedDeadLetterStore : ISharedDeadLetterPersistence
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SortedDictionary<(long Ms, string Id), DeadLetter>> _keys = [];
    private int _claims;

    public bool IsShared => true;

    /// <summary>Runs before each claim, outside the store's lock.</summary>
    public Func<string, IReadOnlyList<string>, Task>? BeforeClaim { get; set; }

    /// <summary>Claims made (calls, whatever they removed).</summary>
    public int Claims => Volatile.Read(ref _claims);

    public ValueTask<int> FileAsync(DeadLetter letter, int maxCount, DateTimeOffset notBefore,
        CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var letters = Letters(letter.Key);
            Remove(letters, letter.Id);
            letters[(letter.Last.DeadLetteredAt.ToUnixTimeMilliseconds(), letter.Id)] = letter;
            var removed = 0;
            foreach (var old in letters.Keys.Where(k => k.Ms < notBefore.ToUnixTimeMilliseconds()).ToList())
            {
                letters.Remove(old);
                removed++;
            }

            while (maxCount > 0 && letters.Count > maxCount)
            {
                letters.Remove(letters.Keys.First());
                removed++;
            }

            return ValueTask.FromResult(removed);
        }
    }

    public ValueTask SaveAsync(DeadLetter letter, CancellationToken cancellationToken) =>
        new(FileAsync(letter, 0, DateTimeOffset.UnixEpoch, cancellationToken).AsTask());

    public async ValueTask DeleteAsync(string key, string id, CancellationToken cancellationToken) =>
        await ClaimAsync(key, [id], cancellationToken);

    public ValueTask<IReadOnlyList<DeadLetter>> ListAsync(string key, DateTimeOffset notBefore,
        CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return ValueTask.FromResult<IReadOnlyList<DeadLetter>>([.. Letters(key)
                .Where(p => p.Key.Ms >= notBefore.ToUnixTimeMilliseconds()).Select(p => p.Value)]);
        }
    }

    public ValueTask<DeadLetter?> GetAsync(string key, string id, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(Letters(key).Values.FirstOrDefault(l => l.Id == id));
        }
    }

    public async ValueTask<IReadOnlyList<string>> ClaimAsync(string key, IReadOnlyList<string> ids,
        CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _claims);
        if (BeforeClaim is { } hook)
        {
            await hook(key, ids);
        }

        lock (_gate)
        {
            var letters = Letters(key);
            return [.. ids.Where(id => Remove(letters, id))];
        }
    }

    public ValueTask<(long Depth, DateTimeOffset? Oldest)> MeasureAsync(DateTimeOffset notBefore,
        CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var held = _keys.Values.SelectMany(l => l.Keys)
                .Where(k => k.Ms >= notBefore.ToUnixTimeMilliseconds()).ToList();
            DateTimeOffset? oldest = held.Count == 0
                ? null
                : DateTimeOffset.FromUnixTimeMilliseconds(held.Min(k => k.Ms));
            return ValueTask.FromResult(((long)held.Count, oldest));
        }
    }

    public ValueTask<IReadOnlyList<DeadLetter>> LoadAllAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return ValueTask.FromResult<IReadOnlyList<DeadLetter>>([.. _keys.Values.SelectMany(l => l.Values)]);
        }
    }

    private SortedDictionary<(long Ms, string Id), DeadLetter> Letters(string key)
    {
        if (!_keys.TryGetValue(key, out var letters))
        {
            letters = new SortedDictionary<(long Ms, string Id), DeadLetter>(Comparer<(long Ms, string Id)>
                .Create((x, y) => x.Ms != y.Ms ? x.Ms.CompareTo(y.Ms) : string.CompareOrdinal(x.Id, y.Id)));
            _keys.Add(key, letters);
        }

        return letters;
    }

    private static bool Remove(SortedDictionary<(long Ms, string Id), DeadLetter> letters, string id)
    {
        var found = letters.Keys.FirstOrDefault(k => k.Id == id);
        return found.Id is not null && letters.Remove(found);
    }
}
