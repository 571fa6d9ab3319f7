using System.Globalization;
using Marie.Events.Broker.Storage;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Broker.DeadLetters;

/// <summary>
/// The dead letters of a store several gateways share (Redis): nothing is kept in this gateway's memory. A filing is
/// written behind (<see cref="DeadLetterWriter"/>, with the key's retention applied by the store in the same step);
/// lists, finds and purges read the store, after this gateway's own filings still waiting are written (so a gateway
/// lists what it filed a moment ago); replays and purges claim each letter in the store, so only one gateway acts on
/// it. Pages are positions in the store's order (time of dead-lettering, then id), so a page token one gateway gave
/// is good on every other.
/// </summary>
internal sealed class SharedDeadLetterView : IDisposable
{
    /// <summary>How long a read waits for this gateway's own filings to be written first: long next to a healthy
    /// store's milliseconds, short enough that a failing store does not hold a list much longer than its own read.
    /// </summary>
    private static readonly TimeSpan OwnWritesWait = TimeSpan.FromSeconds(2);

    /// <summary>The depth the sync <see cref="Measure"/> answers (the metrics) is read again at most this often.
    /// </summary>
    private static readonly TimeSpan MeasureEvery = TimeSpan.FromSeconds(1);

    /// <summary>Ids claimed by one purge script: bounds the script's time on Redis's single thread.</summary>
    private const int ClaimChunk = 500;

    private readonly ISharedDeadLetterPersistence _store;
    private readonly TimeSpan _maxAge;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly Lock _gate = new();
    private (long Depth, DateTimeOffset? Oldest) _measured;
    private long _measuredAt = long.MinValue;
    private int _measuring;

    public SharedDeadLetterView(ISharedDeadLetterPersistence store, DeadLetterOptions options, TimeProvider time,
        ILogger log)
    {
        _store = store;
        _maxAge = TimeSpan.FromSeconds(options.MaxAgeSeconds);
        _time = time;
        _log = log;
        Writer = new DeadLetterWriter(store, log, time, options);
    }

    public DeadLetterWriter Writer { get; }

    private DateTimeOffset NotBefore => _time.GetUtcNow() - _maxAge;

    /// <summary>Files <paramref name="letter"/> (written behind). Called under a subscription's lock: no I/O.
    /// </summary>
    public void File(DeadLetter letter) => Writer.Saved(letter);

    public async Task<DeadLetterPage> ListAsync(string key, DeadLetterQuery query, string? pageToken, int pageSize,
        CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        var after = ParseToken(pageToken);
        var letters = await ReadAsync(key, cancellationToken).ConfigureAwait(false);
        var page = new List<DeadLetter>();
        var total = 0;
        var more = false;
        foreach (var letter in letters)
        {
            if (!query.Matches(letter))
            {
                continue;
            }

            total++;
            if (after is { } position && Compare(letter, position) <= 0)
            {
                continue;
            }

            if (page.Count < pageSize)
            {
                page.Add(letter);
            }
            else
            {
                more = true;
            }
        }

        return new DeadLetterPage(page, more ? TokenOf(page[^1]) : null, total);
    }

    public async Task<DeadLetter?> GetAsync(string key, string id, CancellationToken cancellationToken)
    {
        await OwnWritesAsync(cancellationToken).ConfigureAwait(false);
        var letter = await _store.GetAsync(key, id, cancellationToken).ConfigureAwait(false);
        return letter is not null && letter.Last.DeadLetteredAt >= NotBefore ? letter : null;
    }

