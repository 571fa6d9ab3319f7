using Marie.Events.Broker.Storage;
using StackExchange.Redis;

namespace Marie.Events.Backends.Redis;

/// <summary>
/// Durable subscriptions' state in Redis, shared by every gateway of the cluster: per (key, name) one string key
/// <c>durable:{key/name}</c> under the key prefix holding the snapshot's bytes (<see cref="DurableSnapshot.ToBytes"/>),
/// hash-tagged by key and name so a cluster puts it on one slot, and the set <c>durables</c> listing those keys. A
/// gateway reads a durable again before its first stream there, so a client that moves to another gateway resumes
/// from what the last one saved.
/// </summary>
internal sealed class RedisDurableStore(IConnectionMultiplexer redis, string prefix)
{
    private IDatabase Db => redis.GetDatabase();

    private RedisKey IndexKey => prefix + "durables";

    /// <summary>The key of (key, name); the length of the key name first keeps "a/b" + "c" apart from "a" + "b/c".
    /// </summary>
    private RedisKey StateKey(string key, string name) =>
        $"{prefix}durable:{{{key.Length}/{key}/{name}}}";

    public async Task SaveAsync(DurableSnapshot snapshot)
    {
        var key = StateKey(snapshot.Key, snapshot.Name);
        await Db.StringSetAsync(key, snapshot.ToBytes()).ConfigureAwait(false);
        await Db.SetAddAsync(IndexKey, key.ToString()).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string key, string name)
    {
        var state = StateKey(key, name);
        await Db.KeyDeleteAsync(state).ConfigureAwait(false);
        await Db.SetRemoveAsync(IndexKey, state.ToString()).ConfigureAwait(false);
    }

    public async Task<DurableSnapshot?> LoadAsync(string key, string name)
    {
        var value = await Db.StringGetAsync(StateKey(key, name)).ConfigureAwait(false);
        return value.IsNull ? null : DurableSnapshot.FromBytes((byte[])value!);
    }

    public async Task<IReadOnlyList<DurableSnapshot>> LoadAllAsync()
    {
        var all = new List<DurableSnapshot>();
        foreach (var member in await Db.SetMembersAsync(IndexKey).ConfigureAwait(false))
        {
            var value = await Db.StringGetAsync((string)member!).ConfigureAwait(false);
            if (!value.IsNull)
            {
                all.Add(DurableSnapshot.FromBytes((byte[])value!));
            }
        }

        return all;
    }
}
