using Marie.Events.Broker.DeadLetters;
using StackExchange.Redis;

namespace Marie.Events.Backends.Redis;

/// <summary>
/// Dead letters in Redis, the one view every gateway of the cluster reads: per key, under the key prefix, the hash
/// <c>dead:{&lt;key-length&gt;/&lt;key&gt;}:letters</c> (id to the letter's bytes, <see cref="DeadLetter.ToBytes"/>)
/// and the sorted set <c>dead:{&lt;key-length&gt;/&lt;key&gt;}:order</c> (id scored by its time of dead-lettering in
/// unix ms: the order of lists and pages), and the set <c>dead-letter-keys</c> naming each key's
/// <c>dead:{&lt;key-length&gt;/&lt;key&gt;}</c>. A key's two keys share one hash tag (a "}" in a key name ends the tag
/// early, but at the same place in both), so each script below touches one slot: Redis Cluster safe. Filing (with
/// the key's retention) and claiming are scripts, so they are atomic: a letter two gateways claim at once is
/// removed for one of them.
/// </summary>
internal sealed class RedisDeadLetterStore(IConnectionMultiplexer redis, string prefix)
{
    /// <summary>KEYS: letters, order. ARGV: id, bytes, score (ms), max count (0: none), not-before (ms). Stores the
    /// letter, then removes what is older than not-before and the oldest past max count; returns how many.</summary>
    private const string FileScript = """
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
        local removed = 0
        for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])) do
          redis.call('HDEL', KEYS[1], id)
          redis.call('ZREM', KEYS[2], id)
          removed = removed + 1
        end
        local max = tonumber(ARGV[4])
        if max > 0 then
          local over = redis.call('ZCARD', KEYS[2]) - max
          if over > 0 then
            for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
              redis.call('HDEL', KEYS[1], id)
            end
            redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
            removed = removed + over
          end
        end
        return removed
        """;

    /// <summary>KEYS: letters, order. ARGV: ids. Removes each id still held; returns those it removed.</summary>
    private const string ClaimScript = """
        local claimed = {}
        for _, id in ipairs(ARGV) do
          if redis.call('ZREM', KEYS[2], id) == 1 then
            redis.call('HDEL', KEYS[1], id)
            claimed[#claimed + 1] = id
          end
        end
        return claimed
        """;

    /// <summary>Ids read with one HMGET: bounds one reply while a key lists up to <c>max_count</c>.</summary>
    private const int ReadChunk = 500;

    private IDatabase Db => redis.GetDatabase();

    private RedisKey IndexKey => prefix + "dead-letter-keys";

    /// <summary>The base of a key's names (and, in the layout before the shared view, its set of ids).</summary>
    private string BaseKey(string key) => $"{prefix}dead:{{{key.Length}/{key}}}";

    private static RedisKey LettersKey(string baseKey) => baseKey + ":letters";

    private static RedisKey OrderKey(string baseKey) => baseKey + ":order";

    /// <summary>Files <paramref name="letter"/> with retention (<paramref name="maxCount"/> 0: none); returns how
    /// many retention removed.</summary>
    public async Task<int> FileAsync(DeadLetter letter, int maxCount, DateTimeOffset notBefore)
    {
        var baseKey = BaseKey(letter.Key);
        await Db.SetAddAsync(IndexKey, baseKey).ConfigureAwait(false);
        var removed = await Db.ScriptEvaluateAsync(FileScript, [LettersKey(baseKey), OrderKey(baseKey)],
        [
            letter.Id,
            letter.ToBytes(),
            letter.Last.DeadLetteredAt.ToUnixTimeMilliseconds(),
            maxCount,
            notBefore.ToUnixTimeMilliseconds(),
        ]).ConfigureAwait(false);
        return (int)removed;
    }

    /// <summary>Removes those of <paramref name="ids"/> the key holds; returns the ones this call removed.</summary>
    public async Task<IReadOnlyList<string>> ClaimAsync(string key, IReadOnlyList<string> ids)
    {
        if (ids.Count == 0)
        {
            return [];
        }

        var baseKey = BaseKey(key);
        var result = await Db.ScriptEvaluateAsync(ClaimScript, [LettersKey(baseKey), OrderKey(baseKey)],
            [.. ids.Select(id => (RedisValue)id)]).ConfigureAwait(false);
        return result.IsNull ? [] : [.. ((RedisResult[])result!).Select(r => (string)r!)];
    }

    /// <summary>The key's letters dead-lettered at or after <paramref name="notBefore"/> (null: all), oldest first;
    /// one not readable is left out and counted in the result.</summary>
    public async Task<(List<DeadLetter> Letters, int Unreadable)> ListAsync(string key, DateTimeOffset? notBefore) =>
        await ListBaseAsync(BaseKey(key), notBefore).ConfigureAwait(false);