    /// <summary>The first <paramref name="max"/> matching, oldest first, and how many match in all.</summary>
    public async Task<(IReadOnlyList<DeadLetter> Letters, int Matched)> FindAsync(string key, DeadLetterQuery query,
        int max, CancellationToken cancellationToken)
    {
        var found = new List<DeadLetter>();
        var matched = 0;
        foreach (var letter in await ReadAsync(key, cancellationToken).ConfigureAwait(false))
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

    /// <summary>Claims one letter for a replay: true when this call removed it from the store (then only this
    /// gateway sends it). Not cancellable: a claim Redis made must reach the caller, or the letter would be lost.
    /// </summary>
    public async Task<bool> ClaimAsync(string key, string id) =>
        (await _store.ClaimAsync(key, [id], CancellationToken.None).ConfigureAwait(false)).Count == 1;

    /// <summary>Removes the matching letters (with <paramref name="dryRun"/>, counts them); returns how many this
    /// call removed (one another gateway removed meanwhile is not counted).</summary>
    public async Task<int> PurgeAsync(string key, DeadLetterQuery query, bool dryRun,
        CancellationToken cancellationToken)
    {
        var (letters, matched) = await FindAsync(key, query, int.MaxValue, cancellationToken).ConfigureAwait(false);
        if (dryRun)
        {
            return matched;
        }

        var purged = 0;
        foreach (var chunk in letters.Select(l => l.Id).Chunk(ClaimChunk))
        {
            purged += (await _store.ClaimAsync(key, chunk, CancellationToken.None).ConfigureAwait(false)).Count;
        }

        return purged;
    }

    /// <summary>Depth and oldest over every key, read from the store now.</summary>
    public async Task<(long Depth, DateTimeOffset? Oldest)> MeasureAsync(CancellationToken cancellationToken)
    {
        var measured = await _store.MeasureAsync(NotBefore, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            _measured = measured;
            _measuredAt = _time.GetTimestamp();
        }

        return measured;
    }

    /// <summary>The last depth and oldest read from the store, without waiting; when older than
    /// <see cref="MeasureEvery"/> one read (at most one at a time) is started for the next caller.</summary>
    public (long Depth, DateTimeOffset? Oldest) Measure()
    {
        lock (_gate)
        {
            if (_measuredAt != long.MinValue && _time.GetElapsedTime(_measuredAt) < MeasureEvery)
            {
                return _measured;
            }
        }

        if (Interlocked.Exchange(ref _measuring, 1) == 0)
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    await MeasureAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (BackendException ex)
                {
                    _log.DeadLetterMeasureFailed(ex.Message);
                }
                finally
                {
                    Volatile.Write(ref _measuring, 0);
                }
            });
        }

        lock (_gate)
        {
            return _measured;
        }
    }

    public void Dispose() => Writer.Dispose();

    /// <summary>The key's letters within <c>max_age_s</c>, oldest first, after this gateway's own filings.</summary>
    private async Task<IReadOnlyList<DeadLetter>> ReadAsync(string key, CancellationToken cancellationToken)
    {
        await OwnWritesAsync(cancellationToken).ConfigureAwait(false);
        return await _store.ListAsync(key, NotBefore, cancellationToken).ConfigureAwait(false);
    }

    private async Task OwnWritesAsync(CancellationToken cancellationToken)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(OwnWritesWait);
        try
        {
            await Writer.FlushAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The store is slow or away: the read below tells (it fails too, or lists without the waiting ones).
        }
    }

    /// <summary>A page token: the last letter's time of dead-lettering (unix ms) and id.</summary>
    private static string TokenOf(DeadLetter letter) => string.Create(CultureInfo.InvariantCulture,
        $"{letter.Last.DeadLetteredAt.ToUnixTimeMilliseconds()}:{letter.Id}");

    private static (long Ms, string Id)? ParseToken(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        var colon = token.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && long.TryParse(token.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture,
            out var ms)
            ? (ms, token[(colon + 1)..])
            : throw new ArgumentException($"page_token '{token}' is not one this cluster gave", nameof(token));
    }

    /// <summary>The store's order: time of dead-lettering (ms), then id.</summary>
    private static int Compare(DeadLetter letter, (long Ms, string Id) position)
    {
        var byTime = letter.Last.DeadLetteredAt.ToUnixTimeMilliseconds().CompareTo(position.Ms);
        return byTime != 0 ? byTime : string.CompareOrdinal(letter.Id, position.Id);
    }
}
