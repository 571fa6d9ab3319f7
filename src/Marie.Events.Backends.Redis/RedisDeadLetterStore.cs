using Marie.Events.Broker.DeadLetters;
using StackExchange.Redis;

namespace Marie.Events.Backends.Redis;

/// <summary>
/// Dead letters in Redis: one string per letter <c>dead:{&lt;key-length&gt;/&lt;key&gt;}:&lt;id&gt;</c> under the
/// key prefix holding its bytes (<see cref="DeadLetter.ToBytes"/>), the set
/// <c>dead:{&lt;key-length&gt;/&lt;key&gt;}</c> listing the key's ids, and the set <c>dead-letter-keys</c> listing
/// those sets. A key's letters and its set share one hash tag (a "}" in a key name ends the tag early, but at the
/// same place in each of them), so a cluster puts them on one slot; single-key commands only: Redis Cluster safe.
/// </summary>
internal sealed class RedisDeadLetterStore(IConnectionMultiplexer redis, string prefix)
{
    private IDatabase Db => redis.GetDatabase();

    private RedisKey IndexKey => prefix + "dead-letter-keys";

    private string SetKey(string key) => $"{prefix}dead:{{{key.Length}/{key}}}";

    private RedisKey LetterKey(string key, string id) => $"{SetKey(key)}:{id}";

    public async Task SaveAsync(DeadLetter letter)
    {
        await Db.StringSetAsync(LetterKey(letter.Key, letter.Id), letter.ToBytes()).ConfigureAwait(false);
        await Db.SetAddAsync(SetKey(letter.Key), letter.Id).ConfigureAwait(false);
        await Db.SetAddAsync(IndexKey, SetKey(letter.Key)).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string key, string id)
    {
        await Db.KeyDeleteAsync(LetterKey(key, id)).ConfigureAwait(false);
        await Db.SetRemoveAsync(SetKey(key), id).ConfigureAwait(false);
    }

    /// <summary>Every stored dead letter; one that is not readable is left out and counted in the result.</summary>
    public async Task<(List<DeadLetter> Letters, int Unreadable)> LoadAllAsync()
    {
        var all = new List<DeadLetter>();
        var unreadable = 0;
        foreach (var set in await Db.SetMembersAsync(IndexKey).ConfigureAwait(false))
        {
            var setKey = (string)set!;
            foreach (var id in await Db.SetMembersAsync(setKey).ConfigureAwait(false))
            {
                var value = await Db.StringGetAsync($"{setKey}:{(string)id!}").ConfigureAwait(false);
                if (value.IsNull)
                {
                    continue;
                }

                try
                {
                    all.Add(DeadLetter.FromBytes((byte[])value!));
                }
                catch (FormatException)
                {
                    unreadable++;
                }
            }
        }

        return (all, unreadable);
    }
}
