using System.Globalization;

namespace Marie.Events.Broker.DeadLetters;

/// <summary>
/// The broker's dead-letter store: per key, the dead letters in the order they were filed, in memory. With a
/// <see cref="DeadLetterWriter"/> (file, Redis backends) every change, retention's removals included, is handed to
/// it under the lock, in order, and written to the backend after the fact; without one (memory backend) they are lost
/// when the gateway stops (docs/dead-letters.md). One lock for the whole store: it is taken when an event is
/// dead-lettered, replayed, listed or purged, never on the publish, delivery or ack path. Retention runs on every
/// call: a dead letter older than <c>max_age_s</c> is gone from the next call on.
/// </summary>
internal sealed class MemoryDeadLetterStore(DeadLetterOptions options, TimeProvider time,
    DeadLetterWriter? writer = null) : IDeadLetterStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, KeyLetters> _keys = new(StringComparer.Ordinal);
    private readonly TimeSpan _maxAge = TimeSpan.FromSeconds(options.MaxAgeSeconds);
    private long _evicted;

    /// <summary>Where changes are written behind, or null (memory backend).</summary>
    public DeadLetterWriter? Writer => writer;

    public void Add(DeadLetter letter)
    {
        ArgumentNullException.ThrowIfNull(letter);
        lock (_gate)
        {
            AppendLocked(letter);
            writer?.Saved(letter);
            TrimLocked(letter.Key);
            ExpireLocked();
        }
    }

    /// <summary>Puts back what the backend kept (at start, before the broker serves), oldest first; not written
    /// again. Retention applies: what is over <c>max_count</c> or older than <c>max_age_s</c> is removed, from the
    /// backend too. Returns how many retention removed.</summary>
    public long Restore(IEnumerable<DeadLetter> stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        lock (_gate)
        {
            var before = _evicted;
            var keys = new HashSet<string>(StringComparer.Ordinal);
            foreach (var letter in stored.OrderBy(l => l.Last.DeadLetteredAt))
            {
                AppendLocked(letter);
                keys.Add(letter.Key);
            }

            foreach (var key in keys)
            {
                TrimLocked(key);
            }

            ExpireLocked();
            return _evicted - before;
        }
    }

    /// <summary>Files <paramref name="letter"/> last (replacing one with its id). Caller holds the lock.</summary>
    private void AppendLocked(DeadLetter letter)
    {
        if (!_keys.TryGetValue(letter.Key, out var letters))
        {
            letters = new KeyLetters();
            _keys.Add(letter.Key, letters);
        }

        letters.Remove(letter.Id);
        letters.Append(letter);
    }

    /// <summary>Drops <paramref name="key"/>'s oldest past <c>max_count</c>. Caller holds the lock.</summary>
    private void TrimLocked(string key)
    {
        var letters = _keys[key];
        while (letters.Count > options.MaxCount)
        {
            var removed = letters.RemoveOldest();
            writer?.Deleted(key, removed);
            _evicted++;
        }
    }

    public DeadLetterPage List(string key, DeadLetterQuery query, string? pageToken, int pageSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        var after = 0L;
        if (!string.IsNullOrEmpty(pageToken)
            && !long.TryParse(pageToken, NumberStyles.None, CultureInfo.InvariantCulture, out after))
        {
            throw new ArgumentException($"page_token '{pageToken}' is not one this gateway gave", nameof(pageToken));
        }

        lock (_gate)
        {
            ExpireLocked();
            if (!_keys.TryGetValue(key, out var letters))
            {
                return new DeadLetterPage([], null, 0);
            }

            var page = new List<DeadLetter>();
            var total = 0;
            long last = 0;
            var more = false;
            foreach (var (ordinal, letter) in letters.InOrder)
            {
                if (!query.Matches(letter))
                {
                    continue;
                }

                total++;
                if (ordinal <= after)
                {
                    continue;
                }

                if (page.Count < pageSize)
                {
                    page.Add(letter);
                    last = ordinal;
                }
                else
                {
                    more = true;
                }
            }

            return new DeadLetterPage(page, more ? last.ToString(CultureInfo.InvariantCulture) : null, total);
        }
    }

    public DeadLetter? Find(string key, string id)
    {
        lock (_gate)
        {
            ExpireLocked();
            return _keys.TryGetValue(key, out var letters) ? letters.Get(id) : null;
        }
    }

    public (IReadOnlyList<DeadLetter> Letters, int Matched) Find(string key, DeadLetterQuery query, int max)
    {
        lock (_gate)
        {
            ExpireLocked();
            if (!_keys.TryGetValue(key, out var letters))
            {
                return ([], 0);
            }

            var found = new List<DeadLetter>();
            var matched = 0;
            foreach (var (_, letter) in letters.InOrder)
            {
                if (query.Matches(letter))
                {
                    matched++;
                    if (found.Count < max)
                    {
                        found.Add(letter);
                    }
                }
            }

            return (found, matched);
        }
    }

    public bool Remove(string key, string id)
    {
        lock (_gate)
        {
            if (!_keys.TryGetValue(key, out var letters) || !letters.Remove(id))
            {
                return false;
            }

            writer?.Deleted(key, id);
            return true;
        }
    }

    public int Purge(string key, DeadLetterQuery query)
    {
        lock (_gate)
        {
            ExpireLocked();
            if (!_keys.TryGetValue(key, out var letters))
            {
                return 0;
            }

            var ids = letters.InOrder.Where(p => query.Matches(p.Value)).Select(p => p.Value.Id).ToList();
            foreach (var id in ids)
            {
                letters.Remove(id);
                writer?.Deleted(key, id);
            }

            return ids.Count;
        }
    }

    public (long Depth, DateTimeOffset? Oldest, long Evicted) Measure()
    {
        lock (_gate)
        {
            ExpireLocked();
            long depth = 0;
            DateTimeOffset? oldest = null;
            foreach (var letters in _keys.Values)
            {
                depth += letters.Count;
                if (letters.Oldest is { } first && (oldest is null || first.Last.DeadLetteredAt < oldest))
                {
                    oldest = first.Last.DeadLetteredAt;
                }
            }

            return (depth, oldest, _evicted);
        }
    }

    /// <summary>Drops every dead letter older than <c>max_age_s</c>. Caller holds the lock.</summary>
    private void ExpireLocked()
    {
        var cutoff = time.GetUtcNow() - _maxAge;
        foreach (var (key, letters) in _keys)
        {
            // In filing order, so the expired ones are first (a replayed one is filed again, at the end).
            while (letters.Oldest is { } first && first.Last.DeadLetteredAt < cutoff)
            {
                // Removed first: writer?.Deleted(…) would skip its argument when there is no writer.
                var removed = letters.RemoveOldest();
                writer?.Deleted(key, removed);
                _evicted++;
            }
        }
    }

    /// <summary>One key's dead letters by filing order (the ordinal is the page token) and by id.</summary>
    private sealed class KeyLetters
    {
        private readonly SortedDictionary<long, DeadLetter> _byOrdinal = [];
        private readonly Dictionary<string, long> _ordinalById = new(StringComparer.Ordinal);
        private long _next;

        public int Count => _byOrdinal.Count;

        public IEnumerable<KeyValuePair<long, DeadLetter>> InOrder => _byOrdinal;

        public DeadLetter? Oldest => _byOrdinal.Count == 0 ? null : _byOrdinal.First().Value;

        public void Append(DeadLetter letter)
        {
            var ordinal = ++_next;
            _byOrdinal.Add(ordinal, letter);
            _ordinalById[letter.Id] = ordinal;
        }

        public DeadLetter? Get(string id) =>
            _ordinalById.TryGetValue(id, out var ordinal) ? _byOrdinal[ordinal] : null;

        public bool Remove(string id)
        {
            if (!_ordinalById.Remove(id, out var ordinal))
            {
                return false;
            }

            _byOrdinal.Remove(ordinal);
            return true;
        }

        /// <summary>Removes the oldest; returns its id.</summary>
        public string RemoveOldest()
        {
            var first = _byOrdinal.First();
            _byOrdinal.Remove(first.Key);
            _ordinalById.Remove(first.Value.Id);
            return first.Value.Id;
        }
    }
}