    public async Task<DeadLetter?> GetAsync(string key, string id)
    {
        var value = await Db.HashGetAsync(LettersKey(BaseKey(key)), id).ConfigureAwait(false);
        return !value.IsNull && TryRead(value, out var letter) ? letter : null;
    }

    /// <summary>Letters held over every key at or after <paramref name="notBefore"/>, and the oldest one's time.
    /// </summary>
    public async Task<(long Depth, DateTimeOffset? Oldest)> MeasureAsync(DateTimeOffset notBefore)
    {
        var from = (double)notBefore.ToUnixTimeMilliseconds();
        var bases = await Db.SetMembersAsync(IndexKey).ConfigureAwait(false);
        var counts = bases.Select(b => Db.SortedSetLengthAsync(OrderKey(b!), from)).ToArray();
        var firsts = bases.Select(b => Db.SortedSetRangeByScoreWithScoresAsync(OrderKey(b!), from, take: 1))
            .ToArray();
        await Task.WhenAll(Task.WhenAll(counts), Task.WhenAll(firsts)).ConfigureAwait(false);
        long depth = 0;
        double? oldest = null;
        for (var i = 0; i < bases.Length; i++)
        {
            depth += counts[i].Result;
            if (firsts[i].Result is [var first, ..] && (oldest is null || first.Score < oldest))
            {
                oldest = first.Score;
            }
        }

        return (depth, oldest is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds((long)ms) : null);
    }

    /// <summary>Every stored dead letter; one that is not readable is left out and counted in the result.</summary>
    public async Task<(List<DeadLetter> Letters, int Unreadable)> LoadAllAsync()
    {
        var all = new List<DeadLetter>();
        var unreadable = 0;
        foreach (var baseKey in await Db.SetMembersAsync(IndexKey).ConfigureAwait(false))
        {
            var (letters, bad) = await ListBaseAsync((string)baseKey!, null).ConfigureAwait(false);
            all.AddRange(letters);
            unreadable += bad;
        }

        return (all, unreadable);
    }

    /// <summary>
    /// Moves dead letters of the layout before the shared view (a set of ids at the key's base name and one string
    /// per letter beside it) into the hash and sorted set, and removes the old keys; returns how many letters it
    /// moved and how many it could not read (dropped). One-way: an older build no longer sees them.
    /// </summary>
    public async Task<(int Moved, int Unreadable)> UpgradeAsync()
    {
        var moved = 0;
        var unreadable = 0;
        foreach (var member in await Db.SetMembersAsync(IndexKey).ConfigureAwait(false))
        {
            var baseKey = (string)member!;
            if (await Db.KeyTypeAsync(baseKey).ConfigureAwait(false) != RedisType.Set)
            {
                continue;
            }

            foreach (var id in await Db.SetMembersAsync(baseKey).ConfigureAwait(false))
            {
                var letterKey = $"{baseKey}:{(string)id!}";
                var value = await Db.StringGetAsync(letterKey).ConfigureAwait(false);
                if (!value.IsNull && TryRead(value, out var letter))
                {
                    await Db.ScriptEvaluateAsync(FileScript, [LettersKey(baseKey), OrderKey(baseKey)],
                        [letter.Id, letter.ToBytes(), letter.Last.DeadLetteredAt.ToUnixTimeMilliseconds(), 0, 0])
                        .ConfigureAwait(false);
                    moved++;
                }
                else if (!value.IsNull)
                {
                    unreadable++;
                }

                await Db.KeyDeleteAsync(letterKey).ConfigureAwait(false);
            }

            await Db.KeyDeleteAsync(baseKey).ConfigureAwait(false);
        }

        return (moved, unreadable);
    }

    private async Task<(List<DeadLetter> Letters, int Unreadable)> ListBaseAsync(string baseKey,
        DateTimeOffset? notBefore)
    {
        var from = notBefore is { } at ? at.ToUnixTimeMilliseconds() : double.NegativeInfinity;
        var ids = await Db.SortedSetRangeByScoreAsync(OrderKey(baseKey), from).ConfigureAwait(false);
        var letters = new List<DeadLetter>(ids.Length);
        var unreadable = 0;
        foreach (var chunk in ids.Chunk(ReadChunk))
        {
            foreach (var value in await Db.HashGetAsync(LettersKey(baseKey), chunk).ConfigureAwait(false))
            {
                // Null: claimed between the two reads (replayed or purged meanwhile).
                if (value.IsNull)
                {
                    continue;
                }

                if (TryRead(value, out var letter))
                {
                    letters.Add(letter);
                }
                else
                {
                    unreadable++;
                }
            }
        }

        return (letters, unreadable);
    }

    private static bool TryRead(RedisValue value, out DeadLetter letter)
    {
        try
        {
            letter = DeadLetter.FromBytes((byte[])value!);
            return true;
        }
        catch (FormatException)
        {
            letter = null!;
            return false;
        }
    }
}
